"""Merging duplicate customers, with an exact undo, and remembering "not a duplicate".

A merge folds customers into one survivor. Per field (name, email, phone and each extra
attribute) the survivor takes the most recently updated non-empty value, unless the user chose
the record to take it from. The others go to the trash with ``merged_into`` pointing at the
survivor. Whatever else points at a customer (tickets, ...) is moved by *re-pointers* that other
modules register here, once, at import::

    merging.register_repointer("tickets", move=move_tickets, move_back=move_tickets_back)

``move(conn, from_id, to_id, actor)`` returns what it moved (JSON-able, e.g. ticket IDs);
``move_back(conn, moved, from_id, actor)`` puts exactly those back. Each merge is stored with
the raw rows from before it, so ``unmerge`` restores them exactly; it refuses when a record was
changed since, naming the record and the reason, because silently dropping that change would lose
data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from customer_flow.core.errors import ConflictError, NotFoundError, StateError, ValidationError
from customer_flow.core.lazy import lazy
from customer_flow.core.models import RecordWarning
from customer_flow.customers.extra import check_count
from customer_flow.customers.models import Customer
from customer_flow.customers.records import ENTITY, get
from customer_flow.duplicates.models import Merge, MergeResult
from customer_flow.store import audit
from customer_flow.store.schema import customers, duplicate_dismissals, merges

if TYPE_CHECKING:
    from customer_flow.duplicates import find as dedupe
else:  # Polars: tickets import this module to register their re-pointer, and need none of it
    dedupe = lazy("customer_flow.duplicates.find")

__all__ = [
    "MERGE_FIELDS",
    "Repointer",
    "dismiss",
    "folded_into",
    "get_merge",
    "list_merges",
    "merge",
    "refresh_duplicate_warnings",
    "register_repointer",
    "unmerge",
]

MERGE_FIELDS = ("name", "email", "phone")
_TIMES = ("created_at", "updated_at", "deleted_at")


@dataclass(frozen=True)
class Repointer:
    """Moves one kind of record (tickets, ...) from a merged customer to the survivor."""

    name: str
    move: Callable[[Connection, int, int, str], list[Any]]
    move_back: Callable[[Connection, list[Any], int, str], None]


_REPOINTERS: dict[str, Repointer] = {}


def register_repointer(
    name: str,
    move: Callable[[Connection, int, int, str], list[Any]],
    move_back: Callable[[Connection, list[Any], int, str], None],
) -> None:
    """Register what a merge must move; registering a name again replaces it."""
    _REPOINTERS[name] = Repointer(name, move, move_back)


def _raw(conn: Connection, customer_id: int) -> dict[str, Any]:
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).first()
    if row is None:
        get(conn, customer_id)  # the NotFoundError with its "was purged" detail
        raise NotFoundError(f"no customer with ID {customer_id}", field="id")
    out = dict(row._mapping)
    for key in _TIMES:
        value = audit.aware(out[key])
        out[key] = value.isoformat() if value else None
    return out


def _unraw(raw: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in raw.items() if k != "id"}
    for key in _TIMES:
        if values[key] is not None:
            values[key] = datetime.fromisoformat(values[key])
    return values


def _snapshot(customer: Customer) -> dict[str, Any]:
    return customer.model_dump(mode="json", exclude={"created_at", "updated_at"})


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {}


def merge(
    conn: Connection,
    keep_id: int,
    other_ids: Sequence[int],
    *,
    take: dict[str, int] | None = None,
    actor: str,
) -> MergeResult:
    """Fold ``other_ids`` into ``keep_id``; ``take`` maps a field to the customer to take it from
    (``name``, ``email``, ``phone`` or ``extra.KEY``)."""
    take = dict(take or {})
    others = list(dict.fromkeys(other_ids))
    if not others:
        raise ValidationError(
            "give at least one customer to merge into the one kept", code="no_others"
        )
    if keep_id in others:
        raise ValidationError(
            f"customer {keep_id} cannot be merged with itself", field="other", code="merge_self"
        )
    ids = [keep_id, *others]
    raws = {i: _raw(conn, i) for i in ids}
    for i in ids:
        if raws[i]["deleted_at"] is not None:
            raise StateError(
                f"customer {i} is in the trash: restore it before you merge it",
                code="customer_in_trash",
            )
    for fname, source in take.items():
        known = fname in MERGE_FIELDS or (fname.startswith("extra.") and len(fname) > 6)
        if not known:
            raise ValidationError(
                f"take: {fname!r} is not a field (name, email, phone or extra.KEY)",
                field="take",
                code="bad_field",
            )
        if source not in ids:
            raise ValidationError(
                f"take: {fname}={source}: customer {source} is not part of this merge",
                field="take",
                code="bad_source",
            )
    # Most recently updated first; the survivor wins ties.
    order = sorted(ids, key=lambda i: (raws[i]["updated_at"], i == keep_id), reverse=True)
    before = {i: to_customer_from_raw(raws[i]) for i in ids}
    chosen: dict[str, int] = {}
    values: dict[str, Any] = {}
    for fname in MERGE_FIELDS:
        src = take.get(fname) or next((i for i in order if not _empty(raws[i][fname])), keep_id)
        chosen[fname] = src
        values[fname] = raws[src][fname]
    extra: dict[str, Any] = {}
    keys = dict.fromkeys(k for i in ids for k in (raws[i]["extra"] or {}))
    for key in keys:
        src = take.get(f"extra.{key}") or next(
            (i for i in order if not _empty((raws[i]["extra"] or {}).get(key))), keep_id
        )
        value = (raws[src]["extra"] or {}).get(key)
        if not _empty(value):
            extra[key] = value
            chosen[f"extra.{key}"] = src
    check_count(len(extra), had=max(len(raws[i]["extra"] or {}) for i in ids))
    warnings = [
        w
        for w in before[keep_id].warnings
        if w.field not in MERGE_FIELDS and w.code != dedupe.DUPLICATE_WARNING
    ]
    for fname in MERGE_FIELDS:
        warnings += [w for w in before[chosen[fname]].warnings if w.field == fname]
    stamp = audit.now()
    # The others leave first, so the survivor may take an email that one of them holds.
    for i in others:
        conn.execute(
            update(customers)
            .where(customers.c.id == i)
            .values(deleted_at=stamp, updated_at=stamp, merged_into=keep_id)
        )
    conn.execute(
        update(customers)
        .where(customers.c.id == keep_id)
        .values(
            **values,
            email_key=values["email"].lower() if values["email"] else None,
            extra=extra,
            warnings=[w.model_dump() for w in warnings],
            warning_count=len(warnings),
            updated_at=stamp,
        )
    )
    moved: dict[str, dict[str, list[Any]]] = {}
    for pointer in _REPOINTERS.values():
        for i in others:
            items = pointer.move(conn, i, keep_id, actor)
            if items:
                moved.setdefault(pointer.name, {})[str(i)] = items
    merge_id = conn.execute(
        insert(merges)
        .values(
            at=stamp,
            actor=actor,
            survivor_id=keep_id,
            merged_ids=others,
            before={"rows": [raws[i] for i in ids], "fields": chosen},
            after=_raw(conn, keep_id),
            moved=moved,
        )
        .returning(merges.c.id)
    ).scalar_one()
    dedupe.index_customers(conn, [get(conn, i) for i in ids])
    survivor = refresh_duplicate_warnings(conn, keep_id, allow=True)
    conn.execute(update(merges).where(merges.c.id == merge_id).values(after=_raw(conn, keep_id)))
    note = f"merge {merge_id}: {', '.join(map(str, others))} merged into {keep_id}"
    audit.record(
        conn,
        actor=actor,
        action="merge",
        entity=ENTITY,
        entity_id=keep_id,
        before=_snapshot(before[keep_id]),
        after=_snapshot(survivor),
        note=note,
        at=stamp,
    )
    after_others = []
    for i in others:
        now_other = get(conn, i)
        after_others.append(now_other)
        audit.record(
            conn,
            actor=actor,
            action="merge",
            entity=ENTITY,
            entity_id=i,
            before=_snapshot(before[i]),
            after={**_snapshot(now_other), "merged_into": keep_id},
            note=note,
            at=stamp,
        )
    return MergeResult(merge=get_merge(conn, merge_id), survivor=survivor, others=after_others)


def to_customer_from_raw(raw: dict[str, Any]) -> Customer:
    return Customer.model_validate(
        {**raw, "warnings": [RecordWarning.model_validate(w) for w in raw["warnings"] or []]}
    )


def _to_merge(row: Any) -> Merge:
    m = row._mapping
    return Merge(
        id=m["id"],
        at=audit.aware(m["at"]),
        actor=m["actor"],
        survivor_id=m["survivor_id"],
        merged_ids=list(m["merged_ids"]),
        fields=dict((m["before"] or {}).get("fields", {})),
        moved=m["moved"] or {},
        undone_at=audit.aware(m["undone_at"]),
        undone_by=m["undone_by"],
    )


def get_merge(conn: Connection, merge_id: int) -> Merge:
    row = conn.execute(select(merges).where(merges.c.id == merge_id)).first()
    if row is None:
        raise NotFoundError(f"no merge with number {merge_id}", field="merge")
    return _to_merge(row)


def list_merges(conn: Connection, customer_id: int | None = None) -> list[Merge]:
    """Every merge, newest first; with ``customer_id``, those where it is the survivor."""
    stmt = select(merges).order_by(merges.c.id.desc())
    if customer_id is not None:
        stmt = stmt.where(merges.c.survivor_id == customer_id)
    return [_to_merge(r) for r in conn.execute(stmt)]


def _same(raw_now: dict[str, Any], raw_then: dict[str, Any]) -> bool:
    def value(raw: dict[str, Any], key: str) -> Any:
        v = raw[key]
        return datetime.fromisoformat(v) if key in _TIMES and v is not None else v

    keys = ("name", "email", "phone", "extra", "deleted_at", "updated_at", "merged_into")
    return all(value(raw_now, k) == value(raw_then, k) for k in keys)


def unmerge(conn: Connection, merge_id: int, *, actor: str) -> MergeResult:
    """Put every record of a merge back exactly as it was; refuse if one changed since."""
    row = conn.execute(select(merges).where(merges.c.id == merge_id)).first()
    if row is None:
        raise NotFoundError(f"no merge with number {merge_id}", field="merge")
    m = row._mapping
    if m["undone_at"] is not None:
        raise StateError(f"merge {merge_id} was already undone", code="merge_undone")
    keep_id = m["survivor_id"]
    then = {r["id"]: r for r in m["before"]["rows"]}
    for i in then:
        try:
            now = _raw(conn, i)
        except NotFoundError as exc:
            raise StateError(
                f"cannot unmerge {merge_id}: customer {i} was purged since", code="merge_changed"
            ) from exc
        if i == keep_id:
            expected = m["after"]
        else:
            expected = {**then[i], "deleted_at": m["after"]["updated_at"], "merged_into": keep_id}
            expected["updated_at"] = m["after"]["updated_at"]
        if not _same(now, expected):
            raise StateError(
                f"cannot unmerge {merge_id}: customer {i} was changed after the merge "
                f"(last change {now['updated_at']}); undoing it would lose that change",
                code="merge_changed",
            )
    for i, raw in then.items():
        email = raw["email"]
        if email is None:
            continue
        clash = conn.execute(
            select(customers.c.id).where(
                customers.c.email_key == email.lower(),
                customers.c.deleted_at.is_(None),
                customers.c.id.not_in(list(then)),
            )
        ).first()
        if clash is not None:
            raise ConflictError(
                f"cannot unmerge {merge_id}: email {email} of customer {i} is now used by "
                f"customer {clash.id}",
                field="email",
                code="email_taken",
            )
    current = {i: get(conn, i) for i in then}
    # The survivor first, so that it gives back any email it took from another.
    for i in sorted(then, key=lambda x: x != keep_id):
        conn.execute(update(customers).where(customers.c.id == i).values(**_unraw(then[i])))
    for name, per_customer in (m["moved"] or {}).items():
        pointer = _REPOINTERS.get(name)
        if pointer is None:
            raise StateError(
                f"cannot unmerge {merge_id}: nothing is registered to move {name} back",
                code="no_repointer",
            )
        for from_id, items in per_customer.items():
            pointer.move_back(conn, items, int(from_id), actor)
    stamp = audit.now()
    conn.execute(
        update(merges).where(merges.c.id == merge_id).values(undone_at=stamp, undone_by=actor)
    )
    restored = {i: get(conn, i) for i in then}
    dedupe.index_customers(conn, list(restored.values()))
    for i in then:
        audit.record(
            conn,
            actor=actor,
            action="unmerge",
            entity=ENTITY,
            entity_id=i,
            before=_snapshot(current[i]),
            after=_snapshot(restored[i]),
            note=f"merge {merge_id} undone",
            at=stamp,
        )
    return MergeResult(
        merge=get_merge(conn, merge_id),
        survivor=restored[keep_id],
        others=[restored[i] for i in then if i != keep_id],
    )


def folded_into(conn: Connection, customer_id: int) -> list[int]:
    """The customers merged into this one, directly or through an earlier merge."""
    found: list[int] = []
    frontier = [customer_id]
    while frontier:
        rows = conn.execute(
            select(customers.c.id).where(
                customers.c.merged_into.in_(frontier), customers.c.deleted_at.is_not(None)
            )
        )
        frontier = [r.id for r in rows if r.id not in found and r.id != customer_id]
        found += frontier
    return found


def refresh_duplicate_warnings(conn: Connection, customer_id: int, *, allow: bool) -> Customer:
    """Re-check one live customer against the others and keep its duplicate warnings current.

    Without ``allow``, a customer that looks like another raises ``DuplicateError``.
    """
    from customer_flow.core.errors import DuplicateError

    current = get(conn, customer_id)
    found = []
    if not current.in_trash:
        found = dedupe.entry_candidates(
            conn, current.name, current.email, current.phone, current.extra, exclude_id=customer_id
        )
    if found and not allow:
        listed = "; ".join(
            f"customer {c.id} ({c.name}), probability {c.probability or 0:.3f}: "
            f"{', '.join(c.reasons)}"
            for c in found
        )
        raise DuplicateError(
            f"possible duplicate of {listed}",
            candidates=list(found),
        )
    kept = [w for w in current.warnings if w.code != dedupe.DUPLICATE_WARNING]
    fresh = kept + dedupe.duplicate_warnings(found)
    if fresh != current.warnings:
        conn.execute(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(warnings=[w.model_dump() for w in fresh], warning_count=len(fresh))
        )
        current = get(conn, customer_id)
    return current


def dismiss(conn: Connection, a: int, b: int, *, actor: str) -> tuple[Customer, Customer]:
    """Remember that ``a`` and ``b`` are not the same customer; find and entry skip the pair."""
    if a == b:
        raise ValidationError(
            f"customer {a} cannot be marked as not a duplicate of itself", code="merge_self"
        )
    get(conn, a)
    get(conn, b)
    low, high = min(a, b), max(a, b)
    if not dedupe.is_dismissed(conn, low, high):
        stamp = audit.now()
        conn.execute(
            insert(duplicate_dismissals).values(low_id=low, high_id=high, at=stamp, actor=actor)
        )
        for i, other in ((low, high), (low, high)[::-1]):
            audit.record(
                conn,
                actor=actor,
                action="not_duplicate",
                entity=ENTITY,
                entity_id=i,
                before=None,
                after={"not_duplicate_of": other},
                at=stamp,
            )
    return (
        refresh_duplicate_warnings(conn, a, allow=True),
        refresh_duplicate_warnings(conn, b, allow=True),
    )
