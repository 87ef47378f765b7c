"""Which extra attributes ``duplicates find`` compares besides name, email and phone, and why.

Name, email and phone cannot tell every pair apart: a record that kept only "Maria Silva" shares
its name with every other Maria Silva, and at 50,000 customers there are dozens. A date of
birth, a postcode, an address, a suburb, a state or an ID number decides such pairs: shared, one
person; different, two.
Customer files often carry them as extra attributes, under many spellings (an import keeps an
unknown column under its header: "Zip Code", "postcode", "POSTAL_CODE").

So ``find`` compares, unless told not to, the extra attributes it recognises as identifying
(:data:`IDENTIFYING`) when enough live customers have one (:func:`choose`); ``--field`` adds any
other attribute. The user does not need to know the option exists for the common case.

An attribute is its key up to case and separators (:func:`squash`): "Zip Code" and "zip_code"
are one attribute, and so are "zip" and "postcode": each recognised key is one of the model's
fields, read from whichever key a customer has (in a fixed order, :func:`recognised_keys`).
Nothing here prints, reads the environment or commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from customer_flow.core.errors import ValidationError
from customer_flow.duplicates.features import KINDS
from customer_flow.duplicates.models import ComparedField

__all__ = [
    "IDENTIFYING",
    "Attribute",
    "candidates",
    "check_fields",
    "choose",
    "field_values",
    "key_counts",
    "recognised_keys",
    "squash",
]

#: Extra attributes recognised as identifying a person, by squashed key (:func:`squash`), and
#: the model's field each one is (``features.KINDS``). Only these are compared without being
#: asked for, each with comparisons and blocking rules of its own: a city or a company is shared
#: by too many people to separate anyone, and guessing at other keys would change the model under
#: the user's feet. The order is the order in which a customer's keys are read when it has
#: several for one field (its first non-empty value counts), in ``find`` and on entry alike.
IDENTIFYING = {
    "dateofbirth": "dob",
    "dob": "dob",
    "birthdate": "dob",
    "postcode": "postcode",
    "zip": "postcode",
    "zipcode": "postcode",
    "postalcode": "postcode",
    "address": "address",
    "street": "address",
    "streetaddress": "address",
    "addressline1": "address",
    "address1": "address",
    "suburb": "suburb",
    "locality": "suburb",
    "state": "state",
    "province": "state",
    "idnumber": "id_number",
    "nationalid": "id_number",
    "nationalidnumber": "id_number",
    "ssn": "id_number",
    "socialsecuritynumber": "id_number",
    "socsecid": "id_number",
    "passportnumber": "id_number",
    "taxid": "id_number",
}
_RANK = {k: i for i, k in enumerate(IDENTIFYING)}
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
    """An extra attribute as the model compares it. ``name`` names its comparison; ``field`` is
    the model's field when it is recognised (``dob``, ``postcode``, ...: ``name`` is then the
    same), None for another attribute asked for with ``--field``; ``keys`` are the ``extra``
    keys its value is read from, in order (the first non-empty one counts)."""

    name: str
    keys: tuple[str, ...]
    requested: bool
    field: str | None

    @property
    def column(self) -> str:
        """Its column in the model's input: the field's name, or ``x_<name>``."""
        return self.field or f"x_{self.name}"

    @property
    def kind(self) -> str | None:
        """What a recognised attribute is, in words ("date of birth")."""
        return KINDS[self.field] if self.field else None


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


def recognised_keys(keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The model field each recognised key is, with its keys in reading order (``IDENTIFYING``
    order, then the key itself): the same order on entry and in ``find``."""
    out: dict[str, list[str]] = {}
    for key in sorted(keys, key=lambda k: (_RANK.get(squash(k), 0), k)):
        field = IDENTIFYING.get(squash(key))
        if field is not None:
            out.setdefault(field, []).append(key)
    return {f: tuple(k) for f, k in out.items()}


def field_values(extra: dict[str, Any] | None) -> dict[str, Any]:
    """The recognised fields of one customer's extra attributes: per field, the first
    non-empty value among its keys (in ``recognised_keys`` order)."""
    out: dict[str, Any] = {}
    if not extra:
        return out
    for field, keys in recognised_keys(extra).items():
        for key in keys:
            value = extra[key]
            if value is not None and value != "":
                out[field] = value
                break
    return out


def candidates(counts: dict[str, int], requested: Sequence[str], *, auto: bool) -> list[Attribute]:
    """The attributes to read: those requested (``check_fields``), then, when ``auto``, every
    recognised field some live customer has (:func:`choose` decides which are compared)."""
    present = [k for k, n in counts.items() if n > 0]
    fields = recognised_keys(present)
    groups: dict[str, list[str]] = {}
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n > 0:
            groups.setdefault(squash(key), []).append(key)
    out: list[Attribute] = []
    for f in requested:
        field = IDENTIFYING.get(squash(f))
        if field is not None:
            if all(a.field != field for a in out):
                out.append(Attribute(field, fields.get(field, (f,)), True, field))
        else:
            out.append(Attribute(f, tuple(groups.get(squash(f), [f])), True, None))
    if auto:
        for field, keys in fields.items():
            if all(a.field != field for a in out):
                out.append(Attribute(field, keys, False, field))
    return out


def _present(values: list[Any]) -> int:
    return sum(v is not None and v != "" for v in values)


def _article(words: str) -> str:
    """ "a postcode", "an address", "an ID number"."""
    return f"an {words}" if words[0].lower() in "aeiou" or words.startswith("ID") else f"a {words}"


def choose(
    columns: dict[str, list[Any]], attributes: Sequence[Attribute], params: dict[str, Any]
) -> tuple[list[Attribute], list[ComparedField], list[ComparedField]]:
    """Decide which of the attributes read into ``columns`` (under ``Attribute.column``) are
    compared: every requested one; a recognised one when at least ``auto_fields_min_share``
    (5 %) of the live customers have a value, or at least ``auto_fields_min_customers`` (1,000)
    do, and always at least two (one value cannot join a pair). Drops the columns of the others.

    Email and phone are compared when at least two live customers have one (the name always).
    Returns the attributes compared, the report's ``fields`` (built-ins first) and its
    ``fields_not_compared``."""
    n = len(columns["unique_id"])
    share_floor = float(params["auto_fields_min_share"])
    count_floor = int(params["auto_fields_min_customers"])
    compared: list[ComparedField] = []
    left_out: list[ComparedField] = []
    for b in BUILT_IN:
        values = _present(columns[b])
        entry = ComparedField(
            name=b,
            source="built-in",
            values=values,
            share=round(values / n, 4) if n else 0.0,
            why="always compared"
            if b == "name"
            else "compared when at least 2 live customers have one"
            if values >= 2
            else f"{values} live customer{'s' if values != 1 else ''} ha"
            f"{'ve' if values != 1 else 's'} one: not compared",
        )
        (compared if b == "name" or values >= 2 else left_out).append(entry)
    chosen: list[Attribute] = []
    floors = f"{100 * share_floor:g} % or {count_floor:,}"
    for a in attributes:
        values = _present(columns[a.column])
        share = values / n if n else 0.0
        spread = f"{values:,} of {n:,} live customers ({_percent(share)}) have a value"
        what = f"recognised as {_article(a.kind)}" if a.kind else "an extra attribute"
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
            del columns[a.column]
            continue
        how = (
            "it also picks the pairs to compare"
            if a.field
            else "it weighs on the pairs other fields pick (not used to find pairs)"
        )
        why = (
            f"requested (--field); {what}; {spread}; {how}"
            if a.requested
            else f"{what}; {spread}, at least {floors}: compared automatically; {how}"
        )
        chosen.append(a)
        compared.append(
            ComparedField(
                name=a.name,
                source="requested" if a.requested else "auto",
                keys=list(a.keys),
                kind=a.kind,
                values=values,
                share=round(share, 4),
                why=why,
            )
        )
    return chosen, compared, left_out


def _percent(share: float) -> str:
    return f"{100 * share:.1f} %" if share < 0.9995 else "100 %"
