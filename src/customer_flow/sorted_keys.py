"""What an import remembers of the rows before the batch at hand, kept small and looked up fast.

An import of millions of rows must remember, batch after batch, the first row of each group it
has seen (of each exact row, for ``duplicate_row``; of each email, phone and name key, for
``possible_duplicate``). A Polars frame joined against each batch rebuilt a hash table of all
of it every batch, which made an import quadratic in its length, and kept the key strings.
``SortedKeys`` keeps the 64-bit hash of each key and a few integers, in numpy arrays sorted by
the hash: a batch looks its keys up by binary search, and new groups are merged in, in linear
time, with no per-row Python object.

Beyond ``SPILL_ROWS`` rows the arrays move to unlinked temporary files, mapped into memory, and
their pages are handed back to the kernel after each lookup and merge: what a long import
remembers then costs disk and page cache, which the kernel reclaims under pressure, not
resident memory that grows with the file.
"""

from __future__ import annotations

import mmap
import tempfile

import numpy as np
import polars as pl

__all__ = ["NONE", "SPILL_ROWS", "SortedKeys"]

#: A missing integer in the arrays (null in the frames).
NONE = -1
#: Rows kept in plain memory (about 16-32 MB a structure); more go to a mapped file.
SPILL_ROWS = 1_000_000
#: Rows of the old arrays moved per step of a merge into files (bounds its own memory).
_CHUNK = 1 << 20


class SortedKeys:
    """Rows of ``h`` (a UInt64 key hash) and Int64 ``columns``, sorted by ``h``; several rows
    may share a hash."""

    def __init__(self, columns: list[str], *, spill_rows: int = SPILL_ROWS) -> None:
        self.columns = columns
        self.spill_rows = spill_rows
        self.h = np.empty(0, dtype=np.uint64)
        self.values = {c: np.empty(0, dtype=np.int64) for c in columns}
        self._maps: list[mmap.mmap] = []  # the mappings of spilled arrays

    def __len__(self) -> int:
        return len(self.h)

    @property
    def nbytes(self) -> int:
        return self.h.nbytes + sum(v.nbytes for v in self.values.values())

    @property
    def spilled(self) -> bool:
        return bool(self._maps)

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
        self._release()
        return frame.with_columns(pl.col(c).replace(NONE, None) for c in self.columns)

    def add(self, rows: pl.DataFrame) -> None:
        """Merge in ``rows`` (``h`` and the columns; nulls allowed)."""
        if rows.height == 0:
            return
        rows = rows.sort("h")
        h = rows["h"].to_numpy()
        at = np.searchsorted(self.h, h)
        new = {c: rows[c].fill_null(NONE).to_numpy() for c in self.columns}
        if not self.spilled and len(self.h) + len(h) <= self.spill_rows:
            self.h = np.insert(self.h, at, h)
            for c in self.columns:
                self.values[c] = np.insert(self.values[c], at, new[c])
            return
        self._merge_to_files(at, h, new)

    def _merge_to_files(self, at: np.ndarray, h: np.ndarray, new: dict[str, np.ndarray]) -> None:
        """``np.insert``'s merge, written into fresh mapped files a chunk at a time."""
        old = {"h": self.h, **self.values}
        fresh = {"h": h, **new}
        total = len(self.h) + len(h)
        maps: list[mmap.mmap] = []
        out = {k: _mapped(v.dtype, total, maps) for k, v in old.items()}
        # Row j of the batch lands before old row at[j]: at at[j] + j. Old row i moves down by
        # the number of batch rows that land before it.
        placed = at + np.arange(len(h))
        for k, v in fresh.items():
            out[k][placed] = v
        for start in range(0, len(self.h), _CHUNK):
            i = np.arange(start, min(start + _CHUNK, len(self.h)))
            to = i + np.searchsorted(at, i, side="right")
            for k, v in old.items():
                out[k][to] = v[i]
            _drop(maps)
        self.h = out["h"]
        self.values = {c: out[c] for c in self.columns}
        self._maps = maps  # the old mappings go with their last array
        self._release()

    def _release(self) -> None:
        _drop(self._maps)


def _mapped(dtype: np.dtype, n: int, maps: list[mmap.mmap]) -> np.ndarray:
    """A zeroed array of ``n`` items in an unlinked temporary file, mapped: gone from the disk
    once nothing maps it."""
    size = max(n, 1) * dtype.itemsize
    with tempfile.TemporaryFile(prefix="customer-flow-keys-") as fh:
        fh.truncate(size)
        mapping = mmap.mmap(fh.fileno(), size)
    maps.append(mapping)
    return np.frombuffer(mapping, dtype=dtype, count=n)


def _drop(maps: list[mmap.mmap]) -> None:
    """Hand the mapped pages back to the kernel: touched again, they are read back from the
    page cache or the file (a shared file mapping loses nothing), and until then they do not
    count as the process's memory."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return
    for mapping in maps:
        mapping.madvise(mmap.MADV_DONTNEED)
