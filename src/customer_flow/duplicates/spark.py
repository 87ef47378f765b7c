"""The duplicates model on Spark: the same Splink settings, levels and m and u as on DuckDB.

``duplicates find --engine spark`` hands :func:`score` the same ``columns`` DuckDB gets; the
features are computed here (Polars, on the driver, as for DuckDB) and handed to Spark as Arrow
record batches, so no JDBC driver or shared file system is needed and the same command runs on
``local[*]`` or a cluster (``spark://...``, ``yarn``, ``k8s://...``). Blocking, comparing and
scoring the pairs (the part that grows faster than the data) run on Spark; the pairs at or above
the threshold come back as Arrow and are read by ``model.scored_pairs``, and ``find`` clusters
them exactly as it clusters DuckDB's.

The Jaro-Winkler and Damerau-Levenshtein functions the levels use come from the jar Splink ships
(``scala-udf-similarity``), put on the session's class path here.

Nothing here prints or reads the environment: the master and the Spark settings are handed in
(the CLI reads ``CUSTOMER_FLOW_SPARK_MASTER`` and ``CUSTOMER_FLOW_SPARK_CONF``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from customer_flow.core.errors import ConfigError
from customer_flow.duplicates import model as dedupe_model

__all__ = ["NO_JAVA", "SparkEngine", "score"]

#: The one line a missing Java runtime gives.
NO_JAVA = (
    "Spark needs a Java runtime (17 or later) and none could be started: install one "
    "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or point JAVA_HOME at it"
)

#: Record batches handed to Spark at once (rows).
_BATCH = 100_000


@dataclass(frozen=True)
class SparkEngine:
    """Where to run: the master URL (``local[*]``, ``local[2]``, ``spark://host:7077``...) and
    Spark settings (``spark.executor.memory``, ``spark.sql.shuffle.partitions``...)."""

    master: str = "local[*]"
    conf: Mapping[str, str] = field(default_factory=dict)


@contextmanager
def session(engine: SparkEngine) -> Iterator[Any]:
    """A Spark session on ``engine``'s master with Splink's similarity functions, stopped at
    the end. A missing Java runtime is a ``ConfigError`` (``no_java``), in one line."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            "the Spark engine needs pyspark: pip install 'customer-flow[spark]'",
            code="no_pyspark",
        ) from exc
    from splink.backends.spark import similarity_jar_location

    builder = (
        SparkSession.builder.master(engine.master)
        .appName("customer-flow duplicates")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", "8")
    )
    jars = similarity_jar_location()
    extra = dict(engine.conf)
    if extra.get("spark.jars"):
        jars = f"{extra.pop('spark.jars')},{jars}"
    builder = builder.config("spark.jars", jars)
    for key, value in extra.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # pyspark raises its own types, and RuntimeError before 3.4
        text = str(exc)
        if "JAVA_GATEWAY_EXITED" in text or "Java gateway process exited" in text:
            raise ConfigError(NO_JAVA, code="no_java") from None
        raise ConfigError(
            f"Spark could not start on {engine.master}: {text.splitlines()[0] if text else exc}",
            code="spark_failed",
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def _frame(spark: Any, features: Any) -> Any:
    """The features as a Spark DataFrame, sent as Arrow record batches of ``_BATCH`` rows."""
    import pyarrow as pa

    table = features.to_arrow()
    batches = table.to_batches(max_chunksize=_BATCH)
    parts = [
        spark.createDataFrame(pa.Table.from_batches([b], schema=table.schema)) for b in batches
    ]
    if not parts:
        return spark.createDataFrame(table)
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.unionByName(part)
    return frame


def score(
    columns: dict[str, list[Any]],
    *,
    fields: Sequence[str],
    params: dict[str, Any],
    threshold: float,
    train_mode: str,
    usable: set[str],
    mu: dict[str, list[list[float]]] | None,
    engine: SparkEngine,
) -> dedupe_model.Scored:
    """``model.score`` on Spark: the same features, settings (for Spark's SQL) and reading of
    the predictions. ``mu`` (the model ``find`` last stored) is used as it is; without it, the
    model is trained on Spark as ``train_mode`` says."""
    from splink import Linker
    from splink.backends.spark import SparkAPI

    logging.getLogger("splink").setLevel(logging.ERROR)
    logging.getLogger("py4j").setLevel(logging.ERROR)
    n = len(columns["unique_id"])
    feats = dedupe_model.features(columns, fields)
    with session(engine) as spark:
        frame = _frame(spark, feats).persist()
        del feats
        frame.createOrReplaceTempView("cf_input")

        def source() -> Any:
            api = SparkAPI(spark_session=spark, break_lineage_method="persist")  # type: ignore[no-untyped-call]
            return api.register("cf_input")

        started = time.perf_counter()
        if mu is None:
            mu = dedupe_model.train(source, fields, params, n, train_mode, usable, "spark")
        training_seconds = time.perf_counter() - started
        lam = dedupe_model.prior(n, float(params["expected_duplicate_share"]))
        linker = Linker(
            source(),
            dedupe_model.splink_settings(fields, mu, lam, "spark"),
            log_level=None,
            validate_settings=False,
        )
        started = time.perf_counter()
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        compared = int(blocked.as_spark_dataframe().count())
        linker.table_management.register_blocked_pairs_for_predict(blocked)
        blocking_seconds = time.perf_counter() - started
        predictions = linker.inference.predict(
            threshold_match_probability=threshold, warning_mode="never"
        )
        wanted = predictions.as_spark_dataframe().selectExpr(
            *(c.strip() for c in dedupe_model.predict_columns(fields).split(","))
        )
        table = wanted.toArrow()
    rows = zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True)
    return dedupe_model.Scored(
        pairs=dedupe_model.scored_pairs(rows, fields, mu),
        pairs_compared=compared,
        training=train_mode,
        mu=mu,
        blocking_seconds=blocking_seconds,
        training_seconds=training_seconds,
        labels={c.name: c.labels for c in dedupe_model.comparisons(fields)},
    )
