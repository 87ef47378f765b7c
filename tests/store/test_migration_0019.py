"""Migration 0019 (the queue's rank columns) on real SQLite and PostgreSQL: tickets written
before it get their ranks as it is applied, down and up again, and the schema as declared."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from conftest import migrate
from customer_flow.tickets.models import TicketCreate
from schema_support import schema_diff
from tickets_support import make_hub

STATUS = {"new": 0, "open": 1, "pending": 2, "resolved": 3, "closed": 4}
PRIORITY = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
RANKED = ("status_rank", "priority_rank", "assignee_key")


def test_existing_tickets_get_their_ranks(db_url: str, tmp_path: Path) -> None:
    hub = make_hub(db_url, tmp_path)
    for priority, assignee in [("urgent", "ana"), ("low", None), ("high", "bo")]:
        new = {"customer_id": 1, "type": "support", "subject": "s", "priority": priority,
               "assignee": assignee}  # fmt: skip
        hub.open_ticket(TicketCreate.model_validate(new))
    hub.set_ticket_status(2, "pending")
    hub.close_ticket(3)
    hub.close()
    engine = create_engine(db_url)
    try:
        migrate(engine, "0018", down=True)
        assert not set(RANKED) & {c["name"] for c in inspect(engine).get_columns("tickets")}
        if engine.dialect.name == "sqlite":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))  # a database with statistics keeps them whole
        migrate(engine, "head")
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT status, priority, coalesce(assignee, ''), status_rank, "
                    "priority_rank, assignee_key FROM tickets ORDER BY id"
                )
            ).all()
            assert [(STATUS[s], PRIORITY[p], a) for s, p, a, *_ in rows] == [
                tuple(r[3:]) for r in rows
            ]
            assert {"pending", "closed", "new"} == {r[0] for r in rows}
            assert [] == schema_diff(conn)
            if engine.dialect.name == "sqlite":
                analysed = {
                    r[0]
                    for r in conn.execute(
                        text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'tickets'")
                    )
                }
                assert {f"ix_tickets_is_open_{name}_id" for name in RANKED} <= analysed
            else:
                assert conn.execute(
                    text("SELECT 1 FROM pg_statistic_ext WHERE stxname = :n"),
                    {"n": "st_tickets_is_open_queue_due_at"},
                ).first()
    finally:
        engine.dispose()
