"""The duplicates model: comparisons, blocking rules, parameters, training, and Splink.

One model, written once, used three ways:

- ``duplicates find`` runs it on Splink (DuckDB here; the same settings run on Spark for data
  past one machine): the blocking rules pick the pairs, each comparison puts a pair in one of its
  levels, and the levels' m and u give the pair a match weight (Fellegi-Sunter).
- The check on entry (``scorer.Scorer``) scores a new customer against the customers that share
  one of its blocking keys, in Python, with the same levels and the same parameters.
- The import's check scores a batch's candidate pairs in DuckDB with the same SQL as Splink.

Every level is written twice, as SQL (for Splink and DuckDB) and as Python (for the check on
entry); a test checks that both put every pair of a labelled data set in the same level.

Parameters: ``model.json`` ships m and u for every level (trained on FEBRL2 and on
``benchmarks/generate.py`` data). A database of at least ``min_records_for_u`` customers gets u
estimated by random sampling; from ``min_records_to_train``, m is estimated by EM as well. The
prior is never trained: it assumes ``expected_duplicate_share`` (5 %) of customers have a
duplicate, λ = 2 × 0.05 / (n − 1).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

import polars as pl
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from customer_flow.core.errors import ValidationError
from customer_flow.duplicates.features import KINDS, features_frame
from customer_flow.duplicates.models import DuplicatePair, FieldEvidence, Verdict

__all__ = [
    "DIALECTS",
    "FIRST_NAME_DIFFERENT_M",
    "RULES",
    "Comparison",
    "Level",
    "Rule",
    "Scored",
    "blocking_rules",
    "comparisons",
    "export",
    "load_params",
    "prior",
    "score",
    "splink_settings",
    "verdict",
]

Row = Mapping[str, Any]

#: m of the first name's "different" level: 1e-20, fixed (EM cannot raise it). Its u is about
#: 0.98, so the level weighs about −66 bits: a veto. Two customers whose first names are neither
#: the same, swapped, a nickname, a typo nor an initial of each other are two people, whatever
#: else they share (a family at one address, colleagues with one office phone), unless they
#: share a birth date: that is the level before it, ``_DIFFERENT_SAME_DOB`` (about −3 bits).
#: FEBRL's corruption replaces given names in 8.8 % (FEBRL1) and 12 % (FEBRL2) of its true
#: pairs, nearly always keeping the birth date (docs/duplicates.md). ``None`` would use the
#: shipped or trained m everywhere (families at one address would pair up).
FIRST_NAME_DIFFERENT_M: float | None = 1e-20
#: Splink backends the exported settings can be written for.
DIALECTS = ("spark", "duckdb", "postgres", "sqlite", "athena")
#: Floors for trained m and u: a level never seen in a sample must not weigh infinitely.
_FLOOR = 1e-7


# -- the SQL dialect ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sql:
    """The two string functions the levels need, named as a Splink backend names them."""

    jw: str = "jaro_winkler_similarity"
    dl: str = "damerau_levenshtein"

    @classmethod
    def of(cls, dialect: str) -> Sql:
        from splink.internals.dialects import SplinkDialect

        d = SplinkDialect.from_string(dialect)
        return cls(jw=d.jaro_winkler_function_name, dl=d.damerau_levenshtein_function_name)

    def close(self, a: str, b: str, jw: float = 0.92) -> str:
        """One edit apart (Damerau-Levenshtein) or Jaro-Winkler at least ``jw``."""
        return f"({self.dl}({a}, {b}) <= 1 OR {self.jw}({a}, {b}) >= {jw})"


def close(a: str | None, b: str | None, jw: float = 0.92) -> bool:
    if a is None or b is None:
        return False
    return bool(DamerauLevenshtein.distance(a, b) <= 1 or JaroWinkler.similarity(a, b) >= jw)


def _jw(a: str, b: str) -> float:
    return float(JaroWinkler.similarity(a, b))


def _dl(a: str, b: str) -> int:
    return int(DamerauLevenshtein.distance(a, b))


# -- comparisons -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One level of a comparison: its label, its SQL condition and the same test in Python."""

    label: str
    sql: Callable[[Sql], str]
    test: Callable[[Row, Row], bool]
    #: m and u stay the shipped ones: training never changes them (see ``_first_name``).
    fixed: bool = False


@dataclass(frozen=True)
class Comparison:
    """A comparison: a null level (no evidence), ``levels`` in order (the first that holds
    wins), then "different". ``params`` names its m and u in ``model.json``."""

    name: str
    null_sql: Callable[[Sql], str]
    is_null: Callable[[Row, Row], bool]
    levels: tuple[Level, ...]
    params: str

    @property
    def labels(self) -> list[str]:
        return [lv.label for lv in self.levels] + ["different"]

    def level_of(self, left: Row, right: Row) -> int | None:
        """The index of the level a pair falls in (``len(levels)`` for "different"), or None
        for the null level."""
        if self.is_null(left, right):
            return None
        for i, level in enumerate(self.levels):
            if level.test(left, right):
                return i
        return len(self.levels)

    def case_sql(self, sql: Sql, left: str = "_l", right: str = "_r") -> str:
        """A SQL expression giving the level index (−1 for null) over columns named
        ``<column><left>`` and ``<column><right>``."""
        parts = [f"WHEN {self._cols(self.null_sql(sql), left, right)} THEN -1"]
        parts += [
            f"WHEN {self._cols(lv.sql(sql), left, right)} THEN {i}"
            for i, lv in enumerate(self.levels)
        ]
        return f"CASE {' '.join(parts)} ELSE {len(self.levels)} END"

    @staticmethod
    def _cols(text: str, left: str, right: str) -> str:
        if (left, right) == ("_l", "_r"):
            return text
        import re

        return re.sub(r"\b(\w+)_([lr])\b", lambda m: m[1] + (left if m[2] == "l" else right), text)


def _swapped_sql(s: Sql) -> str:
    return (
        "given_l IS NOT NULL AND given_r IS NOT NULL AND given_l <> given_r AND "
        "surname_l IS NOT NULL AND surname_r IS NOT NULL AND "
        f"((({s.close('given_l', 'surname_r')} OR given_canon_l = surname_r) AND "
        f"({s.close('surname_l', 'given_r')} OR surname_l = given_canon_r))"
        " OR name_key_l = name_key_r)"
    )


def swapped(left: Row, right: Row) -> bool:
    """First name and surname written the other way round on one side ("Lima Ana" and "Ana
    Lima"), allowing a typo or a nickname on either; or the same words in another order
    ("Çelik Nguyễn Văn" and "Nguyễn Văn Çelik")."""
    lg, rg, ls, rs = left["given"], right["given"], left["surname"], right["surname"]
    if lg is None or rg is None or ls is None or rs is None or lg == rg:
        return False
    if left["name_key"] is not None and left["name_key"] == right["name_key"]:
        return True
    return (close(lg, rs) or left["given_canon"] == rs) and (
        close(ls, rg) or ls == right["given_canon"]
    )


def _lone(left: Row, right: Row) -> bool:
    def one_way(a: Row, b: Row) -> bool:
        return (
            b["given"] is not None
            and close(a["surname"], b["given"])
            and (a["given"] is None or close(a["given"], b["surname"]))
        )

    return one_way(left, right) or one_way(right, left)


def _lone_sql(s: Sql) -> str:
    return (
        f"(given_r IS NOT NULL AND {s.close('surname_l', 'given_r')} AND "
        f"(given_l IS NULL OR {s.close('given_l', 'surname_r')})) OR "
        f"(given_l IS NOT NULL AND {s.close('surname_r', 'given_l')} AND "
        f"(given_r IS NULL OR {s.close('given_r', 'surname_l')}))"
    )


def _null(col: str) -> tuple[Callable[[Sql], str], Callable[[Row, Row], bool]]:
    return (
        lambda s: f"{col}_l IS NULL OR {col}_r IS NULL",
        lambda a, b: a[col] is None or b[col] is None,
    )


def _same(col: str, label: str = "same") -> Level:
    return Level(label, lambda s: f"{col}_l = {col}_r", lambda a, b: bool(a[col] == b[col]))


def _one_edit(col: str, label: str = "one edit") -> Level:
    return Level(
        label, lambda s: f"{s.dl}({col}_l, {col}_r) <= 1", lambda a, b: _dl(a[col], b[col]) <= 1
    )


def _jw_at(col: str, at: float, label: str) -> Level:
    return Level(
        label, lambda s: f"{s.jw}({col}_l, {col}_r) >= {at}", lambda a, b: _jw(a[col], b[col]) >= at
    )


#: A different first name where the birth date is the same: m and u of the plain "different"
#: level, fixed. Splink's independence assumption would count the birth date twice here (once
#: in this level's u, once in the date of birth's own comparison); with the plain level's m and
#: u the level weighs what a different first name weighs among pairs that share a birth date,
#: about −3 bits.
_DIFFERENT_SAME_DOB = Level(
    "different, same birth date",
    lambda s: "dob_l = dob_r",
    lambda a, b: a["dob"] is not None and a["dob"] == b["dob"],
    fixed=True,
)


def _first_name(with_dob: bool = False) -> Comparison:
    """The first name. "Different" is a veto (``FIRST_NAME_DIFFERENT_M``) unless the two
    share a birth date: then it is evidence against, of the weight training finds for a
    different first name (FEBRL's corruption replaces given names; twins share a birth date
    too, and are told apart by an email or a phone, which disagree)."""
    null_sql, is_null = _null("given")
    dob = (_DIFFERENT_SAME_DOB,) if with_dob else ()
    return Comparison(
        "first_name",
        null_sql,
        is_null,
        (
            _same("given"),
            Level("swapped with the surname", _swapped_sql, swapped),
            _same("given_canon", "nickname"),
            # A typo: Jaro-Winkler >= 0.92, or one edit in names of 5 letters or more:
            # "Joe"/"Zoe" and "John"/"Joan" are two names.
            Level(
                "typo",
                lambda s: (
                    f"({s.jw}(given_l, given_r) >= 0.92 OR ({s.dl}(given_l, given_r) <= 1"
                    " AND least(length(given_l), length(given_r)) >= 5))"
                ),
                lambda a, b: (
                    _jw(a["given"], b["given"]) >= 0.92
                    or (
                        _dl(a["given"], b["given"]) <= 1
                        and min(len(a["given"]), len(b["given"])) >= 5
                    )
                ),
            ),
            Level(
                "initial or prefix",
                lambda s: (
                    "(substr(given_l, 1, length(given_r)) = given_r"
                    " OR substr(given_r, 1, length(given_l)) = given_l)"
                ),
                lambda a, b: a["given"].startswith(b["given"]) or b["given"].startswith(a["given"]),
            ),
            *dob,
        ),
        "first_name_dob" if with_dob else "first_name",
    )


def _last_name() -> Comparison:
    # A swapped pair carries its evidence once, in the first name's "swapped" level: here it
    # is no evidence (the null level).
    return Comparison(
        "last_name",
        lambda s: f"surname_l IS NULL OR surname_r IS NULL OR ({_swapped_sql(s)})",
        lambda a, b: a["surname"] is None or b["surname"] is None or swapped(a, b),
        (
            _same("surname"),
            Level("a lone name is the other's first name", _lone_sql, _lone),
            Level(
                "typo",
                lambda s: s.close("surname_l", "surname_r"),
                lambda a, b: close(a["surname"], b["surname"]),
            ),
            _jw_at("surname", 0.8, "similar"),
        ),
        "last_name",
    )


def _simple(
    name: str, col: str, levels: tuple[Level, ...], params: str | None = None
) -> Comparison:
    null_sql, is_null = _null(col)
    return Comparison(name, null_sql, is_null, levels, params or name)


def comparisons(fields: Sequence[str]) -> list[Comparison]:
    """The comparisons of a model comparing ``fields``: always the first name and the surname,
    then ``email``, ``phone`` and the known extra fields (``features.KINDS``) among ``fields``,
    then any other field (``x_<name>`` in the input) by exact value and Jaro-Winkler ≥ 0.9."""
    wanted = set(fields)
    out = [_first_name("dob" in wanted), _last_name()]
    if "email" in wanted:
        out.append(
            _simple(
                "email",
                "email_norm",
                (
                    _same("email_norm"),
                    _same("email_local", "same local part, another domain"),
                    # One edit with the same digits, in local parts of 4 characters or more:
                    # "ana.lima123" and "ana.lima124" are two people, "ana.lima" and "ana.lma"
                    # one, "a" and "b" two.
                    Level(
                        "local part typo",
                        lambda s: (
                            f"{s.dl}(email_local_l, email_local_r) <= 1"
                            " AND email_digits_l = email_digits_r"
                            " AND least(length(email_local_l), length(email_local_r)) >= 4"
                        ),
                        lambda a, b: (
                            _dl(a["email_local"], b["email_local"]) <= 1
                            and a["email_digits"] == b["email_digits"]
                            and min(len(a["email_local"]), len(b["email_local"])) >= 4
                        ),
                    ),
                ),
            )
        )
    if "phone" in wanted:
        out.append(
            _simple(
                "phone",
                "phone",
                (
                    _same("phone"),
                    Level(
                        "same last 7 digits",
                        lambda s: "phone_tail7_l = phone_tail7_r",
                        lambda a, b: (
                            a["phone_tail7"] is not None and a["phone_tail7"] == b["phone_tail7"]
                        ),
                    ),
                    Level(
                        "one digit typo",
                        lambda s: (
                            f"length(phone_l) = length(phone_r) AND {s.dl}(phone_l, phone_r) <= 1"
                        ),
                        lambda a, b: (
                            len(a["phone"]) == len(b["phone"]) and _dl(a["phone"], b["phone"]) <= 1
                        ),
                    ),
                ),
            )
        )
    known = {
        "dob": (
            _same("dob"),
            _one_edit("dob", "one digit wrong or two swapped"),
            Level(
                "same year",
                lambda s: "substr(dob_l, 1, 4) = substr(dob_r, 1, 4)",
                lambda a, b: a["dob"][:4] == b["dob"][:4],
            ),
        ),
        "postcode": (_same("postcode"), _one_edit("postcode")),
        "address": (
            _same("address"),
            _jw_at("address", 0.9, "similar (Jaro-Winkler ≥ 0.9)"),
            _jw_at("address", 0.75, "alike (Jaro-Winkler ≥ 0.75)"),
        ),
        "suburb": (
            _same("suburb"),
            Level(
                "typo",
                lambda s: s.close("suburb_l", "suburb_r", 0.9),
                lambda a, b: close(a["suburb"], b["suburb"], 0.9),
            ),
        ),
        "state": (_same("state"),),
        "id_number": (_same("id_number"), _one_edit("id_number")),
    }
    for f, levels in known.items():
        if f in wanted:
            out.append(_simple(f, f, levels))
    for f in fields:
        if f not in known and f not in ("email", "phone"):
            col = f"x_{f}"
            out.append(
                _simple(
                    f, col, (_same(col), _jw_at(col, 0.9, "similar (Jaro-Winkler ≥ 0.9)")), "extra"
                )
            )
    return out


def verdict(level: int | None, weight: float) -> Verdict:
    """A field's verdict in a word, from its level and weight."""
    if level is None:
        return "missing"
    return "agrees" if weight > 0 else "disagrees" if weight < 0 else "neutral"


# -- blocking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A blocking rule: two customers are compared when they have the same values in
    ``parts`` (a column, or its first n characters). ``kind`` names its keys in ``match_keys``
    (at most 8 characters); ``needs`` are the fields it needs compared."""

    kind: str
    parts: tuple[tuple[str, int | None], ...]
    needs: frozenset[str]

    @property
    def sql(self) -> str:
        return " AND ".join(
            f"l.{c} = r.{c}" if n is None else f"substr(l.{c}, 1, {n}) = substr(r.{c}, 1, {n})"
            for c, n in self.parts
        )


def _rule(kind: str, *parts: str | tuple[str, int], needs: str) -> Rule:
    cols = tuple((p, None) if isinstance(p, str) else p for p in parts)
    return Rule(kind, cols, frozenset(needs.split("+")))


#: Every blocking rule, used when the fields it needs are compared. A name never blocks alone:
#: it always comes with another value. Names block by their Soundex codes, so most typos and
#: swapped names still meet; a typo in a name's first letter is met by the rules without names
#: (date of birth and postcode, date of birth and address, phone, email).
RULES: tuple[Rule, ...] = (
    _rule("email", "email_local", needs="email"),
    # An email typo: the same name (phonetically) at the same domain, with the same digits in
    # the local part (the email's typo level needs them: "ana.lima123" and "ana.lima124" are
    # two people), so a big company domain is not one block per common name.
    _rule("name_dom", "sx_pair", "email_domain", "email_digits", needs="email"),
    # The same last 7 digits (all of them in a shorter number): every pair with the same phone
    # too, with one key per customer instead of two.
    _rule("phone", "phone_key", needs="phone"),
    # A one-digit phone typo leaves the first 6 or the last 4 digits as they were.
    _rule("name_ph6", "sx_pair", "phone_head", needs="phone"),
    _rule("name_ph4", "sx_pair", "phone_last4", needs="phone"),
    _rule("sur_dob", "sx_surname", "dob", needs="dob"),
    _rule("giv_dob", "sx_given", "dob", needs="dob"),
    _rule("name_pc", "sx_pair", "postcode", needs="postcode"),
    _rule("sur_pc", "sx_surname", "postcode", needs="postcode"),
    _rule("giv_pc", "sx_given", "postcode", needs="postcode"),
    # The same full name in the same postcode area (a postcode typo).
    _rule("full_pc2", "given", "surname", ("postcode", 2), needs="postcode"),
    _rule("dob_pc", "dob", "postcode", needs="dob+postcode"),
    _rule("sur_addr", "sx_surname", "address", needs="address"),
    _rule("dob_addr", "dob", "address", needs="dob+address"),
    _rule("name_sub", "sx_pair", "suburb", needs="suburb"),
    _rule("id", "id_number", needs="id_number"),
)


def blocking_rules(fields: Sequence[str]) -> list[Rule]:
    """The rules whose fields are all compared."""
    have = set(fields)
    return [r for r in RULES if r.needs <= have]


# -- parameters --------------------------------------------------------------------------------


@cache
def load_params() -> dict[str, Any]:
    """The shipped model (``model.json``): settings, and m and u of every level. Read once;
    callers must not change it."""
    text = (resources.files(__package__) / "model.json").read_text()
    params: dict[str, Any] = json.loads(text)
    return params


def prior(n: int, share: float) -> float:
    """λ, the probability that two customers picked at random are one person, when ``share``
    of ``n`` customers have a duplicate: 2 × share / (n − 1), at most 0.5."""
    return min(0.5, 2 * share / max(n - 1, 1))


def mu_of(
    comparisons_: Sequence[Comparison],
    shipped: dict[str, Any],
    trained: dict[str, Any] | None = None,
) -> dict[str, list[list[float]]]:
    """m and u per level of each comparison: the trained values where there are usable ones
    (positive), the shipped ones elsewhere; the first name's "different" m is
    ``FIRST_NAME_DIFFERENT_M`` when set."""
    out: dict[str, list[list[float]]] = {}
    for c in comparisons_:
        base = shipped["comparisons"][c.params]
        if len(base) != len(c.levels) + 1:
            raise ValueError(f"model.json: {c.params} needs {len(c.levels) + 1} m/u pairs")
        got = (trained or {}).get(c.name)
        if got is not None and len(got) != len(base):
            got = None  # trained for another set of levels (a model stored before a change)
        fixed = {i for i, lv in enumerate(c.levels) if lv.fixed}
        levels = []
        for i, (m, u) in enumerate(base):
            if got is not None and i < len(got) and i not in fixed:
                tm, tu = got[i]
                m = max(tm, _FLOOR) if isinstance(tm, float | int) and math.isfinite(tm) else m
                u = max(tu, _FLOOR) if isinstance(tu, float | int) and math.isfinite(tu) else u
            levels.append([float(m), float(u)])
        if c.name == "first_name" and FIRST_NAME_DIFFERENT_M is not None:
            levels[-1][0] = FIRST_NAME_DIFFERENT_M
        out[c.name] = levels
    return out


def weights(mu: dict[str, list[list[float]]]) -> dict[str, list[float]]:
    """log2(m / u) of each level."""
    return {name: [math.log2(m / u) for m, u in levels] for name, levels in mu.items()}


# -- Splink ------------------------------------------------------------------------------------


def splink_settings(
    fields: Sequence[str], mu: dict[str, list[list[float]]], lam: float, dialect: str = "duckdb"
) -> Any:
    """The Splink ``SettingsCreator`` of the model comparing ``fields`` with these m and u."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    sql = Sql.of(dialect)
    out: list[Any] = []
    for c in comparisons(fields):
        levels: list[Any] = [
            cll.CustomLevel(c.null_sql(sql), label_for_charts="missing").configure(
                is_null_level=True
            )
        ]
        levels += [cll.CustomLevel(lv.sql(sql), label_for_charts=lv.label) for lv in c.levels]
        levels.append(cll.ElseLevel().configure(label_for_charts="different"))
        for level, (m, u) in zip(levels[1:], mu[c.name], strict=True):
            level.configure(m_probability=m, u_probability=u)
        for level, lv in zip(levels[1:], c.levels, strict=False):
            if lv.fixed:
                level.configure(fix_m_probability=True, fix_u_probability=True)
        if c.name == "first_name" and FIRST_NAME_DIFFERENT_M is not None:
            levels[-1].configure(m_probability=FIRST_NAME_DIFFERENT_M, fix_m_probability=True)
        out.append(cl.CustomComparison(levels, output_column_name=c.name))
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=out,
        blocking_rules_to_generate_predictions=[cast(Any, r.sql) for r in blocking_rules(fields)],
        probability_two_random_records_match=lam,
        max_iterations=10,
        # The level of each comparison (gamma_*) comes with the matching columns only.
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,
    )


def _exported(linker: Any) -> dict[str, list[list[Any]]]:
    return {
        c.output_column_name: [
            [lv.m_probability, lv.u_probability]
            for lv in c.comparison_levels
            if not lv.is_null_level
        ]
        for c in linker._settings_obj.comparisons
    }


def _input_table(con: Any, features: pl.DataFrame) -> None:
    con.register("cf_arrow", features.to_arrow())
    con.execute("CREATE TABLE cf_input AS SELECT * FROM cf_arrow")
    con.unregister("cf_arrow")


@dataclass
class Scored:
    """What the model found: pairs at or above the threshold, how many pairs it compared, and
    the m and u it used (``mu``) with how they were obtained (``training``)."""

    pairs: list[DuplicatePair]
    pairs_compared: int
    training: str
    mu: dict[str, list[list[float]]]
    blocking_seconds: float
    training_seconds: float = 0.0
    labels: dict[str, list[str]] = field(default_factory=dict)


def training_mode(n: int, train: bool | None, params: dict[str, Any]) -> str:
    """``shipped``, ``u`` or ``full`` for ``n`` customers (``train`` forces full or none)."""
    if train is False or n < 2:
        return "shipped"
    if train is True:
        return "full"
    if n >= int(params["min_records_to_train"]):
        return "full"
    if n >= int(params["min_records_for_u"]):
        return "u"
    return "shipped"


def _em_rules(fields: Sequence[str], usable: set[str]) -> list[str]:
    """Two EM sessions: one blocks on the full name (it trains every other comparison), one on
    a strong other identifier (it trains the names)."""
    rules = ["l.given = r.given AND l.surname = r.surname"]
    for f, rule in (
        ("dob", "l.dob = r.dob"),
        ("phone", "l.phone = r.phone"),
        ("email", "l.email_local = r.email_local"),
        ("postcode", "l.postcode = r.postcode"),
    ):
        if f in fields and f in usable:
            rules.append(rule)
            break
    return rules


def train(
    source: Callable[[], Any],
    fields: Sequence[str],
    params: dict[str, Any],
    n: int,
    mode: str,
    usable: set[str],
    dialect: str = "duckdb",
) -> dict[str, list[list[float]]]:
    """m and u for the model on the input ``source`` registers (a Splink table on any
    backend, registered anew for each linker): shipped, or trained as ``mode`` says (u by
    random sampling; then m by EM)."""
    comps = comparisons(fields)
    shipped = mu_of(comps, params)
    if mode == "shipped":
        return shipped
    from splink import Linker

    lam = prior(n, float(params["expected_duplicate_share"]))
    linker = Linker(
        source(),
        splink_settings(fields, shipped, lam, dialect),
        log_level=None,
        validate_settings=False,
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=min(float(params["u_sample_pairs"]), n * (n - 1) / 2),
        seed=1,
        min_count_per_level=None,
        num_chunks=1,
    )
    if mode == "full":
        for rule in _em_rules(fields, usable):
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule,
                    max_pairs=float(params["em_max_pairs"]),
                    # How many records estimate the rule's pairs before sampling them: all of
                    # a small database (exact, repeatable); 2 % of a big one (a full count of
                    # the full-name rule's pairs at a million customers costs more than EM).
                    record_sample_proportion=1.0 if n < 100_000 else 0.02,
                )
            except Exception as exc:  # a session with no pairs: the other values stand
                logging.getLogger(__name__).info("EM on %s skipped: %s", rule, exc)
    mu = mu_of(comps, params, _exported(linker))
    # "Swapped with the surname" is the same full name in the other order: as rare at random as
    # the full name itself, u(first name same) × u(surname same). Random sampling almost never
    # sees one, which would make it look like a near-identifier.
    first, last = mu["first_name"], mu["last_name"]
    first[1][1] = max(first[0][1] * last[0][1], _FLOOR * _FLOOR)
    return mu


def features(columns: dict[str, list[Any]], fields: Sequence[str]) -> pl.DataFrame:
    """The model's input rows (``features.FEATURE_COLUMNS`` and a column per compared extra
    field) of ``columns`` (``unique_id``, ``name``, ``email``, ``phone`` and a column per extra
    field): what every engine scores."""
    extra = [f for f in fields if f not in ("email", "phone")]
    frame = pl.DataFrame(
        columns, schema={k: pl.Int64 if k == "unique_id" else pl.String for k in columns}
    )
    return features_frame(frame, [f if f in KINDS else f"x_{f}" for f in extra])


def predict_columns(fields: Sequence[str]) -> str:
    """The columns :func:`scored_pairs` reads from Splink's predictions, in its order."""
    cols = ", ".join(f"gamma_{c.name}" for c in comparisons(fields))
    return f"unique_id_l, unique_id_r, match_probability, match_weight, {cols}"


def scored_pairs(
    rows: Iterable[Sequence[Any]], fields: Sequence[str], mu: dict[str, list[list[float]]]
) -> list[DuplicatePair]:
    """The pairs of Splink's prediction ``rows`` (``predict_columns``), each with its evidence
    per field: one reading for every engine."""
    comps = comparisons(fields)
    w = weights(mu)
    labels = {c.name: c.labels for c in comps}  # built once: there are 100,000s of pairs
    pairs = []
    for row in rows:
        evidence: dict[str, FieldEvidence] = {}
        for i, c in enumerate(comps):
            gamma = int(row[4 + i])
            # Splink numbers the levels from the most specific (highest) down to 0, "different";
            # -1 is the null level.
            level = None if gamma < 0 else len(c.levels) - gamma
            weight = 0.0 if level is None else w[c.name][level]
            # model_construct: these values are ours and typed; validating 100,000s costs seconds.
            evidence[c.name] = FieldEvidence.model_construct(
                level="missing" if level is None else labels[c.name][level],
                weight=round(weight, 3),
                verdict=verdict(level, weight),
            )
        a, b = int(row[0]), int(row[1])
        pairs.append(
            DuplicatePair.model_construct(
                a=min(a, b),
                b=max(a, b),
                probability=round(float(row[2]), 6),
                weight=round(float(row[3]), 3),
                explanation=evidence,
            )
        )
    return pairs


def score(
    columns: dict[str, list[Any]],
    *,
    fields: Sequence[str],
    params: dict[str, Any],
    threshold: float,
    train_mode: str,
    usable: set[str],
    mu: dict[str, list[list[float]]] | None = None,
) -> Scored:
    """Run the model on DuckDB over ``columns`` (``unique_id``, ``name``, ``email``, ``phone``
    and a column per extra field): train it as ``train_mode`` says (or use ``mu``), then score
    the pairs the blocking rules pick and keep those at or above ``threshold``."""
    import duckdb
    from splink import DuckDBAPI, Linker

    logging.getLogger("splink").setLevel(logging.ERROR)
    n = len(columns["unique_id"])
    feats = features(columns, fields)
    con = duckdb.connect()
    try:
        _input_table(con, feats)
        del feats
        started = time.perf_counter()
        if mu is None:
            mu = train(
                lambda: DuckDBAPI(con).register("cf_input"), fields, params, n, train_mode, usable
            )
        training_seconds = time.perf_counter() - started
        lam = prior(n, float(params["expected_duplicate_share"]))
        linker = Linker(
            DuckDBAPI(con).register("cf_input"),
            splink_settings(fields, mu, lam),
            log_level=None,
            validate_settings=False,
        )
        started = time.perf_counter()
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        compared = int(
            con.execute(f"SELECT count(*) FROM {blocked.physical_name}").fetchall()[0][0]
        )
        # predict scores these very pairs instead of blocking again.
        linker.table_management.register_blocked_pairs_for_predict(blocked)
        blocking_seconds = time.perf_counter() - started
        predictions = linker.inference.predict(
            threshold_match_probability=threshold, warning_mode="never"
        )
        rows = con.execute(
            f"SELECT {predict_columns(fields)} FROM {predictions.physical_name}"
        ).fetchall()
    finally:
        con.close()
    return Scored(
        pairs=scored_pairs(rows, fields, mu),
        pairs_compared=compared,
        training=train_mode,
        mu=mu,
        blocking_seconds=blocking_seconds,
        training_seconds=training_seconds,
        labels={c.name: c.labels for c in comparisons(fields)},
    )


def export(
    columns: dict[str, list[Any]],
    *,
    fields: Sequence[str],
    params: dict[str, Any],
    mu: dict[str, list[list[float]]],
    out_dir: Path,
    dialect: str = "spark",
) -> tuple[Path, Path]:
    """Write the model's input (``customers.parquet``: the features) and its Splink settings
    for ``dialect`` (``splink_settings.json``), so the same model runs on Spark or another
    Splink backend."""
    if dialect not in DIALECTS:
        raise ValidationError(
            f"dialect: {dialect!r} is not one of {', '.join(DIALECTS)}",
            field="dialect",
            code="bad_dialect",
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(
            f"out: cannot create {out_dir}: {exc.strerror}", field="out", code="bad_path"
        ) from exc
    data, settings_path = out_dir / "customers.parquet", out_dir / "splink_settings.json"
    features(columns, fields).write_parquet(data)
    n = len(columns["unique_id"])
    lam = prior(n, float(params["expected_duplicate_share"]))
    settings = splink_settings(fields, mu, lam, dialect).create_settings_dict(dialect)
    settings_path.write_text(json.dumps(settings, indent=2))
    return data, settings_path
