"""Trade-id continuity as set-based Spark: ids per stream, gaps by LAG, duplicates, reconciliation.

Every function takes and returns DataFrames of *keys*: `(exchange, symbol, source_symbol, id,
ts)` with `exchange` lower-case, `symbol` canonical BASE-QUOTE, `id` BIGINT (NULL when the
trade has none or it is not an integer) and `ts` the trade time. A gap is a run of integers
missing between two consecutive distinct ids of one stream; it is found with a window LAG over
the distinct ids (see `gaps`), never a Python loop over rows. Only the small results (one
row per stream, one per gap, samples) reach the driver.

Why Spark for both layers: trades_unified is large and Spark-native, the raw-to-unified
reconciliation is a join across both, and on Glue the job is a Spark job anyway. One engine
gives one definition of a gap for raw and unified alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from schemahub_lib.ops import formats
from schemahub_lib.ops.sparkutil import refresh
from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

KEY_COLUMNS = ("exchange", "symbol", "source_symbol", "id", "ts")
BUCKET_BITS = 22  # gaps are found per 4,194,304-id bucket of a stream, then stitched


@dataclass(frozen=True)
class Window:
    """Trade-time window [since, until); None is unbounded."""

    since: datetime | None = None
    until: datetime | None = None

    def predicate(self, column: str) -> str:
        parts = []
        if self.since is not None:
            parts.append(f"{column} >= TIMESTAMP '{self.since.isoformat()}'")
        if self.until is not None:
            parts.append(f"{column} < TIMESTAMP '{self.until.isoformat()}'")
        return " AND ".join(parts) or "TRUE"


def raw_keys(
    spark: SparkSession,
    settings: Settings,
    exchange: str,
    window: Window,
    symbols: dict[str, str],
    snapshot_id: int | None = None,
) -> DataFrame:
    """Keys of one raw table (at `snapshot_id` if given); `symbols` maps source symbol -> canonical."""
    from pyspark.sql import functions as F

    id_col, sym_col, ts_col = formats.RAW_COLUMNS[exchange]
    table = settings.spark_table(formats.RAW_TABLES[exchange])
    version = f" VERSION AS OF {int(snapshot_id)}" if snapshot_id is not None else ""
    refresh(spark, settings, formats.RAW_TABLES[exchange])
    df = spark.sql(
        f"SELECT `{sym_col}` AS source_symbol, CAST(`{id_col}` AS BIGINT) AS id, `{ts_col}` AS ts "
        f"FROM {table}{version} WHERE {window.predicate(f'`{ts_col}`')}"
    )
    mapping = F.create_map(*[F.lit(x) for pair in sorted(symbols.items()) for x in pair]) if symbols else None
    canonical = (
        F.coalesce(mapping[F.col("source_symbol")], F.col("source_symbol")) if mapping is not None else None
    )
    return df.select(
        F.lit(exchange).alias("exchange"),
        (canonical if canonical is not None else F.col("source_symbol")).alias("symbol"),
        "source_symbol",
        "id",
        "ts",
    )


def unified_keys(
    spark: SparkSession, settings: Settings, exchanges: Sequence[str], window: Window
) -> DataFrame:
    """Keys of trades_unified for `exchanges`; trade_id is STRING there, cast to BIGINT."""
    listed = ", ".join(f"'{e}'" for e in exchanges)
    refresh(spark, settings, formats.UNIFIED_TABLE)
    return spark.sql(
        "SELECT lower(exchange) AS exchange, symbol, symbol AS source_symbol, "
        "CAST(trade_id AS BIGINT) AS id, trade_ts AS ts "
        f"FROM {settings.spark_table(formats.UNIFIED_TABLE)} "
        f"WHERE lower(exchange) IN ({listed}) AND {window.predicate('trade_ts')}"
    )


def distinct_ids(keys: DataFrame) -> DataFrame:
    """One row per (exchange, symbol, id) with its earliest time and how many rows carry it."""
    from pyspark.sql import functions as F

    return (
        keys.where(F.col("id").isNotNull())
        .groupBy("exchange", "symbol", "id")
        .agg(F.min("ts").alias("ts"), F.count(F.lit(1)).alias("n"))
    )


def stream_summary(ids: DataFrame, keys: DataFrame) -> DataFrame:
    """Per stream: first/last id and time, distinct ids seen, rows, duplicate rows, NULL ids."""
    from pyspark.sql import functions as F

    summary = ids.groupBy("exchange", "symbol").agg(
        F.min("id").alias("first_id"),
        F.max("id").alias("last_id"),
        F.min_by("ts", "id").alias("first_ts"),
        F.max_by("ts", "id").alias("last_ts"),
        F.count(F.lit(1)).alias("seen"),
        F.sum(F.col("n") - 1).alias("duplicates"),
    )
    # Grouping by the string (not aggregating it) keeps this a hash aggregate over few rows.
    sources = (
        keys.groupBy("exchange", "symbol", "source_symbol")
        .agg(F.count(F.when(F.col("id").isNull(), 1)).alias("null_ids"))
        .groupBy("exchange", "symbol")
        .agg(F.max("source_symbol").alias("source_symbol"), F.sum("null_ids").alias("null_ids"))
    )
    return sources.join(summary, ["exchange", "symbol"], "left").select(
        "exchange",
        "symbol",
        "source_symbol",
        "first_id",
        "last_id",
        "first_ts",
        "last_ts",
        F.coalesce("seen", F.lit(0)).alias("seen"),
        F.coalesce("duplicates", F.lit(0)).alias("duplicates"),
        F.col("null_ids").cast("long").alias("null_ids"),
    )


def gaps(ids: DataFrame, bucket_bits: int = BUCKET_BITS) -> DataFrame:
    """Missing id ranges [first_id, last_id] with the times of the trades either side.

    A LAG over ids ordered within (stream, id bucket) finds the gaps inside each bucket of
    2**bucket_bits ids; a second LAG over the buckets' first and last ids (one row per bucket)
    finds the gaps that cross bucket edges. Bucketing keeps one busy stream from landing in a
    single task; the per-bucket rows are few, so stitching them costs nothing.
    """
    from pyspark.sql import Window as W
    from pyspark.sql import functions as F

    stream = ["exchange", "symbol"]
    bucketed = ids.select(*stream, "id", "ts", F.shiftright("id", bucket_bits).alias("b"))
    within = W.partitionBy(*stream, "b").orderBy("id")
    inner = bucketed.select(
        *stream,
        "id",
        "ts",
        F.lag("id").over(within).alias("prev_id"),
        F.lag("ts").over(within).alias("prev_ts"),
    )
    edges = bucketed.groupBy(*stream, "b").agg(
        F.min("id").alias("id"),
        F.min_by("ts", "id").alias("ts"),
        F.max("id").alias("hi"),
        F.max_by("ts", "id").alias("hi_ts"),
    )
    across = W.partitionBy(*stream).orderBy("b")
    cross = edges.select(
        *stream,
        "id",
        "ts",
        F.lag("hi").over(across).alias("prev_id"),
        F.lag("hi_ts").over(across).alias("prev_ts"),
    )
    return (
        inner.unionByName(cross)
        .where(F.col("id") - F.col("prev_id") > 1)
        .select(
            *stream,
            (F.col("prev_id") + 1).alias("first_id"),
            (F.col("id") - 1).alias("last_id"),
            F.col("prev_ts").alias("after_ts"),
            F.col("ts").alias("before_ts"),
        )
    )


def duplicate_keys(ids: DataFrame) -> DataFrame:
    """Keys that occur more than once, with their row count."""
    from pyspark.sql import functions as F

    return ids.where(F.col("n") > 1).select("exchange", "symbol", "id", "n")


def missing_from(left_ids: DataFrame, right_ids: DataFrame) -> DataFrame:
    """Keys of `left_ids` absent from `right_ids` (a left anti join on exchange, symbol, id)."""
    return left_ids.select("exchange", "symbol", "id").join(
        right_ids.select("exchange", "symbol", "id"), ["exchange", "symbol", "id"], "left_anti"
    )
