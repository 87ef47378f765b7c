"""Ticket types: read and check ``ticket_types.json``, and sync it into the database.

The file maps a key to a name (``{"billing": "Billing question"}``) or to a full definition
with a description, a default priority, SLA targets and extra fields. A JSON Schema shipped in
the package checks it, and every error names the file, the JSON path and what is wrong::

    ticket_types.json: $.billing.sla.first_response: expected a duration like "4h", got true

Syncing never deletes a type: one missing from the file is deactivated, so tickets that use it
stay readable and its history stays whole.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from customer_flow.core.errors import ConfigError, NotFoundError
from customer_flow.core.text import describe, find_control
from customer_flow.store import audit
from customer_flow.store.schema import ticket_types
from customer_flow.tickets.models import TicketType, TicketTypeSync

if TYPE_CHECKING:  # jsonschema is imported by the first check: listing tickets needs none
    from jsonschema import Draft202012Validator
    from jsonschema import ValidationError as SchemaError

__all__ = [
    "MAX_FILE_BYTES",
    "document_schema",
    "get",
    "list_types",
    "parse_duration",
    "read_file",
    "sync",
]

ENTITY = "ticket_type"
MAX_FILE_BYTES = 1_000_000
_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60}
_DURATION_PART = re.compile(r"([0-9]+)\s*([wdhm])")


def parse_duration(text: str) -> int:
    """``"1d 4h"`` → 100800 seconds. The schema has checked the form already."""
    return sum(int(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))


def format_duration(seconds: int) -> str:
    """100800 → ``"1d 4h"``: the inverse of ``parse_duration`` for display."""
    parts = []
    for unit, size in _UNITS.items():
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0m"


def _schema() -> dict[str, Any]:
    text = (resources.files(__package__) / "ticket_types.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


def document_schema() -> dict[str, Any]:
    """The schema of a ticket_types.json with its ``$ref``s written out, to be embedded where
    they would not resolve (the API's OpenAPI spec)."""
    schema = _schema()
    defs = schema.pop("$defs")
    for key in ("$schema", "$id"):
        schema.pop(key)

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


def _got(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def _explain(error: SchemaError) -> tuple[str, str]:
    """The JSON path and a plain sentence for one schema error."""
    path = error.json_path
    kind = error.schema.get("x-kind") if isinstance(error.schema, dict) else None
    if kind == "duration":
        return path, f'expected a duration like "4h", got {_got(error.instance)}'
    if kind in ("type-key", "field-key"):
        what = "a field key" if kind == "field-key" else "a ticket type key"
        return path, f"{_got(error.instance)} is not {what}: use lower-case letters, digits, _ or -"
    if error.validator == "additionalProperties":
        schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
        known = schema.get("properties", {})
        instance: dict[str, Any] = error.instance if isinstance(error.instance, dict) else {}
        allowed = ", ".join(sorted(known))
        unknown = sorted(set(instance) - set(known))
        return f"{path}.{unknown[0]}" if unknown else path, f"unknown key; allowed: {allowed}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path, f"missing required key {missing!r}"
    if error.validator == "enum":
        options = ", ".join(map(str, error.validator_value))  # type: ignore[arg-type]
        return path, f"expected one of {options}, got {_got(error.instance)}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return path, f"expected {expected}, got {_got(error.instance)}"
    if error.validator == "minProperties" and path == "$":
        return path, "defines no ticket types"
    return path, error.message


def check(document: Any, source: str = "ticket_types.json") -> dict[str, TicketType]:
    """Check a parsed document against the schema and return the types it defines.

    Raises ``ConfigError`` whose message is the first problem and whose ``problems`` lists all.
    """
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        problems = []
        for err in errors:
            # if/then/else wrappers repeat the inner error; report the inner one only.
            if err.validator in ("if", "then", "else"):
                continue
            path, why = _explain(err)
            problems.append(f"{source}: {path}: {why}")
        problems = list(dict.fromkeys(problems)) or [f"{source}: {errors[0].message}"]
        exc = ConfigError(problems[0], code="ticket_types_invalid")
        exc.problems = problems  # type: ignore[attr-defined]
        raise exc
    # A NUL cannot be stored on PostgreSQL; no control character belongs in a type (issue 15).
    hit = find_control(document)
    if hit is not None:
        raise ConfigError(f"{source}: {describe(*hit)}", code="control_character")
    types: dict[str, TicketType] = {}
    for key, spec in document.items():
        if isinstance(spec, str):
            types[key] = TicketType(key=key, name=spec.strip())
            continue
        sla = {k: parse_duration(v) for k, v in spec.get("sla", {}).items()}
        types[key] = TicketType(
            key=key,
            name=spec["name"].strip(),
            description=spec.get("description", ""),
            default_priority=spec.get("default_priority", "normal"),
            sla=sla,
            fields=spec.get("fields", {}),
            active=spec.get("active", True),
            default_team=spec.get("default_team"),
        )
    return types


def read_file(path: Path) -> dict[str, TicketType]:
    """Read and check a ticket_types.json; any problem raises ``ConfigError`` naming the file."""
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{name}: the file is {size / 1e6:.1f} MB; "
                f"the limit is {MAX_FILE_BYTES // 10**6} MB",
                code="ticket_types_too_large",
            )
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file", code="file_not_found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a folder, not a file", code="file_not_found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", code="file_unreadable") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text", code="ticket_types_not_json") from exc
    if not text.strip():
        raise ConfigError(f"{name}: the file is empty", code="ticket_types_empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{name}: line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}",
            code="ticket_types_not_json",
        ) from exc
    return check(document, name)


# -- the database side ---------------------------------------------------------------------


def _row_to_type(row: Any) -> TicketType:
    m = row._mapping
    return TicketType(
        key=m["key"],
        name=m["name"],
        description=m["description"],
        default_priority=m["default_priority"],
        sla=m["sla"] or {},
        fields=m["fields"] or {},
        active=m["active"],
        default_team=m["default_team"],
    )


def list_types(conn: Connection, *, include_inactive: bool = False) -> list[TicketType]:
    stmt = select(ticket_types).order_by(ticket_types.c.key)
    if not include_inactive:
        stmt = stmt.where(ticket_types.c.active.is_(True))
    return [_row_to_type(r) for r in conn.execute(stmt)]


def get(conn: Connection, key: str) -> TicketType:
    row = conn.execute(select(ticket_types).where(ticket_types.c.key == key)).first()
    if row is None:
        raise NotFoundError(f"no ticket type {key!r}", field="type", code="ticket_type_not_found")
    return _row_to_type(row)


def sync(conn: Connection, wanted: dict[str, TicketType], *, actor: str) -> TicketTypeSync:
    """Make the stored types match ``wanted``; types missing from it are deactivated."""
    report = TicketTypeSync()
    stored = {t.key: t for t in list_types(conn, include_inactive=True)}
    stamp = audit.now()
    for key, new in wanted.items():
        old = stored.get(key)
        values = new.model_dump(exclude={"key"})
        if old is None:
            conn.execute(ticket_types.insert().values(key=key, updated_at=stamp, **values))
            report.created.append(key)
        elif old == new:
            report.unchanged.append(key)
            continue
        else:
            conn.execute(
                update(ticket_types)
                .where(ticket_types.c.key == key)
                .values(updated_at=stamp, **values)
            )
            report.updated.append(key)
        audit.record(
            conn,
            actor=actor,
            action="create" if old is None else "update",
            entity=ENTITY,
            entity_id=key,
            before=old.model_dump() if old else None,
            after=new.model_dump(),
            at=stamp,
        )
    for key, old in stored.items():
        if key not in wanted and old.active:
            conn.execute(
                update(ticket_types)
                .where(ticket_types.c.key == key)
                .values(active=False, updated_at=stamp)
            )
            audit.record(
                conn,
                actor=actor,
                action="deactivate",
                entity=ENTITY,
                entity_id=key,
                before=old.model_dump(),
                after={**old.model_dump(), "active": False},
                note="missing from the loaded file",
                at=stamp,
            )
            report.deactivated.append(key)
    return report
