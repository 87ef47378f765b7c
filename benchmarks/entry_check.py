"""The duplicate check on entry at scale: one add against a database of N customers.

Builds (or reuses) a SQLite database of N customers from ``benchmarks.generate`` (clean values,
each with their person's postcode, loaded straight into the table as ``bench_dedupe.load`` does,
then their match keys built by ``duplicates.find.rebuild_keys``, what migration 0011 runs), and
times, for the next rows of the same generator:

- the check alone (``Hub.check_duplicates``: the keys, the candidates from ``match_keys``, the
  scoring), and
- a whole add (``Hub.add_customer``: the check, the insert, its audit entry, its keys and its
  search index entry, one transaction), likely duplicates allowed so that every add writes.

    python -m benchmarks.entry_check --customers 1000000 --queries 2000 --db /tmp/entry_1m.db

Prints one JSON object: p50, p95, p99 and max in ms, candidates per check, rows flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

SEED = 7


def _build(path: Path, customers: int) -> float:
    from benchmarks.bench_dedupe import load
    from customer_flow.duplicates.find import rebuild_keys
    from customer_flow.store.engine import Store

    started = time.perf_counter()
    load(path, int(customers * 1.05) + 10, SEED, limit=customers, postcodes=True)
    store = Store(f"sqlite:///{path}")
    try:
        with store.write() as conn:
            rebuild_keys(conn)
    finally:
        store.close()
    return time.perf_counter() - started


def _queries(customers: int, queries: int) -> list[tuple[str, str | None, str | None, str]]:
    """Rows of the same generator run that come after the first ``customers`` loaded ones: new
    customers, some of them near-duplicates of people already in the database."""
    from benchmarks.bench_dedupe import _clean_rows, postcode

    out = []
    seen: set[int] = set()
    for cid, name, email, phone, entity in _clean_rows(int(customers * 1.05) + 10, SEED):
        if len(seen) < customers:
            seen.add(cid)
            continue
        if cid in seen:
            continue
        out.append((name, email, phone, postcode(SEED, entity)))
        if len(out) >= queries:
            break
    return out


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": at(1.0)}


def measure(db: Path, customers: int, queries: int) -> dict[str, object]:
    """Time ``queries`` checks, then ``queries`` adds, on the database at ``db``."""
    from customer_flow.customers.models import CustomerCreate
    from customer_flow.hub import Hub

    asked = _queries(customers, 2 * queries)
    checks, adds, candidates, flagged = [], [], [], 0
    with Hub.open(f"sqlite:///{db}", actor="bench") as hub:
        n = hub.count_customers()
        for name, email, phone, code in asked[:queries]:
            started = time.perf_counter()
            found = hub.check_duplicates(name, email, phone, extra={"postcode": code})
            checks.append(time.perf_counter() - started)
            candidates.append(len(found))
        for i, (name, email, phone, code) in enumerate(asked[queries:]):
            new = CustomerCreate(
                name=name,
                email=f"bench{i}.{email}" if email else None,  # emails are unique
                phone=phone,
                extra={"postcode": code},
            )
            started = time.perf_counter()
            added = hub.add_customer(new, allow_duplicate=True)
            adds.append(time.perf_counter() - started)
            flagged += any(w.code == "possible_duplicate" for w in added.warnings)
    return {
        "customers": n,
        "check": _ms(checks),
        "add": _ms(adds),
        "checks_with_a_candidate": sum(1 for c in candidates if c),
        "mean_candidates_named": round(statistics.mean(candidates), 3),
        "adds_flagged": flagged,
        "queries": queries,
        "load_average": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    built = None
    if not args.db.exists():
        built = _build(args.db, args.customers)
    result = measure(args.db, args.customers, args.queries)
    result["built_seconds"] = round(built, 1) if built is not None else None
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
