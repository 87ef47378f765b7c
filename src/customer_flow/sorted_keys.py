"""What an import remembers of the rows before the batch at hand, kept small and looked up fast.

An import of millions of rows must remember, batch after batch, the first row of each group it
has seen (of each exact row, for ``duplicate_row``; of each email, phone and name key, for
``possible_duplicate``). A Polars frame joined against each batch rebuilt a hash table of all
of it every batch, which made an import quadratic in its length, and kept the key strings.
``SortedKeys`` keeps the 64-bit hash of each key and a few integers, in numpy arrays sorted by
the hash: a batch looks its keys up by binary search, and new groups are merged in, in linear
time, with no per-row Python object.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["NONE", "SortedKeys"]

#: A missing integer in the arrays (null in the frames).
NONE = -1


class SortedKeys:
    """Rows of ``h`` (a UInt64 key hash) and Int64 ``columns``, sorted by ``h``; several rows
    may share a hash."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.h = np.empty(0, dtype=np.uint64)
        self.values = {c: np.empty(0, dtype=np.int64) for c in columns}

    def __len__(self) -> int:
        return len(self.h)

    @property
    def nbytes(self) -> int:
        return self.h.nbytes + sum(v.nbytes for v in self.values.values())

    def lookup(self, hashes: pl.Series) -> pl.DataFrame:
        """``h`` and the columns of every row whose hash is among ``hashes``."""
        q = np.unique(hashes.drop_nulls().to_numpy())
        lo = np.searchsorted(self.h, q, side="left")
        n = np.searchsorted(self.h, q, side="right") - lo
        starts, n = lo[n > 0], n[n > 0]
        at = np.repeat(starts, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
        frame = pl.DataFrame(
            {"h": self.h[at], **{c: v[at] for c, v in self.values.items()}},
            schema={"h": pl.UInt64, **dict.fromkeys(self.columns, pl.Int64)},
        )
        return frame.with_columns(pl.col(c).replace(NONE, None) for c in self.columns)

    def add(self, rows: pl.DataFrame) -> None:
        """Merge in ``rows`` (``h`` and the columns; nulls allowed)."""
        if rows.height == 0:
            return
        rows = rows.sort("h")
        h = rows["h"].to_numpy()
        at = np.searchsorted(self.h, h)
        self.h = np.insert(self.h, at, h)
        for c in self.columns:
            self.values[c] = np.insert(self.values[c], at, rows[c].fill_null(NONE).to_numpy())
