"""Import speed and memory: a messy customer CSV -> clean -> validate -> SQLite, end to end.

Each contender runs in a child process of its own, so its peak memory is its own (the child's
max RSS from ``wait4``) and its time includes starting Python and importing its libraries:

- ours: ``Hub.import_file`` on a fresh migrated database (atomic, one transaction), with
  the default (every valid row is loaded, and the ones that look like an earlier row
  are flagged: what the generator's truth expects) and with --reject-duplicates (those rows
  rejected as ``possible_duplicate``); the duplicate check runs in both;
- floor: a bare ``polars.read_csv`` of the same file plus a bare ``executemany`` of its rows into
  SQLite in one transaction, (a) into a plain table, as the issue defines it, and (b) into our
  ``customers`` table with its indexes, which is what storing these rows costs at all;
- peer: ``sqlite-utils insert --csv``, what a user would otherwise pick;
- PostgreSQL: ours into a fresh PostgreSQL database (COPY), when a server is reachable.

Then the memory check: a file ``BENCH_BIG_ROWS`` long (default 5,000,000; 0 skips it) must
import in no more memory than the 1,000,000-row one, give or take: memory stays flat.

    BENCH_ROWS=100000 BENCH_BIG_ROWS=0 python -m benchmarks.run import
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

from benchmarks.generate import generate
from benchmarks.run import Report

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
BIG_ROWS = int(os.environ.get("BENCH_BIG_ROWS", "5000000"))
PG_URL = os.environ.get("CUSTOMER_FLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEED = 42

OURS = """
import json, sys, threading, time
from pathlib import Path
peak = {"RssAnon": 0, "RssFile": 0}
def sample():  # what the peak RSS is made of: private memory, and mapped files' pages
    while True:
        with open("/proc/self/status") as fh:
            for line in fh:
                key = line.split(":")[0]
                if key in peak:
                    peak[key] = max(peak[key], int(line.split()[1]))
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
from customer_flow.hub import Hub
from customer_flow.data.imports import ImportOptions
hub = Hub.open(sys.argv[1], actor="bench", default_region="US")
t1 = time.perf_counter()
reject = sys.argv[4] != "allow"
report = hub.import_file(
    Path(sys.argv[2]), ImportOptions(rejects_path=Path(sys.argv[3]), reject_duplicates=reject)
)
t2 = time.perf_counter()
server = None
if sys.argv[1].startswith("postgresql"):
    # The server's CPU for this import: the backends of the bench's own database (the pool's
    # connections, still open: the import's and those that reserved its IDs).
    import os
    with hub.store.read() as conn:
        pids = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).scalars().all()
    server = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # a backend that has ended since
            continue
        server += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
print(json.dumps({"seconds": t2 - t1, "server_cpu": server, "setup": t1 - t0,
                  "imported": report.imported,
                  "rejected": report.rejected, "rows": report.rows_read,
                  "duplicates": report.possible_duplicates, "accounted": report.accounted,
                  "anon_mb": peak["RssAnon"] / 1024, "file_mb": peak["RssFile"] / 1024}))
"""

FLOOR = """
import json, sqlite3, sys, time
import polars as pl
t0 = time.perf_counter()
df = pl.read_csv(sys.argv[2], infer_schema=False)
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL"); con.execute("PRAGMA synchronous=NORMAL")
if sys.argv[3] == "plain":
    con.execute("CREATE TABLE floor (r INTEGER, id TEXT, name TEXT, email TEXT, phone TEXT)")
    sql = "INSERT INTO floor VALUES (?, ?, ?, ?, ?)"
    rows = df.with_row_index("r").iter_rows()
else:
    con.execute("PRAGMA cache_size=-262144")
    stamp = "2026-01-01 00:00:00.000000"
    sql = ("INSERT OR IGNORE INTO customers (id, name, email, email_key, phone, extra, warnings,"
           " warning_count, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '{}', '[]', 0, ?, ?)")
    rows = ((i + 1, n or "", e, e.lower() if e else None, p, stamp, stamp)
            for i, (_, n, e, p) in enumerate(df.iter_rows()))
con.execute("BEGIN")
con.executemany(sql, rows)
con.execute("COMMIT")
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""

# Floor (c): what our import stored (its customers, their IDs, duplicate keys, search rows and
# audit entries), written again into a fresh database by SQL alone, the way the import writes
# them into an empty table (the random-key indexes dropped and built again at the end, the keys
# in key order), in one transaction. No Python touches a row: the least any import that keeps
# these rows, keys and index inside its transaction can spend on writing them.
STORED = """
import json, sqlite3, sys, time
t0 = time.perf_counter()
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL"); con.execute("PRAGMA synchronous=NORMAL")
con.execute("PRAGMA foreign_keys=ON"); con.execute("PRAGMA cache_size=-65536")
con.execute("ATTACH ? AS src", (sys.argv[2],))
con.execute("BEGIN IMMEDIATE")
steps = {}
def step(name, *sqls):
    t = time.perf_counter()
    for sql in sqls:
        con.execute(sql)
    steps[name] = steps.get(name, 0) + time.perf_counter() - t
found = con.execute(
    "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND name IN "
    "('uq_customers_live_email', 'ix_customers_name_id', 'ix_match_keys_customer_id')"
).fetchall()
step("drop indexes", *(f'DROP INDEX main."{name}"' for name, _ in found))
step("customers", "INSERT INTO main.customers SELECT * FROM src.customers ORDER BY id",
     "INSERT INTO main.customer_ids SELECT * FROM src.customer_ids ORDER BY id")
step("keys", "INSERT INTO main.match_keys SELECT * FROM src.match_keys "
     "ORDER BY kind, value, customer_id")
step("audit", "INSERT INTO main.audit_log SELECT * FROM src.audit_log "
     "WHERE id > (SELECT coalesce(max(id), 0) FROM main.audit_log) ORDER BY id")
con.execute("PRAGMA cache_size=-262144")
step("indexes", *(sql for _, sql in found))
step("search", "INSERT INTO main.customer_search SELECT * FROM src.customer_search ORDER BY id",
     "INSERT INTO main.customer_search_fts (rowid, name, email, phone) "
     "SELECT id, name, email, phone FROM main.customer_search ORDER BY id")
step("commit", "COMMIT")
print(json.dumps({"seconds": time.perf_counter() - t0, "steps": steps}))
"""


LAUNCH = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = proc.communicate()
wall = time.perf_counter() - started
import resource
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write(err.decode()[-2000:])
print(out.decode())
print(json.dumps({"__wall": wall, "__rss_kb": usage.ru_maxrss, "__rc": proc.returncode,
                  "__cpu": usage.ru_utime + usage.ru_stime, "__load": os.getloadavg()[0]}))
"""


def _child(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd``; its wall time, its own peak RSS, and the JSON it printed (if any).

    A small launcher process starts it: a child forked straight from this (large) process
    would report this process's memory as its own high-water mark."""
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCH, *cmd], capture_output=True, text=True, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    meta = json.loads(lines[-1])
    if meta["__rc"] != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({meta['__rc']}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-2]) if len(lines) > 1 else {}
    result.update(
        wall=meta["__wall"], rss_mb=meta["__rss_kb"] / 1024, cpu=meta["__cpu"], load=meta["__load"]
    )
    return result


def _template(work: Path) -> Path:
    from customer_flow.store.engine import Store

    path = work / "template.db"
    Store(f"sqlite:///{path}").close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _fresh(template: Path, name: str) -> Path:
    path = template.with_name(name)
    shutil.copy(template, path)
    return path


def _pg_database() -> tuple[str, Any] | None:
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin = create_engine(
            PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        name = f"cf_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        return url, drop
    except Exception:
        return None


def _ours(db_url: str, data: Path, work: Path, mode: str = "allow") -> dict[str, Any]:
    rejects = str(work / f"rejects-{mode}.csv")
    return _child([sys.executable, "-c", OURS, db_url, str(data), rejects, mode])


def _stored(template: Path, ours_db: Path, name: str) -> dict[str, Any]:
    """Floor (c) for the database our import wrote (``STORED``)."""
    return _child([sys.executable, "-c", STORED, str(_fresh(template, name)), str(ours_db)])


def _bounds(ours: dict[str, Any], stored: dict[str, Any]) -> str:
    """What the figures say a run of our import could reach at best on this machine."""
    cores = os.cpu_count() or 1
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in stored["steps"].items())
    return (
        f"Floor (c), what our import stored written again by SQL alone: {stored['seconds']:.2f} s "
        f"inside its process ({steps}). Our import used {ours['cpu']:.1f} s of CPU: spread "
        f"perfectly over this machine's {cores} cores that is {ours['cpu'] / cores:.1f} s of "
        f"wall time at the least."
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _targets(ours: dict[str, Any], peer: dict[str, Any], pg: dict[str, Any] | None) -> str:
    """Issue 19's targets for the big file, each beside its figure."""
    ratio = ours["wall"] / peer["wall"]
    parts = [
        f"Targets (issue 19): SQLite ≤ 20 s wall → {_met(ours['wall'] <= 20)} "
        f"({ours['wall']:.2f} s); faster than `sqlite-utils insert --csv`, ratio < 0.75 → "
        f"{_met(ratio < 0.75)} ({ratio:.2f}x); ≤ 1 GB → {_met(ours['rss_mb'] <= 1024)} "
        f"({ours['rss_mb']:.0f} MB)"
    ]
    if pg is not None:
        parts.append(
            f"PostgreSQL ≤ 30 s wall → {_met(pg['wall'] <= 30)} ({pg['wall']:.2f} s wall; "
            f"client {pg['cpu']:.1f} s CPU, server backend {pg['server_cpu']:.1f} s CPU: "
            f"together, spread perfectly over {os.cpu_count() or 1} cores, "
            f"{(pg['cpu'] + pg['server_cpu']) / (os.cpu_count() or 1):.1f} s at the least)"
        )
    return "; ".join(parts) + "."


TYPICAL_ROWS = int(os.environ.get("BENCH_TYPICAL_ROWS", "100000"))


def _typical(work: Path, template: Path) -> list[str]:
    """A typical file: the whole ``customer-flow import`` command, from its start, beside
    ``sqlite-utils insert --csv`` of the same file (issue 19: ≤ 3 s)."""
    made = generate(TYPICAL_ROWS, SEED + 1, work / "typical")
    cli = Path(sys.executable).with_name("customer-flow")
    db = _fresh(template, "typical.db")
    ours = _child([str(cli), "--db", f"sqlite:///{db}", "import", str(made.data)])
    stored = _stored(template, db, "typical-stored.db")
    peer = _child(
        [
            str(Path(sys.executable).with_name("sqlite-utils")),
            "insert",
            str(work / "typical-peer.db"),
            "customers",
            str(made.data),
            "--csv",
        ]
    )
    return [
        "",
        f"A typical file, {TYPICAL_ROWS:,} rows of the same generator (seed {SEED + 1}), the "
        f"whole `customer-flow import` command from its start: {ours['wall']:.2f} s wall, "
        f"{ours['cpu']:.1f} s CPU, {ours['rss_mb']:.0f} MB, against `sqlite-utils insert "
        f"--csv` {peer['wall']:.2f} s ({ours['wall'] / peer['wall']:.2f}x). Target ≤ 3 s → "
        f"{_met(ours['wall'] <= 3)}.",
        _bounds(ours, stored),
    ]


LINEAR_ROWS = int(os.environ.get("BENCH_LINEAR_ROWS", "2000000"))


def _linear(work: Path, template: Path, ours: dict[str, Any], data: Path) -> list[str]:
    """2M rows against 1M, on this generator and on another (``generate_unique``: every email
    unique, so every row is a new customer): issue 19 wants ≤ 2.3x."""
    if not LINEAR_ROWS:
        return []
    from benchmarks import generate_unique

    out = [
        "",
        f"Linear in the rows ({LINEAR_ROWS:,} against {ROWS:,}; target ≤ "
        f"{2.3 * LINEAR_ROWS / (2 * ROWS):.1f}x):",
        "",
    ]
    out += [
        "| file | rows | time | CPU | peak memory | load | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    small_u = generate_unique.generate(ROWS, work / "unique" / "small.csv")
    big_u = generate_unique.generate(LINEAR_ROWS, work / "unique" / "big.csv")
    u1 = _ours(f"sqlite:///{_fresh(template, 'u1.db')}", small_u, work)
    small_u.unlink()
    u2 = _ours(f"sqlite:///{_fresh(template, 'u2.db')}", big_u, work)
    big_u.unlink()
    big = generate(LINEAR_ROWS, SEED, work / "linear")
    g2 = _ours(f"sqlite:///{_fresh(template, 'g2.db')}", big.data, work)
    big.data.unlink()
    limit = 2.3 * LINEAR_ROWS / (2 * ROWS)
    for label, one, two in (
        ("`generate.py` (messy, seed 42)", ours, g2),
        ("`generate_unique.py` (every email unique)", u1, u2),
    ):
        ratio = two["wall"] / one["wall"]
        for r, n in ((one, ROWS), (two, LINEAR_ROWS)):
            out.append(
                f"| {label} | {n:,} | {r['wall']:.2f} s | {r['cpu']:.1f} s | "
                f"{r['rss_mb']:.0f} MB | {r['load']:.1f} | "
                + (f"{ratio:.2f}x → {_met(ratio <= limit)} |" if r is two else "1.00x |")
            )
    return out


def run(report: Report) -> None:
    work = Path(tempfile.mkdtemp(prefix="cf-bench-import-"))
    try:
        _run(report, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(report: Report, work: Path) -> None:
    made = generate(ROWS, SEED, work / "gen")
    mb = made.data.stat().st_size / 1e6
    template = _template(work)
    ours = _ours(f"sqlite:///{_fresh(template, 'ours.db')}", made.data, work)
    stored = _stored(template, work / "ours.db", "stored.db")
    refused = _ours(f"sqlite:///{_fresh(template, 'ours2.db')}", made.data, work, "default")
    plain = _child([sys.executable, "-c", FLOOR, str(work / "floor.db"), str(made.data), "plain"])
    schema = _child(
        [sys.executable, "-c", FLOOR, str(_fresh(template, "floor2.db")), str(made.data), "schema"]
    )
    peer_cli = Path(sys.executable).with_name("sqlite-utils")
    peer = _child(
        [str(peer_cli), "insert", str(work / "peer.db"), "customers", str(made.data), "--csv"]
    )
    with open(made.truth, encoding="utf-8") as fh:
        expected_ok = sum(1 for line in fh if ",ok," in line)
    lines = [
        f"File: {ROWS:,} rows, {mb:.0f} MB, seeded messy (`benchmarks/generate.py`, seed {SEED}).",
        "Times are whole child processes (Python start and imports included); CPU is the "
        "child's user + system time (all its threads), steadier than wall time on a shared "
        "machine; memory is each child's own peak RSS; load is the 1-minute load average when "
        "the child ended.",
        "",
        "| contender | time | CPU | peak memory | load | ratio to floor (a) | ratio to floor (b) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, r: dict[str, Any]) -> str:
        return (
            f"| {label} | {r['wall']:.2f} s | {r['cpu']:.1f} s | {r['rss_mb']:.0f} MB | "
            f"{r['load']:.1f} | {r['wall'] / plain['wall']:.2f}x | "
            f"{r['wall'] / schema['wall']:.2f}x |"
        )

    lines.append(
        row("**customer-flow import → SQLite** (clean, validate, load; duplicates flagged)", ours)
    )
    lines.append(
        row(
            "customer-flow import --reject-duplicates → SQLite (possible duplicates rejected)",
            refused,
        )
    )
    lines.append(row("floor (a): `polars.read_csv` + bare `executemany`, plain table", plain))
    lines.append(row("floor (b): the same into our `customers` table and indexes", schema))
    lines.append(
        row(
            "floor (c): what our import stored (rows, IDs, keys, search index, audit) written "
            "again by SQL alone, as the import writes them",
            stored,
        )
    )
    lines.append(row("peer: `sqlite-utils insert --csv` (no cleaning)", peer))
    pg_run: dict[str, Any] | None = None
    pg = _pg_database()
    if pg is not None:
        url, drop = pg
        try:
            from customer_flow.store.engine import Store

            Store(url).close()
            pg_run = _ours(url, made.data, work)
            lines.append(
                row(
                    f"customer-flow import → PostgreSQL (COPY; the server's backend "
                    f"{pg_run['server_cpu']:.1f} s CPU besides)",
                    pg_run,
                )
            )
        finally:
            drop()
    held = refused["imported"] + refused["duplicates"]
    lines += [
        "",
        f"Inside the import call (duplicates flagged): {ours['seconds']:.2f} s for "
        f"{ours['rows']:,} rows ({ours['rows'] / ours['seconds']:,.0f} rows/s); "
        f"{ours['imported']:,} imported, {ours['rejected']:,} rejected, "
        f"{ours['duplicates']:,} flagged as possible duplicates; every row accounted for: "
        f"{ours['accounted']}. The generator's truth expects {expected_ok:,} imported: "
        f"{'agrees' if expected_ok == ours['imported'] else 'DISAGREES'}.",
        f"With --reject-duplicates: {refused['imported']:,} imported, "
        f"{refused['rejected']:,} rejected, of which {refused['duplicates']:,} possible "
        f"duplicates; imported + possible duplicates = {held:,} "
        f"({'agrees' if held == expected_ok else 'DISAGREES'} with the truth). The generator "
        "draws names from 3,538 first/last pairs and emails from 12 domains, so at this size "
        "most rows share a similar name and a domain with an earlier "
        "row: the check on entry's rule, applied as written.",
        _targets(ours, peer, pg_run),
        _bounds(ours, stored),
    ]
    lines += _typical(work, template)
    lines += _linear(work, template, ours, made.data)
    if BIG_ROWS:
        big = generate(BIG_ROWS, SEED, work / "big")
        for p in (work / "gen").iterdir():
            p.unlink()
        big_run = _ours(f"sqlite:///{_fresh(template, 'big.db')}", big.data, work)
        lines += [
            "",
            f"Memory {'stays flat' if big_run['rss_mb'] <= 1.5 * ours['rss_mb'] else 'grows'}: "
            f"{BIG_ROWS:,} rows ({big.data.stat().st_size / 1e6:.0f} MB) "
            f"imported in {big_run['wall']:.1f} s with a peak of {big_run['rss_mb']:.0f} MB, "
            f"against {ours['rss_mb']:.0f} MB for {ROWS:,} rows "
            f"({big_run['rss_mb'] / ours['rss_mb']:.2f}x the memory for "
            f"{BIG_ROWS / ROWS:.0f}x the rows).",
            f"Of that peak, private memory (peak RssAnon, sampled every 50 ms) "
            f"{big_run['anon_mb']:.0f} MB against {ours['anon_mb']:.0f} MB "
            f"({big_run['anon_mb'] / ours['anon_mb']:.2f}x); mapped files' pages (peak RssFile: "
            f"the CSV read, libraries, the import's spilled keys) {big_run['file_mb']:.0f} MB "
            f"against {ours['file_mb']:.0f} MB.",
        ]
    report.section(f"Import: {ROWS:,}-row messy CSV → clean → validate → SQLite", lines)
