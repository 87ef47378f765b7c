"""The check on entry's half of the model: blocking keys, the active model, and a scorer.

- **Keys.** A customer has one key per blocking rule (``model.RULES``) whose values it has: the
  rule's ``kind`` and its values joined. They are stored in ``match_keys`` and rewritten on add,
  update, merge, unmerge and import. Two customers share a key exactly when a blocking rule
  pairs them, so the check on entry looks at the customers ``duplicates find`` would compare.
- **The active model.** What ``duplicates find`` last used (its fields, and m and u as shipped
  or trained), stored in ``duplicate_model``; before any ``find``, the shipped parameters with
  every field the model knows.
- **The scorer.** The same levels as Splink, in Python, and the same weights: a new customer
  gets the verdict ``find`` would give the pair.

Nothing here commits.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Connection, delete, insert, select

from customer_flow.duplicates import model as dedupe_model
from customer_flow.duplicates.features import KINDS, features_one
from customer_flow.duplicates.fields import field_values
from customer_flow.duplicates.models import FIELD_WORDS, FieldEvidence
from customer_flow.store import audit
from customer_flow.store.schema import duplicate_model

__all__ = [
    "ActiveModel",
    "Scorer",
    "active_model",
    "keys_frame",
    "keys_of",
    "reasons",
    "record_features",
    "store_model",
]

#: Key values longer than this are cut and end with a hash of the whole value (``match_keys``
#: holds 400 characters).
_LONG = 200


@dataclass
class ActiveModel:
    """The model the check on entry uses: the fields compared (``email``, ``phone``, the known
    extra fields, and other attributes by name), the ``extra`` keys each other attribute is
    read from, m and u per level, and where they came from."""

    fields: list[str]
    keys: dict[str, list[str]] = field(default_factory=dict)
    mu: dict[str, list[list[float]]] = field(default_factory=dict)
    training: str = "shipped"
    stored: bool = False

    @property
    def rules(self) -> list[dedupe_model.Rule]:
        return dedupe_model.blocking_rules(self.fields)


def shipped_model(params: dict[str, Any]) -> ActiveModel:
    """Before any ``find``: every field the model knows, with the shipped m and u."""
    fields = ["email", "phone", *KINDS]
    return ActiveModel(
        fields=fields, mu=dedupe_model.mu_of(dedupe_model.comparisons(fields), params)
    )


def active_model(conn: Connection, params: dict[str, Any]) -> ActiveModel:
    """The model ``duplicates find`` last used, else the shipped one."""
    row = conn.execute(select(duplicate_model).where(duplicate_model.c.id == 1)).first()
    if row is None:
        return shipped_model(params)
    spec = row.model
    return ActiveModel(
        fields=list(spec["fields"]),
        keys={k: list(v) for k, v in spec.get("keys", {}).items()},
        mu={k: [list(map(float, lv)) for lv in v] for k, v in spec["mu"].items()},
        training=row.training,
        stored=True,
    )


def store_model(conn: Connection, model: ActiveModel, customers: int) -> None:
    """Remember the model ``find`` used, for the check on entry."""
    conn.execute(delete(duplicate_model))
    conn.execute(
        insert(duplicate_model).values(
            id=1,
            at=audit.now(),
            customers=customers,
            training=model.training,
            model={"fields": model.fields, "keys": model.keys, "mu": model.mu},
        )
    )


def record_features(
    model: ActiveModel | None,
    name: str | None,
    email: str | None,
    phone: str | None,
    extra: dict[str, Any] | None,
    unique_id: int | None = None,
) -> dict[str, Any]:
    """The features of one customer: its recognised extra fields always (its keys need them),
    and the other attributes ``model`` compares."""
    values: dict[str, Any] = dict(field_values(extra))
    for name_, keys in (model.keys if model else {}).items():
        got = next((extra[k] for k in keys if extra and extra.get(k) not in (None, "")), None)
        values[f"x_{name_}"] = got
    for kind in KINDS:
        values.setdefault(kind, None)
    return features_one(name, email, phone, values, unique_id)


def _cut(value: str) -> str:
    if len(value) <= _LONG:
        return value
    digest = hashlib.blake2b(value.encode(), digest_size=16).hexdigest()
    return f"{value[:150]}#{digest}"


def keys_of(features: dict[str, Any], rules: Iterable[dedupe_model.Rule]) -> list[tuple[str, str]]:
    """(kind, value) of each rule whose values the customer has."""
    out = []
    for rule in rules:
        parts = []
        for col, n in rule.parts:
            value = features.get(col)
            if value is None:
                break
            parts.append(value[:n] if n else value)
        else:
            out.append((rule.kind, _cut("\x1f".join(parts))))
    return out


def keys_frame(features: pl.DataFrame, rules: Sequence[dedupe_model.Rule]) -> pl.DataFrame:
    """``kind, value, customer_id`` of many customers' features (``unique_id`` and the
    feature columns): the very keys of :func:`keys_of`."""
    parts = []
    for rule in rules:
        cols = [pl.col(c) if n is None else pl.col(c).str.slice(0, n) for c, n in rule.parts]
        have = pl.all_horizontal(pl.col(c).is_not_null() for c, _ in rule.parts)
        parts.append(
            features.filter(have).select(
                pl.lit(rule.kind).alias("kind"),
                pl.concat_str(cols, separator="\x1f").alias("value"),
                pl.col("unique_id").alias("customer_id"),
            )
        )
    keys = pl.concat(parts) if parts else pl.DataFrame()
    keys = keys.cast({"kind": pl.String, "value": pl.String, "customer_id": pl.Int64})
    long = keys["value"].str.len_chars() > _LONG
    if long.any():
        cut = keys.filter(long)
        keys = pl.concat(
            [
                keys.filter(~long),
                cut.with_columns(
                    pl.col("value").map_elements(_cut, return_dtype=pl.String)
                ).unique(),
            ]
        )
    return keys


class Scorer:
    """The model in Python: the level of each comparison, its weight log2(m/u), and the pair's
    match weight with the prior for ``n`` customers."""

    def __init__(self, model: ActiveModel, n: int, share: float) -> None:
        self.comparisons = dedupe_model.comparisons(model.fields)
        self.weights = dedupe_model.weights(model.mu)
        lam = dedupe_model.prior(n, share)
        self.prior_weight = math.log2(lam / (1 - lam))

    def explain(self, left: dict[str, Any], right: dict[str, Any]) -> dict[str, FieldEvidence]:
        out = {}
        for c in self.comparisons:
            level = c.level_of(left, right)
            weight = 0.0 if level is None else self.weights[c.name][level]
            out[c.name] = FieldEvidence(
                level="missing" if level is None else c.labels[level],
                weight=round(weight, 3),
                verdict=dedupe_model.verdict(level, weight),
            )
        return out

    def weight(self, left: dict[str, Any], right: dict[str, Any]) -> float:
        total = self.prior_weight
        for c in self.comparisons:
            level = c.level_of(left, right)
            if level is not None:
                total += self.weights[c.name][level]
        return total

    @staticmethod
    def probability(weight: float) -> float:
        if weight < -1000:
            return 0.0
        return float(1.0 / (1.0 + 2.0 ** (-weight)))


def reasons(explanation: dict[str, FieldEvidence]) -> list[str]:
    """The evidence in words, strongest first: "phone: same (+22.8)"; missing fields left out."""
    shown = [(n, e) for n, e in explanation.items() if e.verdict != "missing"]
    shown.sort(key=lambda ne: -ne[1].weight)
    return [f"{FIELD_WORDS.get(n, n)}: {e.level} ({e.weight:+.1f})" for n, e in shown]
