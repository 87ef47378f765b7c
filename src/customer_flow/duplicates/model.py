"""The Splink model behind ``duplicates find``: features, comparisons, blocking and scoring.

The same settings dictionary (``splink_settings``) runs on any Splink backend: DuckDB here, Spark
for data past one machine (see docs/duplicates.md). Parameters come from ``dedupe_model.json``;
u is re-estimated by random sampling when the database is big enough for it to be stable.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from customer_flow.core.errors import ValidationError
from customer_flow.duplicates.models import DuplicatePair, FieldEvidence
from customer_flow.duplicates.names import nicknames

#: Splink backends the exported settings can be written for.
DIALECTS = ("spark", "duckdb", "postgres", "sqlite", "athena")


def nickname_map() -> dict[str, str]:
    """Nickname -> given name, from the shipped ``nicknames.json`` (ASCII, lower-case)."""
    return nicknames()


__all__ = ["FEATURES_SQL", "Scored", "export", "score", "splink_settings"]

#: Derived columns, in DuckDB SQL over the input table ``cf_raw``. Phones are stored in E.164
#: already; names become sorted accent-free tokens, so "Lima, Ana" equals "Ana Lima".
FEATURES_SQL = """
SELECT
    unique_id,
    nullif(array_to_string(tokens, ' '), '') AS name_key,
    nullif(array_to_string(list_sort(list_transform(tokens,
        lambda t: coalesce(map_extract_value(cf_nick, t), t))), ' '), '') AS name_canon,
    CASE WHEN len(tokens) > 0 THEN tokens END AS name_tokens,
    CASE WHEN len(tokens) > 0 THEN tokens[1] END AS name_first,
    lower(email) AS email,
    CASE WHEN email LIKE '%@%' THEN lower(split_part(split_part(email, '@', 1), '+', 1)) END
        AS email_local,
    CASE WHEN email LIKE '%@%' THEN list_filter(string_split_regex(
        lower(split_part(split_part(email, '@', 1), '+', 1)), '[._-]'), lambda t: length(t) > 1)
        END AS email_tokens,
    CASE WHEN email LIKE '%@%' THEN lower(split_part(email, '@', 2)) END AS email_domain,
    nullif(regexp_replace(split_part(phone, ';', 1), '[^0-9]', '', 'g'), '') AS phone_digits,
    CASE WHEN length(regexp_replace(split_part(phone, ';', 1), '[^0-9]', '', 'g')) >= 7
        THEN right(regexp_replace(split_part(phone, ';', 1), '[^0-9]', '', 'g'), 7) END
        AS phone_tail
    {extra}
FROM (
    SELECT *, {nick_map} AS cf_nick, list_sort(list_filter(
        string_split(regexp_replace(lower(strip_accents(coalesce(name, ''))),
                                    '[^\\p{{L}}\\p{{N}}]+', ' ', 'g'), ' '),
        lambda t: t <> '')) AS tokens
    FROM cf_raw
)
"""


@dataclass
class Scored:
    """What the model found: the pairs at or above the threshold and how many it compared."""

    pairs: list[DuplicatePair]
    pairs_compared: int
    trained: bool
    blocking_seconds: float
    labels: dict[str, dict[int, str]] = field(default_factory=dict)


def _levels(cll: Any, col: str, kinds: list[tuple[str, Any]]) -> list[Any]:
    out = [cll.NullLevel(col)]
    for kind, arg in kinds:
        if kind == "exact":
            out.append(cll.ExactMatchLevel(arg))
        elif kind == "exact_tf":
            # Weighted by how common the value is: a shared rare postcode says much more than
            # a shared city, so the shipped u of the level is replaced by the value's frequency.
            out.append(cll.ExactMatchLevel(arg, term_frequency_adjustments=True))
        elif kind == "jw":
            out.append(cll.JaroWinklerLevel(arg[0], arg[1]))
        elif kind == "lev":
            out.append(cll.LevenshteinLevel(arg[0], arg[1]))
        elif kind == "overlap":
            out.append(cll.ArrayIntersectLevel(arg, 1))
        elif kind == "sql":
            out.append(cll.CustomLevel(arg[0], label_for_charts=arg[1]))
    out.append(cll.ElseLevel())
    return out


def _comparison(cl: Any, cll: Any, name: str, levels: list[Any], mu: list[list[Any]]) -> Any:
    # The null level has no m/u; the others take the shipped values in order. A third value
    # ``true`` fixes u: identifiers collide so rarely that sampling cannot measure it.
    if len(mu) != len(levels) - 1:
        raise ValueError(f"dedupe_model.json: {name} needs {len(levels) - 1} m/u pairs")
    for level, values in zip(levels[1:], mu, strict=True):
        fixed = len(values) > 2 and bool(values[2])
        level.configure(m_probability=values[0], u_probability=values[1], fix_u_probability=fixed)
    return cl.CustomComparison(levels, output_column_name=name)


def tf_fields(columns: dict[str, list[Any]], fields: list[str], params: dict[str, Any]) -> set[str]:
    """The extra fields with enough values (``min_values_for_term_frequencies``) for their
    frequencies to mean something: on those, a shared value weighs by how rare it is. With
    fewer, two records sharing the only postcode in a tiny database would count as evidence
    against, so the shipped u is kept and small databases stay stable."""
    floor = int(params["min_values_for_term_frequencies"])
    return {f for f in fields if sum(v is not None and v != "" for v in columns[f"x_{f}"]) >= floor}


def splink_settings(
    fields: list[str], params: dict[str, Any], n: int, tf: set[str] | None = None
) -> Any:
    """The Splink ``SettingsCreator`` for these extra fields and ``n`` records; ``tf`` names the
    fields whose exact level is weighted by term frequency (:func:`tf_fields`)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    mu = params["comparisons"]
    comparisons = [
        _comparison(
            cl,
            cll,
            "name",
            _levels(
                cll,
                "name_key",
                [
                    ("exact", "name_key"),
                    ("exact", "name_canon"),
                    ("lev", ("name_key", 1)),
                    ("jw", ("name_key", 0.95)),
                    ("lev", ("name_key", 2)),
                    ("jw", ("name_key", 0.88)),
                    ("overlap", "name_tokens"),
                    ("jw", ("name_key", 0.7)),
                ],
            ),
            mu["name"],
        ),
        _comparison(
            cl,
            cll,
            "email",
            _levels(
                cll,
                "email",
                [
                    ("exact", "email"),
                    ("exact", "email_local"),
                    ("jw", ("email_local", 0.88)),
                    ("overlap", "email_tokens"),
                    ("exact", "email_domain"),
                ],
            ),
            mu["email"],
        ),
        _comparison(
            cl,
            cll,
            "phone",
            _levels(
                cll,
                "phone_digits",
                [
                    ("exact", "phone_digits"),
                    # Only when the numbers are written differently (a local number, another
                    # country code): two full numbers that differ are two numbers.
                    (
                        "sql",
                        (
                            "phone_tail_l = phone_tail_r"
                            " AND length(phone_digits_l) <> length(phone_digits_r)",
                            "Same last 7 digits, written differently",
                        ),
                    ),
                ],
            ),
            mu["phone"],
        ),
    ]
    for f in fields:
        col = f"x_{f}"
        comparisons.append(
            _comparison(
                cl,
                cll,
                f,
                _levels(
                    cll,
                    col,
                    [("exact_tf" if f in (tf or set()) else "exact", col), ("jw", (col, 0.9))],
                ),
                mu["extra"],
            )
        )
    # Blocking: pairs must share one of these, so the work grows with block sizes, not n².
    # A shared name alone is never enough evidence at scale, so names only block together with
    # another value, and only where the phones cannot decide (one side has none).
    rules: list[Any] = [
        block_on("email_local"),
        block_on("phone_digits"),
        block_on("phone_tail"),
        "l.name_canon = r.name_canon AND l.email_domain = r.email_domain"
        " AND (l.phone_digits IS NULL OR r.phone_digits IS NULL)",
    ]
    # The same holds for a name and an extra attribute: at a million customers a 5-digit
    # postcode is shared by about ten people, so a common name and a postcode meet by chance
    # (1,266 false pairs in the benchmark, all with two different phones), while the pairs
    # only this rule can find are those with no phone on one side.
    rules += [
        f"l.name_canon = r.name_canon AND l.x_{f} = r.x_{f}"
        " AND (l.phone_digits IS NULL OR r.phone_digits IS NULL)"
        for f in fields
    ]
    share = float(params["expected_duplicate_share"])
    prior = min(0.5, 2 * share / max(n - 1, 1))
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        probability_two_random_records_match=prior,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
    )


def _build_features(con: Any, columns: dict[str, list[Any]], fields: list[str]) -> None:
    """Create the table ``cf_input`` (the model's input columns) on a DuckDB connection."""
    raw = pa.table(
        {
            k: pa.array(v, type=pa.int64() if k == "unique_id" else pa.string())
            for k, v in columns.items()
        }
    )
    con.register("cf_arrow", raw)
    con.execute("CREATE TABLE cf_raw AS SELECT * FROM cf_arrow")
    con.unregister("cf_arrow")
    del raw
    extra = "".join(f", nullif(lower(trim(x_{f})), '') AS x_{f}" for f in fields)
    nick = nickname_map()
    nick_map = "MAP {" + ", ".join(f"'{k}': '{v}'" for k, v in nick.items()) + "}"
    con.execute("CREATE TABLE cf_input AS " + FEATURES_SQL.format(extra=extra, nick_map=nick_map))
    con.execute("DROP TABLE cf_raw")


def export(
    columns: dict[str, list[Any]],
    *,
    fields: list[str],
    params: dict[str, Any],
    out_dir: Path,
    dialect: str = "spark",
) -> tuple[Path, Path]:
    """Write the model's input (``customers.parquet``) and its Splink settings for ``dialect``
    (``splink_settings.json``), so the same model runs on Spark or another Splink backend."""
    import duckdb

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
    con = duckdb.connect()
    try:
        _build_features(con, columns, fields)
        quoted = data.as_posix().replace("'", "''")
        con.execute(f"COPY cf_input TO '{quoted}' (FORMAT parquet)")
    finally:
        con.close()
    n = len(columns["unique_id"])
    tf = tf_fields(columns, fields, params)
    settings = splink_settings(fields, params, n, tf).create_settings_dict(dialect)
    settings_path.write_text(json.dumps(settings, indent=2))
    return data, settings_path


def score(
    columns: dict[str, list[Any]],
    *,
    fields: list[str],
    params: dict[str, Any],
    threshold: float,
    train: bool | None,
) -> Scored:
    """Run the model on DuckDB over ``columns`` (unique_id, name, email, phone, x_<field>)."""
    import duckdb
    from splink import DuckDBAPI, Linker

    n = len(columns["unique_id"])
    con = duckdb.connect()
    try:
        _build_features(con, columns, fields)
        db_api = DuckDBAPI(con)
        table = db_api.register("cf_input")
        settings = splink_settings(fields, params, n, tf_fields(columns, fields, params))
        linker = Linker(table, settings, log_level=None)
        logging.getLogger("splink").setLevel(logging.ERROR)
        trained = False
        wants_training = n >= int(params["min_records_to_train"]) if train is None else train
        if wants_training and n >= 2:
            # One pass over a fixed-size sample: the levels that are never seen at random have
            # their u fixed, so waiting for a minimum count of each would only cost time.
            linker.training.estimate_u_using_random_sampling(
                max_pairs=float(params["u_sample_pairs"]),
                seed=1,
                min_count_per_level=None,
                num_chunks=1,
            )
            trained = True
        started = time.perf_counter()
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        counted = con.execute(f"SELECT count(*) FROM {blocked.physical_name}").fetchall()
        compared = int(counted[0][0])
        blocking_seconds = time.perf_counter() - started
        predictions = linker.inference.predict(
            threshold_match_probability=threshold, warning_mode="never"
        )
        labels = {
            c.output_column_name: {
                lvl.comparison_vector_value: lvl.label_for_charts for lvl in c.comparison_levels
            }
            for c in linker._settings_obj.comparisons
        }
        names = list(labels)
        present = {r[0] for r in con.execute(f"DESCRIBE {predictions.physical_name}").fetchall()}
        # A field's weight is its level's plus, for a term-frequency level, the adjustment for
        # how common the shared value is.
        cols = ", ".join(
            f"gamma_{c}, mw_{c}"
            + (f" + coalesce(mw_tf_adj_{c}, 0)" if f"mw_tf_adj_{c}" in present else "")
            for c in names
        )
        rows = con.execute(
            f"SELECT unique_id_l, unique_id_r, match_probability, match_weight, {cols} "
            f"FROM {predictions.physical_name}"
        ).fetchall()
    finally:
        con.close()
    pairs = []
    for row in rows:
        evidence: dict[str, FieldEvidence] = {}
        for i, c in enumerate(names):
            gamma, mw = row[4 + 2 * i], row[5 + 2 * i]
            # model_construct: these values are ours and typed; validating 100,000s costs seconds.
            evidence[c] = FieldEvidence.model_construct(
                level=labels[c].get(int(gamma), str(gamma)), weight=round(float(mw), 3)
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
    return Scored(
        pairs=pairs,
        pairs_compared=compared,
        trained=trained,
        blocking_seconds=blocking_seconds,
        labels=labels,
    )
