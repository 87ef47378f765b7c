"""What the duplicates model compares: the features of a customer.

One customer becomes one row of features (:func:`features_one`); many at once become a Polars
frame with the same values (:func:`features_frame`, vectorised where the values are ASCII, the
scalar functions once per distinct value elsewhere; a test checks both agree on a random
sample). ``duplicates find``, the check on entry and the import's check all read these, so the
same customer always looks the same to each of them.

| column | what it is |
|---|---|
| ``given``, ``surname`` | ``names.parse_name`` of the name |
| ``name_key`` | all its words, sorted (``names.name_key``; two words or more) |
| ``given_canon`` | the given name a nickname stands for (``bob`` -> ``robert``) |
| ``sx_given``, ``sx_surname`` | their Soundex codes |
| ``sx_pair`` | both codes sorted and joined ("Ana Lima" = "Lima Ana"); the surname's alone |
| ``email_norm`` | lower-case, ``+tag`` dropped, dots dropped at Gmail |
| ``email_local``, ``email_domain`` | its local part without any dot, and its domain |
| ``email_digits`` | the digits of that local part ("" when it has none) |
| ``phone`` | the digits of the stored phone, without an extension |
| ``phone_tail7`` | the last 7 digits (7 or more digits) |
| ``phone_key`` | the last 7 digits, or all of them in a shorter number (its blocking key) |
| ``phone_head``, ``phone_last4`` | the first 6 and the last 4 digits (8 or more digits) |
| ``dob``, ``postcode``, ``id_number`` | lower-case letters and digits only |
| ``address``, ``suburb``, ``state`` | lower-case, runs of spaces made one |
| ``x_<name>`` (another attribute) | lower-case, trimmed |
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from customer_flow.duplicates.names import canon_given, name_key, parse_name, soundex

__all__ = [
    "CODE_KINDS",
    "FEATURE_COLUMNS",
    "KINDS",
    "features_frame",
    "features_one",
    "normalise_email",
    "normalise_value",
    "phone_digits",
]

#: The extra attributes the model knows, by field name, with what they are in words.
KINDS: dict[str, str] = {
    "dob": "date of birth",
    "postcode": "postcode",
    "address": "address",
    "suburb": "suburb",
    "state": "state",
    "id_number": "ID number",
}
#: Known attributes compared as codes: letters and digits only ("2600" = "26 00", "1980-02-03"
#: = "19800203").
CODE_KINDS = frozenset({"dob", "postcode", "id_number"})
#: Known attributes compared as text: lower-case, spaces collapsed.
TEXT_KINDS = frozenset({"address", "suburb", "state"})
FEATURE_COLUMNS = (
    "unique_id",
    "given",
    "surname",
    "name_key",
    "given_canon",
    "sx_given",
    "sx_surname",
    "sx_pair",
    "email_norm",
    "email_local",
    "email_domain",
    "email_digits",
    "phone",
    "phone_tail7",
    "phone_key",
    "phone_head",
    "phone_last4",
)
#: Providers that ignore dots in the local part (googlemail.com is gmail.com).
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
_NOT_DIGIT = re.compile(r"[^0-9]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.strip() strips, within ASCII


def normalise_email(email: str | None) -> tuple[str, str, str] | None:
    """(key, local part without dots, domain): lower-cased, ``+tag`` dropped, dots dropped at
    Gmail for the key; the local part compared across domains ignores every dot
    ("bob.smith@acme.io" ~ "bobsmith@gmail.com")."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    domain = _DOTLESS.get(domain, domain)
    if domain == "gmail.com":
        local = local.replace(".", "")
    return f"{local}@{domain}", local.replace(".", ""), domain


def phone_digits(phone: str | None) -> str | None:
    """The digits (0-9) of a stored phone, without any extension."""
    if not phone:
        return None
    return _NOT_DIGIT.sub("", phone.split(";", 1)[0]) or None


def normalise_value(field: str, value: Any) -> str | None:
    """An extra attribute's value as the model compares it (None when empty)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if field in CODE_KINDS:
        out = _NOT_ALNUM.sub("", text.lower())
    elif field in TEXT_KINDS:
        out = " ".join(text.lower().split())
    else:
        out = text.strip().lower()
    return out or None


def _sx_pair(sx_given: str | None, sx_surname: str | None) -> str | None:
    if sx_given is None:
        return sx_surname
    if sx_surname is None:
        return None
    return " ".join(sorted((sx_given, sx_surname)))


def features_one(
    name: str | None,
    email: str | None,
    phone: str | None,
    values: dict[str, Any] | None = None,
    unique_id: int | None = None,
) -> dict[str, Any]:
    """The feature row of one customer; ``values`` are its extra fields by field name (raw)."""
    given, surname = parse_name(name)
    normal = normalise_email(email)
    digits = phone_digits(phone)
    long = digits is not None and len(digits) >= 8
    out: dict[str, Any] = {
        "unique_id": unique_id,
        "given": given,
        "surname": surname,
        "name_key": name_key(name),
        "given_canon": canon_given(given),
        "sx_given": soundex(given),
        "sx_surname": soundex(surname),
        "email_norm": normal[0] if normal else None,
        "email_local": normal[1] if normal else None,
        "email_domain": normal[2] if normal else None,
        "email_digits": _NOT_DIGIT.sub("", normal[1]) if normal else None,
        "phone": digits,
        "phone_tail7": digits[-7:] if digits is not None and len(digits) >= 7 else None,
        "phone_key": digits[-7:] if digits is not None else None,
        "phone_head": digits[:6] if long and digits is not None else None,
        "phone_last4": digits[-4:] if long and digits is not None else None,
    }
    out["sx_pair"] = _sx_pair(out["sx_given"], out["sx_surname"])
    for kind in KINDS:
        out[kind] = None
    for field, value in (values or {}).items():
        out[field] = normalise_value(field, value)
    return out


def features_frame(frame: pl.DataFrame, fields: list[str]) -> pl.DataFrame:
    """The feature rows of many customers: ``frame`` has ``unique_id``, ``name``, ``email``,
    ``phone`` and a raw text column per extra field in ``fields``; the result has
    ``FEATURE_COLUMNS`` and one column per field, equal to :func:`features_one`'s values."""
    df = frame.select(
        pl.col("unique_id").cast(pl.Int64),
        pl.col("name").cast(pl.String),
        pl.col("email").cast(pl.String),
        pl.col("phone").cast(pl.String),
        *(pl.col(f).cast(pl.String) for f in fields),
    )
    df = _names(df)
    df = _emails(df)
    digits = pl.col("phone").str.split(";").list.first().str.replace_all("[^0-9]", "")
    df = df.with_columns(pl.when(digits != "").then(digits).alias("phone"))
    size = pl.col("phone").str.len_chars()
    df = df.with_columns(
        pl.when(size >= 7).then(pl.col("phone").str.slice(-7)).alias("phone_tail7"),
        pl.col("phone").str.slice(-7).alias("phone_key"),
        pl.when(size >= 8).then(pl.col("phone").str.slice(0, 6)).alias("phone_head"),
        pl.when(size >= 8).then(pl.col("phone").str.slice(-4)).alias("phone_last4"),
    )
    df = df.with_columns(_value_expr(f) for f in fields)
    df = _slow_values(df, fields)
    df = df.with_columns(pl.col("email_local").str.replace_all("[^0-9]", "").alias("email_digits"))
    return df.select(*FEATURE_COLUMNS, *fields)


def _names(df: pl.DataFrame) -> pl.DataFrame:
    """``given``, ``surname`` and what derives from them, computed once per distinct name."""
    names = df["name"].drop_nulls().unique().to_list()
    parsed = [parse_name(n) for n in names]
    table = pl.DataFrame(
        {
            "name": names,
            "given": [p[0] for p in parsed],
            "surname": [p[1] for p in parsed],
            "name_key": [name_key(n) for n in names],
            "given_canon": [canon_given(p[0]) for p in parsed],
            "sx_given": [soundex(p[0]) for p in parsed],
            "sx_surname": [soundex(p[1]) for p in parsed],
        },
        schema={
            "name": pl.String,
            "given": pl.String,
            "surname": pl.String,
            "name_key": pl.String,
            "given_canon": pl.String,
            "sx_given": pl.String,
            "sx_surname": pl.String,
        },
    )
    table = table.with_columns(
        pl.when(pl.col("sx_given").is_null())
        .then(pl.col("sx_surname"))
        .when(pl.col("sx_surname").is_null())
        .then(None)
        .when(pl.col("sx_given") <= pl.col("sx_surname"))
        .then(pl.concat_str("sx_given", pl.lit(" "), "sx_surname"))
        .otherwise(pl.concat_str("sx_surname", pl.lit(" "), "sx_given"))
        .alias("sx_pair")
    )
    return df.join(table, on="name", how="left", maintain_order="left").drop("name")


def _emails(df: pl.DataFrame) -> pl.DataFrame:
    """:func:`normalise_email` for ASCII emails in Polars; the others in ``_slow_values``."""
    email = pl.col("email")
    df = df.with_columns(
        (
            email.str.contains("@", literal=True).fill_null(False)
            & (email.str.len_bytes() == email.str.len_chars())
        ).alias("_usable"),
        email.str.strip_chars(_SPACE).str.to_lowercase().alias("_lower"),
    ).with_columns(pl.col("_lower").str.extract(r"@([^@]*)$", 1).alias("_domain"))
    df = df.with_columns(
        pl.col("_lower")
        .str.head(pl.col("_lower").str.len_chars() - pl.col("_domain").str.len_chars() - 1)
        .alias("_local"),
        pl.when(pl.col("_domain") == "googlemail.com")
        .then(pl.lit("gmail.com"))
        .otherwise(pl.col("_domain"))
        .alias("_domain"),
    ).with_columns(pl.col("_local").str.extract(r"^([^+]*)", 1).alias("_untagged"))
    local = pl.when(pl.col("_untagged") != "").then(pl.col("_untagged")).otherwise("_local")
    local = (
        pl.when(pl.col("_domain") == "gmail.com")
        .then(local.str.replace_all(".", "", literal=True))
        .otherwise(local)
    )
    return df.with_columns(
        pl.when("_usable").then(pl.concat_str(local, pl.lit("@"), "_domain")).alias("email_norm"),
        pl.when("_usable").then(local.str.replace_all(".", "", literal=True)).alias("email_local"),
        pl.when("_usable").then("_domain").alias("email_domain"),
    ).drop("_usable", "_lower", "_local", "_untagged", "_domain")


def _ascii(col: str) -> pl.Expr:
    return pl.col(col).str.len_bytes() == pl.col(col).str.len_chars()


def _value_expr(field: str) -> pl.Expr:
    """:func:`normalise_value` of ASCII values (null for the others, done in Python)."""
    raw = pl.col(field)
    if field in CODE_KINDS:
        out = raw.str.to_lowercase().str.replace_all("[^0-9a-z]", "")
    elif field in TEXT_KINDS:
        out = raw.str.to_lowercase().str.replace_all(f"[{_SPACE}]+", " ").str.strip_chars(" ")
    else:
        out = raw.str.strip_chars(_SPACE).str.to_lowercase()
    return pl.when(_ascii(field) & (out != "")).then(out).alias(f"_v_{field}")


def _slow_values(df: pl.DataFrame, fields: list[str]) -> pl.DataFrame:
    """The values the ASCII expressions left undecided, through the scalar functions, once per
    distinct value; then the raw columns give way to the normalised ones."""
    todo = df["email"].filter(
        df["email_norm"].is_null() & df["email"].str.contains("@", literal=True).fill_null(False)
    )
    if len(todo):
        emails = todo.unique().to_list()
        normal = [normalise_email(e) for e in emails]
        found = pl.DataFrame(
            {
                "email": emails,
                "_n": [n[0] if n else None for n in normal],
                "_l": [n[1] if n else None for n in normal],
                "_d": [n[2] if n else None for n in normal],
            },
            schema={"email": pl.String, "_n": pl.String, "_l": pl.String, "_d": pl.String},
        )
        df = (
            df.join(found, on="email", how="left", maintain_order="left")
            .with_columns(
                pl.coalesce("email_norm", "_n").alias("email_norm"),
                pl.coalesce("email_local", "_l").alias("email_local"),
                pl.coalesce("email_domain", "_d").alias("email_domain"),
            )
            .drop("_n", "_l", "_d")
        )
    for field in fields:
        slow = df[field].filter(
            df[field].is_not_null() & ~df[field].str.contains(r"^[\x00-\x7f]*$")
        )
        if len(slow):
            values = slow.unique().to_list()
            found = pl.DataFrame(
                {field: values, "_s": [normalise_value(field, v) for v in values]},
                schema={field: pl.String, "_s": pl.String},
            )
            df = (
                df.join(found, on=field, how="left", maintain_order="left")
                .with_columns(pl.coalesce(f"_v_{field}", "_s").alias(f"_v_{field}"))
                .drop("_s")
            )
        df = df.with_columns(pl.col(f"_v_{field}").alias(field)).drop(f"_v_{field}")
    return df
