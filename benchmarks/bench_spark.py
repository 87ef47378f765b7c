"""``duplicates find`` on Spark beside DuckDB, in the same run (issue 20).

For each size (``BENCH_SPARK_SIZES``, default 100,000 and 1,000,000 customers of
``generate.py`` data with a postcode each, as ``bench_dedupe`` loads them), the same command
runs twice in a child process, ``--no-train`` both times so that both score with the shipped
model (the same m and u) and only the engine differs: ``--engine duckdb`` and ``--engine spark
--spark-master local[*]`` (``BENCH_SPARK_MASTER``; settings from ``BENCH_SPARK_CONF``, default
a 6 GB driver). The clusters must be the same; the table gives the wall time, the time inside
the model, and the child's CPU time (Spark's JVM is a grandchild: its CPU is not counted).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_dedupe import SPEED_SEED, load
from benchmarks.run import Report

SIZES = [int(s) for s in os.environ.get("BENCH_SPARK_SIZES", "100000,1000000").split(",")]
MASTER = os.environ.get("BENCH_SPARK_MASTER", "local[*]")
CONF = os.environ.get("BENCH_SPARK_CONF", "spark.driver.memory=6g,spark.sql.shuffle.partitions=16")


def _find(path: Path, args: list[str], out_path: Path) -> tuple[float, float]:
    """Run ``duplicates find --json --no-train ARGS``: (wall seconds, CPU seconds of the child)."""
    cmd = [sys.executable, "-m", "customer_flow", "--db", str(path), "duplicates", "find"]
    env = dict(os.environ, CUSTOMER_FLOW_SPARK_CONF=CONF)
    started = time.perf_counter()
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [*cmd, "--json", "--no-train", *args], stdout=out, stderr=subprocess.PIPE, env=env
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    errors = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if status != 0:
        raise RuntimeError(f"duplicates find {' '.join(args)} failed: {errors[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime


def run(report: Report) -> None:
    lines = [
        f"`duplicates find --json --no-train` on DuckDB and on Spark (`{MASTER}`, "
        f"`{CONF}`), one after the other on the same SQLite database, in child processes. "
        f"This machine has {os.cpu_count()} cores, shared: Spark's figures here are those of "
        "one small machine, where it cannot win (see docs/duplicates.md).",
        "",
        "| customers | engine | wall | inside the model | blocking | child CPU | pairs "
        "compared | clusters | same clusters |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        for size in SIZES:
            path = Path(tmp) / f"c{size}.db"
            # About 3.5 % of generated rows are rejects: generate enough for `size` customers.
            load(path, int(size * 1.05) + 10, SPEED_SEED, limit=size, postcodes=True)
            found = {}
            for engine, args in (
                ("duckdb", []),
                ("spark", ["--engine", "spark", "--spark-master", MASTER]),
            ):
                out_path = Path(tmp) / f"{engine}.json"
                seconds, cpu = _find(path, args, out_path)
                result = json.loads(out_path.read_text())
                found[engine] = (seconds, cpu, result)
                out_path.unlink()
            same = sorted(c["ids"] for c in found["duckdb"][2]["clusters"]) == sorted(
                c["ids"] for c in found["spark"][2]["clusters"]
            )
            for engine, (seconds, cpu, result) in found.items():
                lines.append(
                    f"| {result['customers']:,} | {engine} | **{seconds:.1f} s** | "
                    f"{result['seconds']:.1f} s | {result['blocking_seconds']:.1f} s | "
                    f"{cpu:.1f} s | {result['pairs_compared']:,} | {len(result['clusters']):,} "
                    f"| {'yes' if same else 'NO'} |"
                )
            ratio = found["spark"][0] / found["duckdb"][0]
            lines.append(f"| | Spark / DuckDB | **{ratio:.1f}×** | | | | | | |")
            path.unlink()
    lines += [
        "",
        "Load average at the end: " + f"{os.getloadavg()[0]:.1f}.",
    ]
    report.section("Duplicates on Spark beside DuckDB", lines)
