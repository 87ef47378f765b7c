"""One model, one rule: the check on entry (Python), the import's check (DuckDB) and
``duplicates find`` (Splink) put every pair in the same levels and give it the same verdict.

On labelled data: FEBRL2 (names, dates of birth, addresses) and ``benchmarks.generate`` data
(names, emails, phones, a postcode), every pair ``find`` compares."""

from __future__ import annotations

import random
from typing import Any

import polars as pl
import pytest
from benchmarks.labelled import load_febrl, load_generated

from customer_flow.data.duplicate_check import score_pairs
from customer_flow.duplicates import model as dedupe_model
from customer_flow.duplicates.features import KINDS, features_frame, features_one
from customer_flow.duplicates.find import load_params
from customer_flow.duplicates.scorer import ActiveModel, Scorer, keys_of

pytestmark = pytest.mark.slow


def _frame(which: str) -> tuple[pl.DataFrame, list[str]]:
    if which == "febrl2":
        return load_febrl(2), ["dob", "postcode", "address", "suburb", "state"]
    return load_generated(3000, 7, postcodes=True), ["email", "phone", "postcode"]


def _columns(frame: pl.DataFrame, fields: list[str]) -> dict[str, list[Any]]:
    cols = {c: frame[c].to_list() for c in ("unique_id", "name", "email", "phone")}
    cols.update({f: frame[f].to_list() for f in fields if f in KINDS})
    return cols


@pytest.fixture(scope="module", params=["febrl2", "generated"])
def scored(request: pytest.FixtureRequest) -> Any:
    frame, fields = _frame(request.param)
    params = load_params()
    found = dedupe_model.score(
        _columns(frame, fields),
        fields=fields,
        params=params,
        threshold=0.0,  # every pair the blocking rules pick
        train_mode="shipped",
        usable=set(fields),
    )
    return frame, fields, params, found


def _features(frame: pl.DataFrame, fields: list[str]) -> dict[int, dict[str, Any]]:
    extra = [f for f in fields if f in KINDS]
    return {
        r["unique_id"]: features_one(
            r["name"], r["email"], r["phone"], {f: r[f] for f in extra}, r["unique_id"]
        )
        for r in frame.iter_rows(named=True)
    }


def test_python_levels_and_weights_agree_with_splink_on_every_pair(scored: Any) -> None:
    """The scorer of the check on entry, with the parameters find used, gives every pair find
    compared the same level per field, the same weight and the same verdict."""
    frame, fields, params, found = scored
    assert len(found.pairs) > 150
    feats = _features(frame, fields)
    n = frame.height
    scorer = Scorer(ActiveModel(fields=fields, mu=found.mu), n, params["expected_duplicate_share"])
    threshold = params["default_threshold"]
    for pair in found.pairs:
        left, right = feats[pair.a], feats[pair.b]
        explained = scorer.explain(left, right)
        assert {k: v.level for k, v in explained.items()} == {
            k: v.level for k, v in pair.explanation.items()
        }, (pair.a, pair.b)
        weight = scorer.weight(left, right)
        assert weight == pytest.approx(pair.weight, abs=2e-3)
        assert (scorer.probability(weight) >= threshold) == (pair.probability >= threshold)
    flagged = [p for p in found.pairs if p.probability >= threshold]
    assert len(flagged) > 50 and len(flagged) < len(found.pairs)


def test_every_pair_find_compares_shares_a_key(scored: Any) -> None:
    """The check on entry looks a customer's candidates up by the blocking keys: every pair
    find compared shares one, so the check on entry sees it too."""
    frame, fields, _params, found = scored
    feats = _features(frame, fields)
    rules = dedupe_model.blocking_rules(fields)
    keys = {i: set(keys_of(f, rules)) for i, f in feats.items()}
    assert all(keys[p.a] & keys[p.b] for p in found.pairs)


def test_the_import_scores_pairs_as_find_does(scored: Any) -> None:
    """The import's check (the levels' SQL in DuckDB, on the features of whole batches) gives
    the same levels and weights."""
    frame, fields, params, found = scored
    extra = [f for f in fields if f in KINDS]
    feats = features_frame(frame.select("unique_id", "name", "email", "phone", *extra), extra)
    pairs = pl.DataFrame(
        {
            "row": [p.b for p in found.pairs],
            "c_rank": [p.a for p in found.pairs],
            "n": [frame.height] * len(found.pairs),
        },
        schema={"row": pl.Int64, "c_rank": pl.Int64, "n": pl.Int64},
    )
    comparisons = dedupe_model.comparisons(fields)
    weights = dedupe_model.weights(found.mu)
    out = score_pairs(
        pairs, feats, feats, comparisons, weights, params["expected_duplicate_share"]
    ).sort("row", "c_rank")
    want = sorted(found.pairs, key=lambda p: (p.b, p.a))
    for got, pair in zip(out.iter_rows(named=True), want, strict=True):
        levels = {
            c.name: "missing" if got[f"g_{c.name}"] < 0 else c.labels[got[f"g_{c.name}"]]
            for c in comparisons
        }
        assert levels == {k: v.level for k, v in pair.explanation.items()}
        assert got["weight"] == pytest.approx(pair.weight, abs=2e-3)


def test_duckdb_string_functions_are_rapidfuzz_s() -> None:
    """DuckDB's jaro_winkler_similarity and damerau_levenshtein (Splink's and the import's)
    equal RapidFuzz's (the check on entry's) on random strings, and the textbook values."""
    import duckdb
    from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

    rng = random.Random(3)
    words = [
        "".join(rng.choice("abcdeéxyz") for _ in range(rng.randint(1, 9))) for _ in range(3000)
    ]
    pairs = [*list(zip(words[::2], words[1::2], strict=True)), ("martha", "marhta")]
    con = duckdb.connect()
    got = con.execute(
        "SELECT jaro_winkler_similarity(a, b), damerau_levenshtein(a, b) "
        "FROM (SELECT unnest(?) AS a, unnest(?) AS b)",
        [[a for a, _ in pairs], [b for _, b in pairs]],
    ).fetchall()
    for (a, b), (jw, dl) in zip(pairs, got, strict=True):
        assert jw == pytest.approx(JaroWinkler.similarity(a, b), abs=1e-9), (a, b)
        assert dl == DamerauLevenshtein.distance(a, b), (a, b)
    assert round(got[-1][0], 3) == 0.961


def test_different_first_name_with_one_birth_date_keeps_its_shipped_weight() -> None:
    """The "different, same birth date" level exists only where a birth date is compared; its
    m and u are the plain "different" level's and training never changes them (it would count
    the birth date twice); a stored model trained for other levels falls back to the shipped."""
    params = load_params()
    (plain,) = [c for c in dedupe_model.comparisons(["email"]) if c.name == "first_name"]
    (with_dob,) = [c for c in dedupe_model.comparisons(["dob"]) if c.name == "first_name"]
    assert "different, same birth date" not in plain.labels
    assert with_dob.labels[-2:] == ["different, same birth date", "different"]
    shipped = dedupe_model.mu_of([with_dob], params)["first_name"]
    trained = {"first_name": [[0.5, 0.5]] * len(shipped)}
    mu = dedupe_model.mu_of([with_dob], params, trained)["first_name"]
    assert mu[-2] == shipped[-2] == params["comparisons"]["first_name"][-1]
    assert mu[0] == [0.5, 0.5]  # the other levels take what training found
    assert mu[-1][0] == dedupe_model.FIRST_NAME_DIFFERENT_M  # the veto stays
    stale = {"first_name": [[0.5, 0.5]] * (len(shipped) - 1)}
    assert dedupe_model.mu_of([with_dob], params, stale)["first_name"] == shipped
