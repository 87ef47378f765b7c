"""People-readable history: an audit entry as the pages and the CLI show it (issue 17).

The audit log stores each record's snapshot before and after a change, with the column names
and the JSON values the code uses. A page shows what a person reads instead: a labelled change
per field ("Status: open → pending", "Clock paused"), times to the minute with the full value
on hover, dictionaries and lists as plain text, and nothing of the bookkeeping (pause seconds,
SLA instants, internal counters). ``changes`` is registered as a template global, and
``tickets history`` prints the same labels. Times are shown in a time zone the caller gives
(the user's; UTC by default): ``local``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from customer_flow.core.models import AuditEntry

__all__ = ["ACTIONS", "Change", "action_label", "changes", "local", "show"]

#: What each audit action is called on a page.
ACTIONS = {
    "create": "Created",
    "update": "Edited",
    "assign": "Assigned",
    "status": "Status changed",
    "reopen": "Reopened",
    "comment": "Public reply",
    "note": "Internal note",
    "first_response": "First response",
    "purge": "Purged",
    "move": "Moved to another customer",
    "delete": "Moved to the trash",
    "restore": "Restored",
    "merge": "Merged",
    "unmerge": "Unmerged",
    "import": "Imported",
    "revert": "Import reverted",
}
#: Field labels; a field not listed here and not hidden is shown with its name tidied.
LABELS = {
    "status": "Status",
    "priority": "Priority",
    "assignee": "Agent",
    "team": "Team",
    "subject": "Subject",
    "description": "Description",
    "tags": "Tags",
    "type": "Type",
    "customer_id": "Customer",
    "first_response_at": "First response",
    "resolved_at": "Resolved",
    "closed_at": "Closed",
    "reopened_count": "Times reopened",
    "first_response_due_at": "First reply due",
    "resolution_due_at": "Resolution due",
    "name": "Name",
    "email": "Email",
    "phone": "Phone",
    "merged_into": "Merged into",
}
#: Bookkeeping that never reaches a page: its effect shows elsewhere (a pause, a due time).
HIDDEN = {
    "id",
    "sla",
    "is_open",
    "paused_seconds",
    "first_response_paused_seconds",
    "queue_due_at",
    "first_response_target",
    "resolution_target",
    "first_response_risk_at",
    "resolution_risk_at",
    "first_response_seconds",
    "resolution_seconds",
    "updated_at",
    "created_at",
    "warnings",
    "warning_count",
    "email_key",
    "ticket_id",
    "public",
    "by_customer",
}


@dataclass(frozen=True)
class Change:
    """One line of an entry: ``label: before → after``, or a ``label`` alone (an event)."""

    label: str
    before: str | None = None
    after: str | None = None
    #: The full values, for the hover text of times.
    before_full: str | None = None
    after_full: str | None = None


def _time(value: str) -> datetime | None:
    if not isinstance(value, str) or len(value) < 16 or value[4:5] != "-" or "T" not in value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def local(when: datetime, zone: tzinfo | None = None) -> str:
    """An instant to the minute in ``zone`` (UTC by default), with the zone's abbreviation:
    ``2026-12-06 10:05 WET``. A naive time is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    shown = when.astimezone(zone or UTC)
    name = shown.strftime("%Z") or "UTC"
    return f"{shown.strftime('%Y-%m-%d %H:%M')} {name}"


def show(value: Any, zone: tzinfo | None = None) -> str:
    """A stored value as text: a time to the minute in ``zone`` (UTC by default), a dict as
    ``key: value`` pairs, a list joined by commas, a boolean as yes or no, nothing as a
    dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{_tidy(str(k))}: {show(v, zone)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(show(v, zone) for v in value)
    when = _time(value) if isinstance(value, str) else None
    if when is not None:
        if when.utcoffset() is None:  # a date-time written without a zone: as it was typed
            return when.strftime("%Y-%m-%d %H:%M")
        return local(when, zone)
    return str(value)


def _full(value: Any) -> str | None:
    return value if isinstance(value, str) and _time(value) is not None else None


def _tidy(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def action_label(action: str) -> str:
    return ACTIONS.get(action, action.replace("_", " ").capitalize())


def changes(
    entry: AuditEntry, skip: tuple[str, ...] = (), zone: tzinfo | None = None
) -> list[Change]:
    """The labelled changes of one entry, in a stable order: pauses as events, extra fields
    one per line, a comment as its author and first words."""
    before: dict[str, Any] = entry.before or {}
    after: dict[str, Any] = entry.after or {}
    if entry.action in ("comment", "note") and "body" in after:
        body = str(after["body"])
        words = body if len(body) <= 120 else body[:117] + "…"
        return [Change(label=f"By {after.get('author') or entry.actor}", after=words)]
    out: list[Change] = []
    keys = list(dict.fromkeys([*before, *after]))
    for key in keys:
        if key in HIDDEN or key in skip:
            continue
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "paused_at":
            out.append(Change(label="Clock paused" if new else "Clock resumed"))
            continue
        if (
            key in ("fields", "extra")
            and isinstance(old or {}, dict)
            and isinstance(new or {}, dict)
        ):
            for name in dict.fromkeys([*(old or {}), *(new or {})]):
                a, b = (old or {}).get(name), (new or {}).get(name)
                if a != b:
                    out.append(
                        Change(label=_tidy(str(name)), before=show(a, zone), after=show(b, zone))
                    )
            continue
        out.append(
            Change(
                label=_tidy(key),
                before=show(old, zone),
                after=show(new, zone),
                before_full=_full(old),
                after_full=_full(new),
            )
        )
    return out
