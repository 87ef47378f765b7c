"""``SortedKeys``: the hash-sorted arrays an import remembers its earlier rows in, checked
against a plain dictionary over random batches."""

from __future__ import annotations

from collections import defaultdict

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_flow.sorted_keys import SortedKeys

hashes = st.integers(min_value=0, max_value=2**64 - 1) | st.sampled_from([0, 1, 2**63, 2**64 - 1])
values = st.none() | st.integers(min_value=0, max_value=2**62)
batches = st.lists(st.lists(st.tuples(hashes, values), max_size=30), max_size=6)


@settings(max_examples=200, deadline=None)
@given(batches=batches, probe=st.lists(hashes, max_size=20))
def test_lookup_finds_every_row_added_under_a_hash_and_nothing_else(
    batches: list[list[tuple[int, int | None]]], probe: list[int]
) -> None:
    keys = SortedKeys(["v"])
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
    assert list(keys.h) == sorted(keys.h)
