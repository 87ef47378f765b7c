"""Migration 0015 (agents are users) on real SQLite and PostgreSQL: each free-text assignee that
matches a user's email or name becomes that user; the others are kept in a report (a table,
the log, ``Hub.unmatched_assignees``) and never dropped; the column is then a foreign key; and
a downgrade puts the unmatched values back."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError

from conftest import migrate
from customer_flow.hub import Hub

_STAMP = "2026-11-02 10:00:00"
#: (email, name) of the users before the migration.
USERS = [
    ("Ana@Team.pt", "Ana Lima"),
    ("bo@team.pt", "Bo"),
    ("rui.a@team.pt", "Rui"),
    ("rui.b@team.pt", "Rui"),
]
#: ticket ID → the free-text assignee it had, and what it should hold after.
ASSIGNEES = {
    1: ("ana@team.pt", "ana@team.pt"),
    2: ("  ANA   lima ", "ana@team.pt"),
    3: ("bo", "bo@team.pt"),
    4: ("Rui", None),
    5: ("zed", None),
    6: (None, None),
}


def _fill(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, name, extra, warnings, warning_count, created_at, "
                "updated_at) VALUES (1, 'Ana', '{}', '[]', 0, :s, :s)"
            ),
            {"s": _STAMP},
        )
        conn.execute(
            text(
                "INSERT INTO ticket_types (key, name, description, default_priority, sla, "
                "fields, active, updated_at) VALUES ('support', 'S', '', 'normal', '{}', '{}', "
                ":t, :s)"
            ),
            {"s": _STAMP, "t": True},
        )
        for email, name in USERS:
            conn.execute(
                text(
                    "INSERT INTO users (email, email_key, name, role, password_hash, active, "
                    "created_at, updated_at) VALUES (:e, :k, :n, 'agent', '-', :t, :s, :s)"
                ),
                {"e": email, "k": email.lower(), "n": name, "s": _STAMP, "t": True},
            )
        for tid, (before, _) in ASSIGNEES.items():
            conn.execute(
                text(
                    "INSERT INTO tickets (id, customer_id, type_key, subject, description, "
                    "priority, status, is_open, tags, assignee, fields, created_at, updated_at,"
                    " paused_seconds, reopened_count, queue_due_at) VALUES (:i, 1, 'support', "
                    "'s', '', 'normal', 'open', :t, '[]', :a, '{}', :s, :s, 0, 0, :s)"
                ),
                {"i": tid, "a": before, "s": _STAMP, "t": True},
            )
        if conn.dialect.name == "postgresql":  # as the app's own inserts would have left it
            conn.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), 6)"))
        conn.execute(
            text(
                "INSERT INTO report_days (dim, day, key, opened, reopened, resolved_once, "
                "resolved, resolutions, bar_0, bar_1, bar_2, bar_3, bar_4, bar_5, replies, "
                "fr_met, fr_breached, res_met, res_breached) VALUES ('assignee', '2026-11-02', "
                "'zed', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
            )
        )


def _assignees(engine: Engine) -> dict[int, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, assignee FROM tickets ORDER BY id")).all())  # type: ignore[arg-type]


def test_free_text_assignees_become_users_and_the_rest_are_reported(
    empty_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """By email in any case, by a name only one user has; an ambiguous or unknown value is
    taken off its ticket, kept with a reason, logged, and its report days recounted."""
    engine = create_engine(empty_url)
    try:
        migrate(engine, "0014")
        _fill(engine)
        with caplog.at_level(logging.WARNING, logger="customer_flow.migrations"):
            migrate(engine, "head")
        assert {t: after for t, (_, after) in ASSIGNEES.items()} == _assignees(engine)
        logged = [r.getMessage() for r in caplog.records]
        assert any("'zed' on 1 ticket(s) matches no user" in m for m in logged)
        assert any("'Rui' on 1 ticket(s)" in m and "2 users have this name" in m for m in logged)
        with engine.connect() as conn:
            dirty = conn.execute(text("SELECT day FROM report_dirty")).scalars().all()
            assert ["2026-11-02"] == [str(d)[:10] for d in dirty]
        with Hub.open(empty_url, actor="t") as hub:
            report = [(u.ticket_id, u.assignee, u.reason) for u in hub.unmatched_assignees()]
        assert [
            (4, "Rui", "2 users have this name"),
            (5, "zed", "no user has this email or name"),
        ] == report
        migrate(engine, "0014", down=True)
        back = _assignees(engine)
        assert (back[4], back[5], back[1]) == ("Rui", "zed", "ana@team.pt")
    finally:
        engine.dispose()


def test_the_assignee_is_a_foreign_key_and_ticket_ids_still_never_repeat(empty_url: str) -> None:
    """After the migration an assignee that is no user cannot be stored; on SQLite the column
    swap kept the AUTOINCREMENT sequence, so a purged highest ID is not issued again."""
    engine = create_engine(empty_url)
    try:
        migrate(engine, "0014")
        _fill(engine)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM tickets WHERE id = 6"))
        migrate(engine, "head")
    finally:
        engine.dispose()
    with Hub.open(empty_url, actor="t") as hub:
        with pytest.raises(IntegrityError), hub.store.write() as conn:
            conn.execute(text("UPDATE tickets SET assignee = 'nobody@x.pt' WHERE id = 1"))
        from customer_flow.tickets.models import TicketCreate

        t = hub.open_ticket(
            TicketCreate(customer_id=1, type="support", subject="new", assignee="Bo")
        )
        assert (7, "bo@team.pt") == (t.id, t.assignee)
