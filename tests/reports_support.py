"""A small fixed data set for the report tests, with every expected number worked out by hand.

Calendar: Monday to Friday 09:00-18:00 UTC. Types (``tickets_support.TYPES``): support (first
reply 4h, resolution 8h), complaint (1h, 1d = 24 business hours), idea (first reply 2d), chat
(no SLA). November 2026: the 2nd, 9th, 16th and 23rd are Mondays.

    T1 support  C1 ana  Mon 2 17:00; reply Tue 3 10:00 (1h+1h = 2h); resolved Tue 3 15:00 (7h)
    T2 support  C1 bob  Sat 7 10:00; reply Mon 9 09:30 (0.5h); pending Mon 9 10:00; customer
                        replies Tue 10 10:00 (pause 8h+1h = 9h); resolved Tue 10 12:00
                        (12h - 9h = 3h; due 8h+9h = Tue 10 17:00: met)
    T3 complaint C2 —   Wed 4 09:00; reply Wed 4 11:30 (2.5h, due 10:00: breached); resolved
                        Thu 5 09:00 (9h); reopened Mon 9 09:00 (pause Thu+Fri = 18h); resolved
                        Mon 9 11:00 (29h - 18h = 11h; due 24h+18h = Tue 10 15:00: met)
    T4 support  C1 ana  Mon 9 09:00; never answered: first reply breached at 13:00,
                        resolution breached at 17:00; still open
    T5 chat     C2 bob  Tue 10 14:00; reply 14:30 (0.5h); resolved Wed 11 10:00 (4h+1h = 5h)
    T6 idea     C3 ana  Fri 13 17:00; pending at 17:30, still (its 2d first-reply clock stopped)
    T7 support  C3 ana  Mon 16 10:00; closed at 12:00 with no reply (2h; the close stops the
                        first-reply clock in time: met)

Customers (times set directly: the customer module stamps the wall clock): C1-C3 created Sun 1,
C4 created Tue 10 and moved to the trash Tue 17, C5 created Wed 18.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import update

from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.store.schema import customers
from customer_flow.tickets.models import CommentCreate, TicketCreate
from tickets_support import OFFICE, Clock, make_hub, utc

H = 3600
SINCE = utc(2026, 11, 2)
UNTIL = utc(2026, 11, 23)
NOW = utc(2026, 11, 25, 12)


def _stamp(hub: Hub, customer_id: int, created: datetime, deleted: datetime | None = None) -> None:
    with hub.store.write() as conn:
        conn.execute(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(created_at=created, updated_at=created, deleted_at=deleted)
        )


def build(db_url: str, tmp_path: Path) -> Hub:
    """The data set above on ``db_url``; the Hub's clock ends at ``NOW``."""
    clock = Clock(utc(2026, 11, 1, 12))
    hub = make_hub(db_url, tmp_path, calendar=OFFICE, clock=clock)
    hub.add_customer(CustomerCreate(name="Bea Costa", email="bea@costa.pt", phone="+351912345678"))
    hub.add_customer(CustomerCreate(name="Caio Reis", email="caio@example.com", phone="+1 555"))
    hub.add_customer(CustomerCreate(name="Dora Lu", email="dora@lu.pt"))
    hub.add_customer(CustomerCreate(name="Eva Mar", phone="+44 20 7946 0958"))
    for cid in (1, 2, 3):
        _stamp(hub, cid, utc(2026, 11, 1, 12))
    _stamp(hub, 4, utc(2026, 11, 10, 8), deleted=utc(2026, 11, 17, 8))
    _stamp(hub, 5, utc(2026, 11, 18, 8))

    def at(*when: int) -> None:
        clock.now = utc(*when)

    def open_(customer: int, type_: str, assignee: str | None) -> int:
        return hub.open_ticket(
            TicketCreate(customer_id=customer, type=type_, subject="help", assignee=assignee)
        ).id

    reply = CommentCreate(body="on it")
    at(2026, 11, 2, 17)
    t1 = open_(1, "support", "ana")
    at(2026, 11, 3, 10)
    hub.add_comment(t1, reply)
    at(2026, 11, 3, 15)
    hub.set_ticket_status(t1, "resolved")

    at(2026, 11, 4, 9)
    t3 = open_(2, "complaint", None)
    at(2026, 11, 4, 11, 30)
    hub.add_comment(t3, reply)
    at(2026, 11, 5, 9)
    hub.set_ticket_status(t3, "resolved")

    at(2026, 11, 7, 10)
    t2 = open_(1, "support", "bob")

    at(2026, 11, 9, 9)
    hub.reopen_ticket(t3)
    t4 = open_(1, "support", "ana")
    at(2026, 11, 9, 9, 30)
    hub.add_comment(t2, reply)
    at(2026, 11, 9, 10)
    hub.set_ticket_status(t2, "pending")
    at(2026, 11, 9, 11)
    hub.set_ticket_status(t3, "resolved")

    at(2026, 11, 10, 10)
    hub.add_comment(t2, CommentCreate(body="thanks", by_customer=True))
    at(2026, 11, 10, 12)
    hub.set_ticket_status(t2, "resolved")
    at(2026, 11, 10, 14)
    t5 = open_(2, "chat", "bob")
    at(2026, 11, 10, 14, 30)
    hub.add_comment(t5, reply)
    at(2026, 11, 11, 10)
    hub.set_ticket_status(t5, "resolved")

    at(2026, 11, 13, 17)
    t6 = open_(3, "idea", "ana")
    at(2026, 11, 13, 17, 30)
    hub.set_ticket_status(t6, "pending")

    at(2026, 11, 16, 10)
    t7 = open_(3, "support", "ana")
    at(2026, 11, 16, 12)
    hub.close_ticket(t7)

    assert [t1, t3, t2, t4, t5, t6, t7] == [1, 2, 3, 4, 5, 6, 7]
    clock.now = NOW
    return hub


__all__ = ["NOW", "OFFICE", "SINCE", "UNTIL", "H", "build"]
