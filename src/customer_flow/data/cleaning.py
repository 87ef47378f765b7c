"""Cleaning and validating a batch of customer rows: plain functions from frame to frame.

Each cleaning step takes the frame made by ``data.map_columns`` (fields in ``__id``, ``__name``,
``__email``, ``__phone``, ``__extra``) and a ``Context`` that counts, per rule, how many values
the step changed. ``validate`` then adds ``__errors`` (the row is rejected) and ``__warnings``
(the row is imported and flagged), each a list of ``{column, code, message}``.

Emails and phones use the vectorised fast paths of ``data_phone`` and fall back to
``customers.clean_email`` / ``customers.clean_phone`` (the authority), once per distinct value.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from customer_flow.core.errors import ValidationError, cut
from customer_flow.customers import extra as extra_rules
from customer_flow.customers import records as customers
from customer_flow.data.phones import email_fast, phone_fast
from customer_flow.data.report import TRIGGER
from customer_flow.data.sorted_keys import SortedKeys

__all__ = [
    "CLEAN_RULES",
    "CLEAN_STEPS",
    "ERROR_CODES",
    "FIELDS",
    "WARNING_CODES",
    "Context",
    "clean_batch",
    "collapse_whitespace",
    "drop_duplicate_rows",
    "fix_name_case",
    "fix_name_order",
    "normalise_emails",
    "normalise_phones",
    "normalise_unicode",
    "proper_case_expr",
    "remove_control_characters",
    "validate",
]

FIELDS = ("__id", "__name", "__email", "__phone")
TEXT = (*FIELDS, "__extra")
#: Which file column each field reports as, for the rejects file.
COLUMN_OF = {"__id": "ID", "__name": "Name", "__email": "Email", "__phone": "Phone"}
PARTICLES = ("van", "der", "de", "la", "da", "von", "del", "di", "du", "dos", "le")
NAME_SUFFIXES = ("jr", "sr", "ii", "iii", "iv", "phd", "md", "inc", "llc", "ltd", "esq")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_EXTRA_VALUE = extra_rules.MAX_VALUE

CLEAN_RULES = {
    "unicode_nfc": "Unicode NFC (a decomposed é becomes one character)",
    "control_characters": "NUL and other control characters removed",
    "whitespace": "trimmed, runs of whitespace collapsed",
    "export_quote": "the apostrophe export puts before a formula removed",
    "name_order": '"Last, First" turned to "First Last"',
    "name_case": "ALL-CAPS or all-lower names given proper case",
    "email": "emails normalised (domain lower-cased)",
    "phone": "phones to E.164 in the default region",
    "duplicate_rows": "exact duplicates of an earlier row (rejected)",
}
ERROR_CODES = {
    "id_invalid": "the ID is not a whole number from 1 to 2^53",
    "name_missing": "a customer needs a name",
    "name_too_long": "a name has at most 300 characters",
    "email_invalid": "not a valid email address",
    "phone_not_a_number": "not a phone number",
    "phone_too_long": "a phone has at most 64 characters",
    "value_too_long": f"an extra value has at most {MAX_EXTRA_VALUE:,} characters",
    "extra_too_large": f"updating the customer would give it more than "
    f"{extra_rules.MAX_ATTRIBUTES} extra attributes",
    "wrong_field_count": "the row has more fields than the header",
    "bad_json": "the line is not a JSON object",
    "duplicate_row": "an exact duplicate of an earlier row",
    "id_duplicate_in_file": "an earlier row of the file has this ID",
    "email_duplicate_in_file": "an earlier row of the file has this email",
    "id_taken": "the ID belongs to a customer in the trash or purged; IDs are never reused",
    "email_taken": "another customer has this email",
    "conflict": "matches an existing customer and --on-conflict is fail",
    "possible_duplicate": "looks like a customer or an earlier row (the duplicates model's "
    "probability at or above its threshold); rejected because of --reject-duplicates",
}
WARNING_CODES = {
    "email_example_domain": "the email's domain is reserved for examples",
    "phone_local_only": "a local number with no area code; kept as given",
    "phone_impossible": "the phone has the wrong length; kept as given",
    "phone_unparsed": "the phone could not be read; kept as given",
    "phone_invalid": "the phone is not in an assigned number range; kept as given",
    "formula_like": "the name starts with =, +, -, @; neutralised on export",
    "control_characters": "NUL or other control characters were removed from a value",
    "possible_duplicate": "looks like a customer or an earlier row; imported with a warning, "
    "for review",
}


@dataclass
class Context:
    """What cleaning needs across batches: the region, the counts, the rows seen."""

    region: str
    unquote: bool = True  # take off the apostrophe a CSV export puts before a formula
    changed: Counter[str] = field(default_factory=Counter)
    seen: SortedKeys = field(default_factory=lambda: SortedKeys(["first"]))  # row hash -> row


Step = Callable[[pl.DataFrame, Context], pl.DataFrame]


def _count(
    ctx: Context, rule: str, before: pl.DataFrame, after: pl.DataFrame, cols: list[str]
) -> None:
    n = 0
    for c in cols:
        n += int(before[c].ne_missing(after[c]).sum())
    ctx.changed[rule] += n


def _apply(
    df: pl.DataFrame, ctx: Context, rule: str, cols: list[str], fn: Callable[[pl.Expr], pl.Expr]
) -> pl.DataFrame:
    out = df.with_columns(fn(pl.col(c)).alias(c) for c in cols)
    _count(ctx, rule, df, out, cols)
    return out


def normalise_unicode(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Unicode NFC: a decomposed é becomes one character, so equal names compare equal."""
    # Emails and phones that are not ASCII go to the libraries, which normalise them too.
    return _apply(df, ctx, "unicode_nfc", ["__name", "__extra"], lambda e: e.str.normalize("NFC"))


_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1b\x7f]"
_CONTROL_RE = re.compile(_CONTROL)
# How a control character looks in the JSON text of ``__extra`` (a candidate, checked in Python).
_CONTROL_JSON = r"\\u00[01][0-9a-fA-F]|\\[bf]|\x7f"


def remove_control_characters(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Remove NUL and other control characters (tabs and newlines become spaces next), from
    the fields and the extra attributes. ``__controls`` lists, per row, where some were removed
    (a warning on the row, ``control_characters``), so that nothing is removed silently."""
    out = _apply(
        df, ctx, "control_characters", list(FIELDS), lambda e: e.str.replace_all(_CONTROL, "")
    )
    where: list[pl.Expr] = [
        pl.when(df[f].ne_missing(out[f])).then(pl.lit(f.removeprefix("__")))
        for f in FIELDS
        if df[f].ne_missing(out[f]).any()
    ]
    extra = df["__extra"]
    maybe = extra.str.contains(_CONTROL_JSON).fill_null(False)
    if maybe.any():
        idx = maybe.arg_true()
        fixed: list[str | None] = []
        keys: list[str | None] = []
        for text in extra.gather(idx).to_list():
            new, removed = _strip_extra(text)
            fixed.append(new)
            keys.append(", ".join(removed) or None)
        ctx.changed["control_characters"] += sum(k is not None for k in keys)
        out = out.with_columns(extra.scatter(idx, fixed).alias("__extra"))
        touched = pl.Series("k", [None] * len(df), dtype=pl.String).scatter(idx, keys)
        where.append(pl.lit(touched))
    if not where:
        return out
    listed = out.select(pl.concat_str(where, separator=", ", ignore_nulls=True).alias("c"))["c"]
    return out.with_columns(pl.when(listed != "").then(listed).alias("__controls"))


def _strip_extra(text: str) -> tuple[str | None, list[str]]:
    """The JSON object of extra attributes without control characters, and the attributes that
    had some (a value left empty is dropped, as an empty cell is)."""
    values = json.loads(text)
    out: dict[str, str] = {}
    removed: list[str] = []
    for key, value in values.items():
        clean_key = _CONTROL_RE.sub("", key)
        clean = _CONTROL_RE.sub("", value)
        if clean_key != key or clean != value:
            removed.append(clean_key)
        if clean_key and clean:
            out[clean_key] = clean
    if not removed:
        return text, []
    return (json.dumps(out, ensure_ascii=False, separators=(",", ":")) if out else None), removed


def collapse_whitespace(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Trim, and collapse every run of whitespace to one space; an empty value becomes null."""
    out = df.with_columns(
        pl.col(c).str.replace_all(r"[\s\x1c-\x1f]+", " ").str.strip_chars(" ").alias(c)
        for c in FIELDS
    )
    out = out.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in FIELDS)
    _count(ctx, "whitespace", df, out, list(FIELDS))
    return out


_LAST_FIRST = r"^([^,]+),\s*([^,]+)$"
#: What a part of a person's name is made of: letters, apostrophes, dots, hyphens, spaces.
_NAME_PART = r"^\p{L}[\p{L}\p{M}'’ .\-]*$"


def fix_name_order(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """ "Last, First" becomes "First Last" (not "Smith, Jr." or "Acme, Inc."), only when both
    parts look like a person's name: a formula (``=HYPERLINK("…","click")``), a number or an
    address is left as it is."""
    name = pl.col("__name")
    last = name.str.extract(_LAST_FIRST, 1).str.strip_chars(" ")
    first = name.str.extract(_LAST_FIRST, 2).str.strip_chars(" ")
    suffix = first.str.to_lowercase().str.replace_all(r"[.\s]", "").is_in(list(NAME_SUFFIXES))
    person = last.str.contains(_NAME_PART) & first.str.contains(_NAME_PART)
    swap = last.is_not_null() & first.is_not_null() & (first != "") & ~suffix & person
    out = df.with_columns(
        pl.when(swap).then(pl.concat_str(first, pl.lit(" "), last)).otherwise(name).alias("__name")
    )
    _count(ctx, "name_order", df, out, ["__name"])
    return out


_PARTICLES_TITLED = [f" {p.title()} " for p in PARTICLES]
_PARTICLES_LOWER = [f" {p} " for p in PARTICLES]
_MC = [f"Mc{c}" for c in "abcdefghijklmnopqrstuvwxyz"]


def proper_case_expr(name: pl.Expr) -> pl.Expr:
    """Title-case each word (after any non-letter, so O'Brien, Jean-Luc); keep "Mc" names'
    capital (McDonald); particles such as "van der" stay lower-case unless first."""
    titled = name.str.to_titlecase()
    # Twice, because " Van Der " overlaps: the first pass takes " Van ", the second " Der ".
    for _ in range(2):
        titled = titled.str.replace_many(_PARTICLES_TITLED, _PARTICLES_LOWER)
    return titled.str.replace_many(_MC, [m[:2] + m[2].upper() for m in _MC])


def fix_name_case(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """An ALL-CAPS or all-lower name gets proper case; a mixed-case name is left alone, and so
    is one with digits or symbols."""
    name = pl.col("__name")
    upper, lower = name.str.to_uppercase(), name.str.to_lowercase()
    # Only names made of letters and name punctuation: "AT&T", "=SUM(A1)" or "R2D2" stay.
    wordy = name.str.contains(r"^[\p{L}\p{M}' .,\-]+$")
    shouting = ((name == upper) | (name == lower)) & (upper != lower) & wordy
    mask = df.select(shouting.fill_null(False)).to_series()
    if not mask.any():
        return df
    fixed = df.filter(mask).select(proper_case_expr(pl.col("__name")))["__name"]
    names = df["__name"].scatter(mask.arg_true(), fixed)
    out = df.with_columns(names.alias("__name"))
    _count(ctx, "name_case", df, out, ["__name"])
    return out


#: A value with the apostrophe a CSV export puts before a formula (``report.neutralise``).
_QUOTED = "^'" + TRIGGER.removeprefix("^")
_QUOTED_RE = re.compile(_QUOTED)
# How such a value starts in the JSON text of ``__extra`` (a candidate, checked in Python).
_QUOTED_JSON = r"\"'+(?:[=+\-@]|\\[tr])"


def _unneutralise(e: pl.Expr) -> pl.Expr:
    """A leading apostrophe that export added before a formula trigger is removed again."""
    return pl.when(e.str.contains(_QUOTED)).then(e.str.slice(1)).otherwise(e)


def strip_export_quotes(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Undo a CSV export's formula neutralising ('=x becomes =x, ''=x becomes '=x), in the
    fields and the extra attributes, so that an export re-imports as it was. Only for CSV
    (``ctx.unquote``): the other formats hold values as they are, and are written so."""
    if not ctx.unquote:
        return df
    out = _apply(df, ctx, "export_quote", list(FIELDS), _unneutralise)
    extra = out["__extra"]
    maybe = extra.str.contains(_QUOTED_JSON).fill_null(False)
    if not maybe.any():
        return out
    idx = maybe.arg_true()
    fixed: list[str] = []
    for text in extra.gather(idx).to_list():
        values = json.loads(text)
        for key, value in values.items():
            if _QUOTED_RE.match(value):
                values[key] = value[1:]
                ctx.changed["export_quote"] += 1
        fixed.append(json.dumps(values, ensure_ascii=False, separators=(",", ":")))
    return out.with_columns(extra.scatter(idx, fixed).alias("__extra"))


def normalise_emails(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Validate emails and lower-case their domains: the fast path, then email-validator."""
    emails = df["__email"]
    fast = email_fast(emails)
    result = fast.normalized
    error = pl.Series("e", [None] * len(df), dtype=pl.String)
    warn = fast.example
    undecided = emails.is_not_null() & ~fast.decided
    if undecided.any():
        lib: dict[str, tuple[str | None, str | None, bool]] = {}
        for v in emails.filter(undecided).unique().to_list():
            try:
                norm, warnings = customers.clean_email(v)
                lib[v] = (norm, None, bool(warnings))
            except ValidationError as exc:
                lib[v] = (None, cut(exc.message, 300), False)
        idx = undecided.arg_true()
        vals = emails.gather(idx).to_list()
        result = result.scatter(idx, [lib[v][0] for v in vals])
        error = error.scatter(idx, [lib[v][1] for v in vals])
        warn = warn.scatter(idx, [lib[v][2] for v in vals])
    out = df.with_columns(
        pl.when(error.is_null()).then(result).otherwise(emails).alias("__email"),
        error.alias("__email_error"),
        (warn & error.is_null()).alias("__email_example"),
    )
    _count(ctx, "email", df, out, ["__email"])
    return out


def normalise_phones(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Phones to E.164 in the default region: the fast path, then phonenumbers."""
    phones = df["__phone"]
    present = phones.is_not_null()
    fast = phone_fast(phones.fill_null(""), ctx.region)
    decided = fast.decided & present
    tmp = pl.DataFrame({"d": decided, "ok": fast.valid, "e": fast.e164, "raw": phones})
    flagged = pl.col("d") & ~pl.col("ok")
    # An invalid number keeps the value given, as ``clean_phone`` does (the fast path decides
    # only plain digit groups, whose repr is the value in single quotes).
    tmp = tmp.select(
        pl.when(flagged).then(pl.col("raw")).otherwise(pl.col("e")).alias("e"),
        pl.when(flagged).then(pl.lit("phone_invalid")).alias("c"),
        pl.when(flagged).then(pl.format(customers.invalid_phone_message("{}"), "raw")).alias("m"),
    )
    result, codes, messages = tmp["e"], tmp["c"], tmp["m"]
    errors = pl.Series("e", [None] * len(df), dtype=pl.String)
    undecided = present & ~decided
    if undecided.any():
        lib: dict[str, tuple[str | None, str | None, str | None, str | None]] = {}
        for v in phones.filter(undecided).unique().to_list():
            try:
                norm, warnings = customers.clean_phone(v, ctx.region)
                w = warnings[0] if warnings else None
                lib[v] = (norm, None, w.code if w else None, w.message if w else None)
            except ValidationError as exc:
                lib[v] = (None, cut(exc.message, 300), None, None)
        idx = undecided.arg_true()
        vals = phones.gather(idx).to_list()
        result = result.scatter(idx, [lib[v][0] for v in vals])
        errors = errors.scatter(idx, [lib[v][1] for v in vals])
        codes = codes.scatter(idx, [lib[v][2] for v in vals])
        messages = messages.scatter(idx, [lib[v][3] for v in vals])
    out = df.with_columns(
        pl.when(errors.is_null()).then(result).otherwise(phones).alias("__phone"),
        errors.alias("__phone_error"),
        codes.alias("__phone_warning"),
        messages.alias("__phone_warning_message"),
    )
    _count(ctx, "phone", df, out, ["__phone"])
    return out


def drop_duplicate_rows(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Mark rows that repeat an earlier row of the file exactly (after cleaning): they are not
    imported, and the rejects file names the row they repeat."""
    hashed = df.select(pl.col("__row"), pl.struct([*FIELDS, "__extra"]).hash(seed=7).alias("h"))
    if "__bad_json" in df.columns:  # a line that is not an object has no values to compare
        hashed = hashed.filter(df["__bad_json"].is_null())
    first_here = hashed.group_by("h", maintain_order=True).agg(
        pl.col("__row").min().alias("__here")
    )
    before = ctx.seen.lookup(first_here["h"]).rename({"first": "__first"})
    joined = hashed.join(first_here, on="h", how="left", maintain_order="left").join(
        before, on="h", how="left", maintain_order="left"
    )
    first = pl.coalesce(pl.col("__first"), pl.col("__here"))
    dup = joined.select("__row", pl.when(first != pl.col("__row")).then(first).alias("__dup_of"))
    ctx.seen.add(first_here.join(before, on="h", how="anti").rename({"__here": "first"}))
    out = df.join(dup, on="__row", how="left", maintain_order="left")
    ctx.changed["duplicate_rows"] += int(out["__dup_of"].is_not_null().sum())
    return out


CLEAN_STEPS: tuple[Step, ...] = (
    normalise_unicode,
    remove_control_characters,
    collapse_whitespace,
    strip_export_quotes,
    fix_name_order,
    fix_name_case,
    normalise_emails,
    normalise_phones,
    drop_duplicate_rows,
)


def _problem(
    cond: pl.Expr, column: str, code: str | pl.Expr, message: pl.Expr
) -> tuple[pl.Expr, pl.Expr]:
    """(the condition, the {column, code, message} struct where it holds)."""
    code_expr = pl.lit(code) if isinstance(code, str) else code
    return cond, pl.when(cond).then(
        pl.struct(pl.lit(column).alias("column"), code_expr.alias("code"), message.alias("message"))
    )


def validate(
    df: pl.DataFrame,
    plan_columns: dict[str, str],
    extras: list[str],
    *,
    name_optional: bool = False,
) -> pl.DataFrame:
    """Add ``__id_int``, ``__errors`` and ``__warnings`` (lists of {column, code, message}).

    ``plan_columns`` maps ID/Name/Email/Phone to the file's column names, for the report. With
    ``name_optional`` (an update), a row without a name is not refused here: the loader refuses
    it only if it would create a customer (``Loader.settle``).
    """
    name_of = {f: plan_columns.get(COLUMN_OF[f], COLUMN_OF[f]) for f in FIELDS}
    raw_id = pl.col("__id")
    id_text = raw_id.str.replace(r"\.0+$", "")
    id_int = pl.when(id_text.str.contains(r"^[0-9]{1,16}$")).then(
        id_text.cast(pl.Int64, strict=False)
    )
    id_ok = id_int.is_between(1, 2**53)
    name = pl.col("__name")
    errors = [
        _problem(
            pl.col("__dup_of").is_not_null(),
            "*",
            "duplicate_row",
            pl.format("the same as row {}", pl.col("__dup_of")),
        ),
        _problem(
            raw_id.is_not_null() & ~id_ok.fill_null(False),
            name_of["__id"],
            "id_invalid",
            pl.format(
                "ID {} is not a whole number from 1 to 2^53",
                pl.when(raw_id.str.len_chars() > 40)
                .then(raw_id.str.slice(0, 40) + pl.lit("…"))
                .otherwise(raw_id),
            ),
        ),
        _problem(
            name.is_null() & pl.lit(not name_optional),
            name_of["__name"],
            "name_missing",
            pl.lit("a customer needs a name"),
        ),
        _problem(
            name.str.len_chars() > 300,
            name_of["__name"],
            "name_too_long",
            pl.format("the name has {} characters; at most 300", name.str.len_chars()),
        ),
        _problem(
            pl.col("__email_error").is_not_null(),
            name_of["__email"],
            "email_invalid",
            pl.col("__email_error"),
        ),
        _problem(
            pl.col("__phone_error").is_not_null(),
            name_of["__phone"],
            "phone_not_a_number",
            pl.col("__phone_error"),
        ),
        _problem(
            pl.col("__phone").str.len_chars() > 64,
            name_of["__phone"],
            "phone_too_long",
            pl.format("the phone has {} characters; at most 64", pl.col("__phone").str.len_chars()),
        ),
    ]
    for c in extras:
        errors.append(
            _problem(
                pl.col(c).str.len_chars() > MAX_EXTRA_VALUE,
                c,
                "value_too_long",
                pl.format(
                    "{} characters; at most {}", pl.col(c).str.len_chars(), pl.lit(MAX_EXTRA_VALUE)
                ),
            )
        )
    if "__overflow" in df.columns:
        errors.insert(
            0,
            _problem(
                pl.col("__overflow").is_not_null(),
                "*",
                "wrong_field_count",
                pl.col("__overflow"),
            ),
        )
    if "__bad_json" in df.columns:
        errors.insert(
            0, _problem(pl.col("__bad_json").is_not_null(), "*", "bad_json", pl.col("__bad_json"))
        )
    warnings = [
        _problem(
            pl.col("__email_example"),
            "email",
            "email_example_domain",
            pl.format(
                "{} is reserved for examples; mail to it is never delivered",
                pl.col("__email").str.split("@").list.last(),
            ),
        ),
        _problem(
            pl.col("__phone_warning").is_not_null(),
            "phone",
            pl.col("__phone_warning"),
            pl.col("__phone_warning_message"),
        ),
        _problem(
            pl.col("__controls").is_not_null() if "__controls" in df.columns else pl.lit(False),
            "*",
            "control_characters",
            pl.format("NUL or other control characters removed from {}", pl.col("__controls"))
            if "__controls" in df.columns
            else pl.lit(""),
        ),
        _problem(
            name.str.contains(r"^[=+\-@\t\r]"),
            "name",
            "formula_like",
            pl.format(
                "{} starts with a spreadsheet formula character; neutralised on export",
                name.str.slice(0, 1),
            ),
        ),
    ]
    conds = [p[0] for p in errors]
    wconds = [p[0] for p in warnings]
    df = df.with_columns(
        id_int.alias("__id_int"),
        pl.any_horizontal([c.fill_null(False) for c in conds]).alias("__bad"),
        pl.any_horizontal([c.fill_null(False) for c in wconds]).alias("__flagged"),
    )
    # Lists of problems are built only for the few rows that have some.
    mask = df["__bad"] | df["__flagged"]
    some = df.filter(mask).with_columns(
        pl.concat_list([p[1] for p in errors]).list.drop_nulls().alias("__errors"),
        pl.concat_list([p[1] for p in warnings]).list.drop_nulls().alias("__warnings"),
    )
    if "__bad_json" in df.columns:
        # A line that is not a JSON object has no values: its other "errors" are only noise.
        some = some.with_columns(
            pl.when(pl.col("__bad_json").is_not_null())
            .then(pl.col("__errors").list.head(1))
            .otherwise(pl.col("__errors"))
            .alias("__errors")
        )
    return df.join(
        some.select("__row", "__errors", "__warnings"),
        on="__row",
        how="left",
        maintain_order="left",
    )


def warnings_json(df: pl.DataFrame) -> pl.Series:
    """The ``warnings`` column as stored: a JSON list of {field, code, message}."""
    n = df["__warnings"].list.len().fill_null(0)
    out = pl.Series("w", ["[]"] * len(df), dtype=pl.String)
    idx = (n > 0).arg_true()
    if len(idx):
        rows = df.select("__warnings").gather(idx).to_dicts()
        texts = [
            json.dumps(
                [
                    {
                        "field": w["column"],
                        "code": w["code"],
                        "message": w["message"],
                    }
                    for w in r["__warnings"]
                ],
                ensure_ascii=False,
            )
            for r in rows
        ]
        out = out.scatter(idx, texts)
    return out


def clean_batch(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Run every cleaning step in order."""
    for step in CLEAN_STEPS:
        df = step(df, ctx)
    return df
