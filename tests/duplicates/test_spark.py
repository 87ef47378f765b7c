"""``duplicates find --engine spark`` (issue 20): the same model on a local Spark, the same
clusters as DuckDB on labelled customers (the generator's truth says who is who); and Spark
without Java, in one line.

One Spark session costs ~30 s on this machine, so the equivalence runs once, on SQLite (the
engine reads the customers through the same ``read_live`` on either database). Without pyspark
or a Java runtime it skips, unless ``CUSTOMER_FLOW_REQUIRE_SPARK=1`` (as ``.ci/run`` sets),
which makes it fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from benchmarks.bench_dedupe import evaluate, load_frame
from benchmarks.labelled import load_generated, true_pairs

REQUIRE_SPARK = os.environ.get("CUSTOMER_FLOW_REQUIRE_SPARK") == "1"


def spark_missing() -> str | None:
    """Why a local Spark cannot run here, or None."""
    if find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[dev]')"
    home = os.environ.get("JAVA_HOME")
    if not (os.access(Path(home) / "bin" / "java", os.X_OK) if home else shutil.which("java")):
        return "no Java runtime (apt-get install openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="module")
def local_spark() -> None:
    reason = spark_missing()
    if reason is not None:
        if REQUIRE_SPARK:
            pytest.fail(f"CUSTOMER_FLOW_REQUIRE_SPARK=1 and {reason}", pytrace=False)
        pytest.skip(reason)


def run(
    db: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "customer_flow", "--db", str(db), "duplicates", "find", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=600,
    )


def clusters(report: dict[str, Any]) -> list[list[int]]:
    return sorted(c["ids"] for c in report["clusters"])


@pytest.fixture(scope="module")
def truth() -> pl.DataFrame:
    """About 2,900 generated customers with a postcode each, labelled: ``entity`` names the
    person behind each record (some 150 true pairs)."""
    return load_generated(3000, 7, postcodes=True)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, truth: pl.DataFrame) -> Path:
    """``truth``'s customers in a SQLite database (the labels are not in it)."""
    path = tmp_path_factory.mktemp("spark") / "labelled.db"
    load_frame(path, truth)
    return path


@pytest.mark.slow
def test_spark_finds_the_clusters_duckdb_finds(
    local_spark: None, labelled: Path, truth: pl.DataFrame, tmp_path: Path
) -> None:
    """DuckDB trains and stores the model; Spark (local[2]) scores with that stored model and
    gives the same pairs, probabilities and clusters at the same threshold; and those clusters
    are the labelled duplicates (nearly all true pairs found, none false). The Spark session
    ran on the master ``--spark-master`` named (over ``CUSTOMER_FLOW_SPARK_MASTER``'s) with the
    settings ``CUSTOMER_FLOW_SPARK_CONF`` gave, as Spark's own event log records them."""
    duck = run(labelled, "--json", "--threshold", "0.9")
    assert 0 == duck.returncode, duck.stderr
    on_duck = json.loads(duck.stdout)
    assert "u" == on_duck["training"]  # trained on this database, then stored
    events = tmp_path / "events"
    events.mkdir()
    conf = (
        "spark.sql.shuffle.partitions=4,spark.eventLog.enabled=true,"
        f"spark.eventLog.dir={events.as_uri()},spark.eventLog.compress=false,"
        "spark.eventLog.rolling.enabled=false"
    )
    env = dict(os.environ, CUSTOMER_FLOW_SPARK_CONF=conf, CUSTOMER_FLOW_SPARK_MASTER="local[1]")
    spark = run(
        labelled, "--json", "--threshold", "0.9", "--engine", "spark", "--spark-master",
        "local[2]", env=env,
    )  # fmt: skip
    assert 0 == spark.returncode, spark.stderr[-3000:]
    properties = spark_properties(events)
    assert "local[2]" == properties.get("spark.master")
    assert "4" == properties.get("spark.sql.shuffle.partitions")
    on_spark = json.loads(spark.stdout)
    assert 100 < len(on_duck["clusters"])
    assert clusters(on_duck) == clusters(on_spark)
    assert on_duck["pairs_compared"] == on_spark["pairs_compared"]
    assert [f["name"] for f in on_duck["fields"]] == [f["name"] for f in on_spark["fields"]]
    assert "postcode" in [f["name"] for f in on_spark["fields"]]

    def probabilities(report: dict[str, Any]) -> dict[tuple[int, int], float]:
        return {(p["a"], p["b"]): p["probability"] for c in report["clusters"] for p in c["pairs"]}

    duck_p, spark_p = probabilities(on_duck), probabilities(on_spark)
    assert duck_p.keys() == spark_p.keys()
    assert all(abs(duck_p[k] - spark_p[k]) < 1e-6 for k in duck_p)
    assert on_duck["training"] == on_spark["training"]
    # Against the labels: what Spark found are the true duplicates, not just DuckDB's answer.
    quality = evaluate(truth, [(a, b) for a, b in spark_p])
    assert 100 < true_pairs(truth) == quality["true"]
    assert quality["precision"] >= 0.95, quality
    assert quality["recall"] >= 0.95, quality


def spark_properties(folder: Path) -> dict[str, str]:
    """The Spark settings of the session whose event log is in ``folder``."""
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if '"SparkListenerEnvironmentUpdate"' not in line:
                continue
            found = json.loads(line)["Spark Properties"]
            return dict(found.items() if isinstance(found, dict) else found)
    raise AssertionError(f"no Spark event log in {folder}: {list(folder.rglob('*'))}")


def test_spark_without_java_says_what_to_install(labelled: Path, tmp_path: Path) -> None:
    """JAVA_HOME pointing nowhere and no java on the PATH: exit 1, one line naming the JRE."""
    bare = tmp_path / "bin"
    bare.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):  # every program on the PATH but java
        for program in Path(folder).glob("*") if Path(folder).is_dir() else ():
            if program.name != "java" and not (bare / program.name).exists():
                (bare / program.name).symlink_to(program)
    env = dict(os.environ, JAVA_HOME=str(tmp_path / "nowhere"), PATH=str(bare))
    result = run(labelled, "--engine", "spark", env=env)
    assert 1 == result.returncode
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 == len(lines), result.stderr
    assert lines[0].startswith("error: Spark needs a Java runtime")
    assert "openjdk-17-jre-headless" in lines[0]
    assert "Traceback" not in result.stderr
