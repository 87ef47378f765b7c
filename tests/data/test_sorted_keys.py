"""``SortedKeys``: the hash-sorted arrays an import remembers its earlier rows in, checked
against a plain dictionary over random batches."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_flow.data import sorted_keys
from customer_flow.data.sorted_keys import SortedKeys

hashes = st.integers(min_value=0, max_value=2**64 - 1) | st.sampled_from([0, 1, 2**63, 2**64 - 1])
values = st.none() | st.integers(min_value=0, max_value=2**62)
batches = st.lists(st.lists(st.tuples(hashes, values), max_size=30), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    batches=batches,
    probe=st.lists(hashes, max_size=20),
    spill_rows=st.sampled_from([0, 7, 1_000_000]),
)
def test_lookup_finds_every_row_added_under_a_hash_and_nothing_else(
    batches: list[list[tuple[int, int | None]]], probe: list[int], spill_rows: int
) -> None:
    """In memory, and spilled to mapped files (from the start, or past a few rows)."""
    keys = SortedKeys(["v"], spill_rows=spill_rows)
    reference: dict[int, list[int | None]] = defaultdict(list)
    for batch in batches:
        keys.add(
            pl.DataFrame(
                {"h": [h for h, _ in batch], "v": [v for _, v in batch]},
                schema={"h": pl.UInt64, "v": pl.Int64},
            )
        )
        for h, v in batch:
            reference[h].append(v)
    asked = probe + [h for batch in batches for h, _ in batch[:3]]
    found = keys.lookup(pl.Series(asked, dtype=pl.UInt64))
    got: dict[int, list[int | None]] = defaultdict(list)
    for h, v in found.iter_rows():
        got[h].append(v)
    expected = {h: reference[h] for h in set(asked) if h in reference}
    assert {h: sorted(v, key=str) for h, v in got.items()} == {
        h: sorted(v, key=str) for h, v in expected.items()
    }
    assert len(keys) == sum(len(b) for b in batches)
    every = keys.rows()
    assert sorted(zip(every["h"], every["v"], strict=True), key=str) == sorted(
        ((h, v) for batch in batches for h, v in batch), key=str
    )
    sizes = [len(run) for run in keys.runs]
    assert all(older > newer for older, newer in pairwise(sizes))
    for run in keys.runs:
        assert list(run.arrays["h"]) == sorted(run.arrays["h"])


def test_past_the_limit_runs_live_in_files_merged_a_chunk_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs big enough to take several chunks of a merge into files hold what the same
    batches give in memory, row for row, and a lookup finds the same."""
    monkeypatch.setattr(sorted_keys, "_CHUNK", 1000)
    rng = np.random.default_rng(5)
    spilled = SortedKeys(["a", "b"], spill_rows=2500)
    plain = SortedKeys(["a", "b"], spill_rows=10**9)
    for size in (2000, 3000, 1, 4500, 700, 9000):
        h = rng.integers(0, 2**12, size=size, dtype=np.uint64)  # many shared hashes
        frame = pl.DataFrame(
            {"h": h, "a": rng.integers(0, 9, size=size), "b": np.arange(size)},
            schema={"h": pl.UInt64, "a": pl.Int64, "b": pl.Int64},
        )
        spilled.add(frame)
        plain.add(frame)
    assert spilled.spilled and not plain.spilled
    assert [len(r) for r in spilled.runs] == [len(r) for r in plain.runs]
    for mine, theirs in zip(spilled.runs, plain.runs, strict=True):
        for k, v in theirs.arrays.items():
            assert np.array_equal(mine.arrays[k], v)
    asked = pl.Series(rng.integers(0, 2**12, size=500, dtype=np.uint64))
    assert spilled.lookup(asked).equals(plain.lookup(asked))
    assert len(spilled.rows()) == len(spilled) == 19201


def test_a_batch_adds_a_run_and_equal_runs_merge() -> None:
    keys = SortedKeys(["v"])
    sizes = []
    for size in (4, 4, 4, 2, 1, 9):
        keys.add(
            pl.DataFrame(
                {"h": list(range(size)), "v": [1] * size}, schema={"h": pl.UInt64, "v": pl.Int64}
            )
        )
        sizes.append([len(r) for r in keys.runs])
    assert sizes == [[4], [8], [8, 4], [8, 4, 2], [8, 4, 2, 1], [24]]
