"""A ticket's SLA bookkeeping: its row's SLA columns, and its SLA state as of an instant.

``tickets.py`` calls ``sla_values`` whenever the pauses or the running targets change and
``to_ticket`` to read a row back; ``ticket_queue.py`` filters on the same columns in SQL. The
rules (see ``sla.py`` for the arithmetic):

- targets are scaled by the priority factor and stored when the ticket opens (or changes
  priority while they run);
- the first-response clock stops at the first public agent reply or at the resolution, the
  resolution clock at the resolution; both freeze while the ticket is pending;
- a stopped target keeps the due instant it was judged by.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from customer_flow.store import audit
from customer_flow.tickets import calendar as sla
from customer_flow.tickets.models import SlaTarget, Ticket, TicketSla, TicketType

__all__ = ["NO_DUE", "sla_values", "targets", "to_ticket"]

#: The ``queue_due_at`` of a ticket with no running SLA clock: after every real due time.
NO_DUE = datetime(9999, 12, 31, tzinfo=UTC)


def _a(value: datetime | None) -> datetime | None:
    return audit.aware(value)


def _target(
    policy: sla.SlaPolicy,
    m: Any,
    prefix: str,
    met: datetime | None,
    clock: datetime,
    detail: bool,
) -> SlaTarget:
    due, risk = _a(m[f"{prefix}_due_at"]), _a(m[f"{prefix}_risk_at"])
    target = m[f"{prefix}_target"]
    state = sla.target_state(due, risk, met, clock)
    used = remaining = None
    if detail and target is not None and met is None:
        spent = policy.calendar.between(_a(m["created_at"]), clock)  # type: ignore[arg-type]
        used = max(0, round(spent - m["paused_seconds"]))
        remaining = int(target) - used
    return SlaTarget(
        state=state,
        target_seconds=target,
        due_at=due,
        at_risk_at=risk,
        met_at=met if target is not None else None,
        used_seconds=used,
        remaining_seconds=remaining,
    )


def to_ticket(row: Any, policy: sla.SlaPolicy, now: datetime, *, detail: bool = False) -> Ticket:
    """A ticket from its row, with its SLA state as of ``now`` (the pause instant if paused).

    ``detail`` also measures the business time used, which walks the calendar: worth it for
    one ticket, not for a page of them.
    """
    m = row._mapping
    paused_at = _a(m["paused_at"])
    clock = paused_at or now
    # Resolving a ticket also stops its first-response clock: no reply is owed any more.
    fr_stop = _a(m["first_response_at"]) or _a(m["resolved_at"])
    fr = _target(policy, m, "first_response", fr_stop, clock, detail)
    res = _target(policy, m, "resolution", _a(m["resolved_at"]), clock, detail)
    # The next due time: whichever running target falls due first (issue 17; the queue's
    # "Due" column showed the resolution even when the first response was due sooner).
    nxt = min(
        (
            (t.due_at, name)
            for name, t in (("first_response", fr), ("resolution", res))
            if t.due_at is not None and t.met_at is None and t.target_seconds is not None
        ),
        default=None,
    )
    return Ticket(
        id=m["id"],
        customer_id=m["customer_id"],
        type=m["type_key"],
        subject=m["subject"],
        description=m["description"],
        priority=m["priority"],
        status=m["status"],
        tags=m["tags"] or [],
        assignee=m["assignee"],
        team=m["team"],
        fields=m["fields"] or {},
        created_at=_a(m["created_at"]),
        updated_at=_a(m["updated_at"]),
        first_response_at=_a(m["first_response_at"]),
        resolved_at=_a(m["resolved_at"]),
        closed_at=_a(m["closed_at"]),
        paused_at=paused_at,
        reopened_count=m["reopened_count"],
        sla=TicketSla(
            state=sla.overall_state(fr.state, res.state),
            paused=paused_at is not None,
            paused_seconds=int(m["paused_seconds"]),
            first_response=fr,
            resolution=res,
            next_due_at=nxt[0] if nxt else None,
            next_due=nxt[1] if nxt else None,
        ),
        customer_name=m.get("customer_name"),
    )


def sla_values(
    policy: sla.SlaPolicy, state: dict[str, Any], recompute: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Due and at-risk instants of the live targets, from the row's current values.

    A target already met keeps the instants it was judged by: a later pause must not turn a
    late first response into a timely one.
    """
    cal, share = policy.calendar, policy.at_risk_share
    created, paused = _a(state["created_at"]), state["paused_seconds"]
    out: dict[str, Any] = {}
    fr_stop = state["first_response_at"] or state["resolved_at"]
    for prefix, met in (("first_response", fr_stop), ("resolution", state["resolved_at"])):
        if met is None or prefix in recompute:
            target = state[f"{prefix}_target"]
            out[f"{prefix}_due_at"] = sla.due_at(cal, created, target, paused)  # type: ignore[arg-type]
            out[f"{prefix}_risk_at"] = sla.risk_at(cal, created, target, paused, share)  # type: ignore[arg-type]
        else:
            out[f"{prefix}_due_at"] = state[f"{prefix}_due_at"]
            out[f"{prefix}_risk_at"] = state[f"{prefix}_risk_at"]
    live = []
    if fr_stop is None and out["first_response_due_at"] is not None:
        live.append(out["first_response_due_at"])
    if state["resolved_at"] is None and out["resolution_due_at"] is not None:
        live.append(out["resolution_due_at"])
    # A paused clock has nothing falling due: pending tickets sort after running ones, and
    # every running, unbreached ticket has queue_due_at >= now (the queue relies on it).
    out["queue_due_at"] = min(live) if live and state["paused_at"] is None else NO_DUE
    return out


def targets(policy: sla.SlaPolicy, ttype: TicketType, priority: str) -> dict[str, int | None]:
    factor = policy.factor(priority)
    return {
        "first_response_target": sla.scaled_target(ttype.sla.get("first_response"), factor),
        "resolution_target": sla.scaled_target(ttype.sla.get("resolution"), factor),
    }
