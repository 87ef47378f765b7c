"""Which extra attributes ``duplicates find`` compares besides name, email and phone, and why.

Name, email and phone cannot tell every pair apart: a record that kept only "Maria Silva" shares
its name with every other Maria Silva, and at 50,000 customers there are dozens. A postcode, an
address or a date of birth decides such pairs: shared (and rare), one person; different, two.
Customer files often carry them as extra attributes, under many spellings (an import keeps an
unknown column under its header: "Zip Code", "postcode", "POSTAL_CODE").

So ``find`` compares, unless told not to, the extra attributes it recognises as identifying
(:data:`IDENTIFYING`) when enough live customers have one (:func:`choose`); ``--field`` adds any
other attribute. The user does not need to know the option exists for the common case.

An attribute is its key up to case and separators (:func:`squash`): "Zip Code" and "zip_code"
are one attribute, read from whichever key a customer has (the most common key first).
Nothing here prints, reads the environment or commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from customer_flow.core.errors import ValidationError
from customer_flow.duplicates.models import ComparedField

__all__ = [
    "IDENTIFYING",
    "Attribute",
    "candidates",
    "check_fields",
    "choose",
    "key_counts",
    "squash",
]

#: Extra attributes recognised as identifying a person, by squashed key (:func:`squash`), and
#: what each identifies. Only these are compared without being asked for: a city or a company
#: is shared by too many people to separate anyone, and guessing at other keys would change the
#: model under the user's feet.
IDENTIFYING = {
    "postcode": "postcode",
    "zip": "postcode",
    "zipcode": "postcode",
    "postalcode": "postcode",
    "address": "address",
    "street": "address",
    "streetaddress": "address",
    "addressline1": "address",
    "address1": "address",
    "dateofbirth": "date of birth",
    "dob": "date of birth",
    "birthdate": "date of birth",
}
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
BUILT_IN = ("name", "email", "phone")


def squash(key: str) -> str:
    """A key as attributes are matched: case-folded, letters and digits only, so
    "Post Code" = "post_code" = "POSTCODE"."""
    return "".join(c for c in key.casefold() if c.isalnum())


def check_fields(fields: Sequence[str]) -> list[str]:
    """Extra attributes the user asked for, checked to be plain names (they become SQL
    columns), without repeats (up to case and separators)."""
    out: list[str] = []
    for f in fields:
        if not _FIELD_NAME.match(f):
            raise ValidationError(
                f"field: {f!r} is not an attribute name (letters, digits, _)",
                field="field",
                code="bad_field",
            )
        if f.lower() in BUILT_IN:
            raise ValidationError(
                f"field: {f!r} is compared already (name, email and phone always are)",
                field="field",
                code="bad_field",
            )
        if squash(f) not in {squash(o) for o in out}:
            out.append(f)
    return out


@dataclass(frozen=True)
class Attribute:
    """An extra attribute as the model compares it: ``name`` names its comparison and its input
    column ``x_<name>``; ``keys`` are the ``extra`` keys its value is read from, in order;
    ``kind`` is what a recognised attribute identifies."""

    name: str
    keys: tuple[str, ...]
    requested: bool
    kind: str | None


def key_counts(conn: Connection) -> dict[str, int]:
    """Each ``extra`` key of the live customers, with how many have a non-empty value under it.
    One pass in the database's own JSON functions: at a million customers about 0.4 s on SQLite,
    where parsing every object in Python took three times as long."""
    if conn.dialect.name == "postgresql":
        sql = (
            "SELECT e.key, count(*) FROM customers, LATERAL json_each_text("
            "CASE WHEN json_typeof(customers.extra) = 'object' THEN customers.extra"
            " ELSE '{}'::json END) AS e WHERE customers.deleted_at IS NULL AND e.value <> ''"
            " GROUP BY e.key"
        )
    else:
        sql = (
            "SELECT j.key, count(*) FROM customers, json_each(customers.extra) AS j"
            " WHERE customers.deleted_at IS NULL AND j.value IS NOT NULL AND j.value <> ''"
            " GROUP BY j.key"
        )
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    # Array elements have integer keys; a key with a quote cannot be named in a SQLite JSON path.
    return {k: int(n) for k, n in rows if isinstance(k, str) and '"' not in k and "\\" not in k}


def _snake(key: str) -> str:
    name = _SEPARATORS.sub("_", key.casefold()).strip("_")
    return name if _FIELD_NAME.match(name) else squash(key)


def candidates(counts: dict[str, int], requested: Sequence[str], *, auto: bool) -> list[Attribute]:
    """The attributes to read: those requested (``check_fields``), then, when ``auto``, every
    recognised one some live customer has (:func:`choose` decides which are compared)."""
    groups: dict[str, list[str]] = {}
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n > 0:
            groups.setdefault(squash(key), []).append(key)
    out = [
        Attribute(f, tuple(groups.get(squash(f), [f])), True, IDENTIFYING.get(squash(f)))
        for f in requested
    ]
    if auto:
        taken = {squash(f) for f in requested}
        for squashed, keys in groups.items():
            if squashed in IDENTIFYING and squashed not in taken:
                out.append(Attribute(_snake(keys[0]), tuple(keys), False, IDENTIFYING[squashed]))
    return out


def _present(values: list[Any]) -> int:
    return sum(v is not None and v != "" for v in values)


def choose(
    columns: dict[str, list[Any]], attributes: Sequence[Attribute], params: dict[str, Any]
) -> tuple[list[str], list[ComparedField], list[ComparedField]]:
    """Decide which of the attributes read into ``columns`` (as ``x_<name>``) are compared:
    every requested one; a recognised one when at least ``auto_fields_min_share`` (5 %) of the
    live customers have a value, or at least ``auto_fields_min_customers`` (1,000) do, and
    always at least two (one value cannot join a pair). Drops the columns of the others.

    Returns the names compared, the report's ``fields`` (built-ins first) and its
    ``fields_not_compared``."""
    n = len(columns["unique_id"])
    share_floor = float(params["auto_fields_min_share"])
    count_floor = int(params["auto_fields_min_customers"])
    tf_floor = int(params["min_values_for_term_frequencies"])
    compared: list[ComparedField] = [
        ComparedField(
            name=b,
            source="built-in",
            values=_present(columns[b]),
            share=round(_present(columns[b]) / n, 4) if n else 0.0,
            why="always compared",
        )
        for b in BUILT_IN
    ]
    left_out: list[ComparedField] = []
    names: list[str] = []
    floors = f"{100 * share_floor:g} % or {count_floor:,}"
    for a in attributes:
        values = _present(columns[f"x_{a.name}"])
        share = values / n if n else 0.0
        spread = f"{values:,} of {n:,} live customers ({_percent(share)}) have a value"
        what = f"recognised as a {a.kind}" if a.kind else "an extra attribute"
        if list(a.keys) != [a.name]:
            what += f" (extra {'keys' if len(a.keys) > 1 else 'key'} {', '.join(a.keys)})"
        enough = values >= 2 and (share >= share_floor or values >= count_floor)
        if not a.requested and not enough:
            left_out.append(
                ComparedField(
                    name=a.name,
                    source="auto",
                    keys=list(a.keys),
                    kind=a.kind,
                    values=values,
                    share=round(share, 4),
                    why=f"{what}; {spread}, fewer than {floors}: not compared "
                    f"(--field {a.name} compares it)",
                )
            )
            del columns[f"x_{a.name}"]
            continue
        tf = values >= tf_floor
        weighing = (
            "an exact match weighs by how rare the shared value is"
            if tf
            else f"shipped weights (fewer than {tf_floor:,} values)"
        )
        why = (
            f"requested (--field); {what}; {spread}; {weighing}"
            if a.requested
            else f"{what}; {spread}, at least {floors}: compared automatically; {weighing}"
        )
        names.append(a.name)
        compared.append(
            ComparedField(
                name=a.name,
                source="requested" if a.requested else "auto",
                keys=list(a.keys),
                kind=a.kind,
                values=values,
                share=round(share, 4),
                term_frequencies=tf,
                why=why,
            )
        )
    return names, compared, left_out


def _percent(share: float) -> str:
    return f"{100 * share:.1f} %" if share < 0.9995 else "100 %"
