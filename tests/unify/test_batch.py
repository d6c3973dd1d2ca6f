"""The batch: time ranges that bound the anti-join, task counts, and dedup + anti-join."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemahub_lib.unify.batch import SourceStats, new_rows, time_ranges, write_partitions
from tests.unify.conftest import Lake

DAY = 86_400_000_000


def test_time_ranges_merge_consecutive_days_across_sources_and_widen_by_the_margin() -> None:
    coinbase = SourceStats(
        3, {"BTC-USD"}, {100: (100 * DAY + 5, 100 * DAY + 50), 101: (101 * DAY, 101 * DAY + 9)}
    )
    kraken = SourceStats(
        2, {"XXBTZUSD"}, {100: (100 * DAY + 1, 100 * DAY + 7), 104: (104 * DAY + 3, 104 * DAY + 4)}
    )
    assert time_ranges([coinbase, kraken], margin_us=1) == [
        (100 * DAY + 1 - 1, 101 * DAY + 9 + 1),  # days 100 and 101: earliest to latest trade
        (104 * DAY + 3 - 1, 104 * DAY + 4 + 1),  # day 104 alone: the days between are not read
    ]
    assert time_ranges([SourceStats()]) == []


def test_write_partitions_keep_every_core_busy_without_slivers() -> None:
    assert write_partitions(50, cores=2) == 1
    assert write_partitions(150_000, cores=2) == 1
    assert write_partitions(200_000, cores=2) == 2
    assert write_partitions(1_000_000, cores=2) == 2
    assert write_partitions(1_000_000, cores=16) == 10


T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T0.timestamp() + seconds, tz=UTC)


@pytest.mark.spark
def test_new_rows_keep_the_first_landed_copy_of_each_key_the_target_lacks(spark: Any) -> None:
    columns = "exchange string, symbol string, trade_id string, side string, price double, "
    columns += "quantity double, trade_ts timestamp, ingest_ts timestamp, _source_ingest_ts timestamp"

    def row(trade_id: str, price: float, landed: int, ts: int = 0, exchange: str = "KRAKEN") -> tuple:
        return (exchange, "BTC-USD", trade_id, "BUY", price, 1.0, _at(ts), T0, _at(landed))

    batch = spark.createDataFrame(
        [
            row("1", 2.0, landed=20),
            row("1", 1.0, landed=10),  # landed first: kept
            row("2", 5.0, landed=10),
            row("2", 4.0, landed=10),  # same landing: the tie-break (trade_ts, price, ...) picks
            row("3", 1.0, landed=10),  # in the target: dropped
            row("4", 1.0, landed=10),
            row("4", 2.0, landed=20),  # in the target: both copies dropped
            row("5", 1.0, landed=10),  # in the target, but outside the ranges: not read, kept
            row("3", 9.0, landed=10, exchange="COINBASE"),  # another exchange's id 3: kept
        ],
        columns,
    )
    target_columns = "exchange string, symbol string, trade_id string, trade_ts timestamp"
    target = spark.createDataFrame(
        [
            ("KRAKEN", "BTC-USD", "3", _at(0)),
            ("KRAKEN", "BTC-USD", "4", _at(0)),
            ("KRAKEN", "BTC-USD", "5", _at(7200)),
            ("KRAKEN", "BTC-USD", "9", _at(0)),
        ],
        target_columns,
    )
    lo = int(_at(-60).timestamp()) * 1_000_000
    ranges = [(lo, lo + 120_000_000)]

    kept = new_rows(batch, target, ranges, partitions=2)

    assert kept.columns == batch.columns[:-1]  # _source_ingest_ts consumed
    got = sorted((r.exchange, r.trade_id, r.price) for r in kept.collect())
    assert got == [("COINBASE", "3", 9.0), ("KRAKEN", "1", 1.0), ("KRAKEN", "2", 4.0), ("KRAKEN", "5", 1.0)]
    deduped = sorted((r.exchange, r.trade_id, r.price) for r in new_rows(batch, None, [], 2).collect())
    assert deduped == [
        ("COINBASE", "3", 9.0),
        ("KRAKEN", "1", 1.0),
        ("KRAKEN", "2", 4.0),
        ("KRAKEN", "3", 1.0),
        ("KRAKEN", "4", 1.0),
        ("KRAKEN", "5", 1.0),
    ]


@pytest.mark.spark
def test_the_target_is_read_through_iceberg_only_within_the_time_ranges(spark: Any, lake: Lake) -> None:
    """The anti-join's target read carries the ranges to Iceberg as pushed filters (it prunes
    days, files and row groups with them), and the statement's temp views are gone after."""
    table = lake.spark_table()
    values = ", ".join(
        f"('KRAKEN', 'BTC-USD', '{trade_id}', 'BUY', 1.0, 1.0, timestamp_micros({micros}L), "
        f"timestamp_micros({micros}L), 'BTC', 'USD')"
        for trade_id, micros in (("3", _us(_at(0))), ("5", _us(_at(3 * 86_400))))
    )
    spark.sql(f"INSERT INTO {table} VALUES {values}")
    columns = "exchange string, symbol string, trade_id string, side string, price double, "
    columns += "quantity double, trade_ts timestamp, base_asset string, quote_asset string, "
    columns += "_source_ingest_ts timestamp"
    batch = spark.createDataFrame(
        [
            ("KRAKEN", "BTC-USD", trade_id, "BUY", 1.0, 1.0, _at(0), "BTC", "USD", _at(10))
            for trade_id in ("3", "4", "5")
        ],
        columns,
    )
    lo = _us(_at(-60))
    kept = new_rows(batch, spark.table(table), [(lo, lo + 120_000_000)], partitions=2)

    # 5 is in the target, but on another day: outside the ranges, so not read and kept
    assert sorted(r.trade_id for r in kept.collect()) == ["4", "5"]
    plan = kept._jdf.queryExecution().executedPlan().toString()
    scans = [line for line in plan.splitlines() if "BatchScan" in line and "trades_unified" in line]
    assert scans and all(f"filters=trade_ts >= {lo}, trade_ts <= {lo + 120_000_000}," in s for s in scans), (
        plan
    )
    assert [t.name for t in spark.catalog.listTables() if t.name.startswith("_schemahub_")] == []


def _us(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000
