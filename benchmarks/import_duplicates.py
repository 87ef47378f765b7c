"""How many distinct people an import refuses or flags as possible duplicates (issue 14).

Imports a ``benchmarks.generate`` file into a fresh SQLite database and reads its truth file.
Prints, as JSON, the rows refused (``--reject-duplicates``) or flagged (the default):

- by the truth's ``kind`` of the row (``original`` is the record the generator made first for
  a person; it is not always first in the file: the generator writes some near-duplicates
  before their original, and then the original is rightly a duplicate of that earlier row);
- ``false_alarms``: rows refused or flagged although none of the candidates they name is the
  same person (the same truth ``entity``): distinct people taken for duplicates;

and the import's time.

    python -m benchmarks.generate --rows 200000 --seed 7 --out /tmp/gen
    python -m benchmarks.import_duplicates /tmp/gen/customers.csv [--reject]

It runs the code on ``PYTHONPATH``; an older checkout's ``src`` measures the old rule (its
``ImportOptions`` has ``allow_duplicate`` instead of ``reject_duplicates``: ``--old``).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--reject", action="store_true", help="refuse likely duplicates")
    parser.add_argument("--old", action="store_true", help="the code has allow_duplicate")
    parser.add_argument("--keep", type=Path, help="keep the database here (a new file)")
    args = parser.parse_args()
    from customer_flow.data.imports import ImportOptions
    from customer_flow.hub import Hub

    truth_path = args.data.with_name(args.data.stem + ".truth.csv")
    with truth_path.open(newline="", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    kind = {int(t["row"]): t["kind"] for t in truth}
    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep or Path(tmp) / "t.db"
        rejects = Path(tmp) / "rejects.csv"
        if args.old:
            options = ImportOptions(rejects_path=rejects, allow_duplicate=not args.reject)
        else:
            options = ImportOptions(rejects_path=rejects, reject_duplicates=args.reject)
        with Hub.open(f"sqlite:///{db}", actor="bench") as hub:
            started = time.perf_counter()
            report = hub.import_file(args.data, options)
            seconds = time.perf_counter() - started
        refused: Counter[str] = Counter()
        refused_rows: dict[int, str] = {}
        if rejects.exists():
            with rejects.open(newline="", encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    if r["code"] == "possible_duplicate":
                        refused[kind[int(r["row"])]] += 1
                        refused_rows[int(r["row"])] = r["message"]
        # Flagged rows: the customers that keep a possible_duplicate warning, mapped back to
        # their rows: a row's ID is given, or the next one above every ID in the file, in row
        # order (every valid row is loaded when they are flagged).
        with sqlite3.connect(db) as conn:
            flagged_warnings = {
                i: json.loads(w)
                for i, w in conn.execute(
                    "SELECT id, warnings FROM customers WHERE warnings LIKE '%possible_duplicate%'"
                )
            }
            flagged_ids = set(flagged_warnings)
            ids = {i for (i,) in conn.execute("SELECT id FROM customers")}
        top = max((int(t["id"]) for t in truth if t["id"]), default=0)
        row_of: dict[int, int] = {}
        next_id = top
        seen_ids: set[int] = set()
        for t in truth:
            if t["status"] != "ok" or t["kind"] == "exact_duplicate":
                continue
            if t["id"]:
                cid = int(t["id"])
                if cid in seen_ids:
                    continue
            else:
                next_id += 1
                cid = next_id
            seen_ids.add(cid)
            row_of[cid] = int(t["row"])
        flagged: Counter[str] = Counter(
            kind[row_of[i]] if i in row_of else "?" for i in flagged_ids
        )
        if args.keep:
            (args.keep.with_suffix(".rows.json")).write_text(json.dumps(row_of))
        originals = sum(1 for t in truth if t["kind"] == "original" and t["status"] == "ok")
        entity = {int(t["row"]): t["entity"] for t in truth}
        entity_of_id = {cid: entity[r] for cid, r in row_of.items()}

        def named(message: str) -> set[str]:
            """The entities of the customers and rows a message names."""
            out = {entity_of_id.get(int(m), "?") for m in re.findall(r"customer (\d+)", message)}
            out |= {entity[int(m)] for m in re.findall(r"row (\d+) of this file", message)}
            return out

        false_flags = sum(
            1
            for cid, warnings in flagged_warnings.items()
            if cid in row_of
            and entity[row_of[cid]]
            not in set().union(
                *(named(w["message"]) for w in warnings if w["code"] == "possible_duplicate")
            )
        )
        false_refusals = sum(1 for r, m in refused_rows.items() if entity[r] not in named(m))
        print(
            json.dumps(
                {
                    "file": str(args.data),
                    "mode": "reject" if args.reject else "flag",
                    "rows_read": report.rows_read,
                    "imported": report.imported,
                    "rejected": report.rejected,
                    "possible_duplicates": report.possible_duplicates,
                    "refused_by_kind": dict(refused),
                    "flagged_by_kind": dict(flagged),
                    "originals_ok": originals,
                    "originals_refused_share": round(refused["original"] / originals, 5),
                    "originals_flagged_share": round(flagged["original"] / originals, 5),
                    "false_alarms": false_flags + false_refusals,
                    "false_alarm_share_of_originals": round(
                        (false_flags + false_refusals) / originals, 5
                    ),
                    "ids_mapped": len(row_of),
                    "ids_in_db": len(ids),
                    "seconds": round(seconds, 1),
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
