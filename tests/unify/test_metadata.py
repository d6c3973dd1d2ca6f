"""What a raw read holds, from Iceberg metadata: the same answer as the Spark stats job when it
answers, and no answer (so the stats job counts) when metadata cannot be exact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyiceberg.manifest
import pytest
from pyiceberg.expressions import EqualTo

from schemahub_lib.ddl import load_table_defs
from schemahub_lib.mapping import MappingDataError, load_mappings
from schemahub_lib.unify import run_unify
from schemahub_lib.unify.batch import SourceStats, batch_stats
from schemahub_lib.unify.metadata import stats_from_metadata
from schemahub_lib.unify.reads import SourceRead, plan_read, read_raw, refresh, target_state
from tests.conftest import REPO
from tests.unify.conftest import LANDED, Lake, binance_rows, coinbase_rows, kraken_rows, unified_keys

pytestmark = pytest.mark.spark

SPECS = {s.source: s for s in load_mappings(REPO / "mappings", load_table_defs(REPO / "ddl"))}
COINBASE = coinbase_rows("coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json", "BTC-EUR")
BINANCE = binance_rows("binance/historicalTrades_BTCUSDT_2021-10-22_nautilus.json", "BTCUSDT")
KRAKEN = kraken_rows("kraken/trades_XXBTZUSD_DOCS-EXAMPLE_2023-07_krakenfx-api-specs.json")


def as_product(
    rows: list[dict[str, Any]], column: str, symbol: str, shift: timedelta
) -> list[dict[str, Any]]:
    """`rows` as another product's trades, a day or more later (so reads span several days)."""
    return [{**r, column: symbol, "time": r["time"] + shift // timedelta(microseconds=1)} for r in rows]


def both_ways(spark: Any, lake: Lake, table: str, read: SourceRead) -> tuple[SourceStats | None, SourceStats]:
    spec = SPECS[table]
    iceberg = lake.catalog.load_table(lake.settings.table_id(table))
    refresh(spark, lake.spark_table(table))  # Spark's cached table predates the last appends
    raw = read_raw(spark, lake.spark_table(table), read)
    return stats_from_metadata(iceberg, read, spec), batch_stats([(spec, raw)])[0]


def head(lake: Lake, table: str) -> int:
    snapshot = lake.catalog.load_table(lake.settings.table_id(table)).current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def test_metadata_answers_exactly_what_the_stats_job_counts(spark: Any, lake: Lake) -> None:
    # One product per append, as landing commits: each file holds one symbol.
    start = lake.append("raw_coinbase_trades", COINBASE[:40])
    lake.append("raw_coinbase_trades", as_product(COINBASE[40:], "product_id", "ETH-EUR", timedelta(days=1)))
    lake.append("raw_coinbase_trades", as_product(COINBASE[:30], "product_id", "SOL-EUR", timedelta(days=3)))
    lake.append("raw_binance_trades", BINANCE)
    lake.append("raw_binance_trades", as_product(BINANCE, "symbol", "ETHUSDT", timedelta(hours=30)))
    lake.append("raw_kraken_trades", KRAKEN)  # trade time from a long ns column (from_ns)
    reads = [
        (
            "raw_coinbase_trades",
            SourceRead("raw_coinbase_trades", "full", None, head(lake, "raw_coinbase_trades")),
        ),
        (
            "raw_coinbase_trades",
            SourceRead("raw_coinbase_trades", "incremental", start, head(lake, "raw_coinbase_trades")),
        ),
        (
            "raw_binance_trades",
            SourceRead("raw_binance_trades", "full", None, head(lake, "raw_binance_trades")),
        ),
        ("raw_kraken_trades", SourceRead("raw_kraken_trades", "full", None, head(lake, "raw_kraken_trades"))),
    ]
    for table, read in reads:
        from_metadata, from_spark = both_ways(spark, lake, table, read)
        assert from_metadata == from_spark, (table, read.mode)
    incremental = both_ways(spark, lake, *reads[1])[0]
    assert incremental is not None
    assert (incremental.rows, incremental.symbols) == (90, {"ETH-EUR", "SOL-EUR"})
    assert len(incremental.days) == 2  # the two later days only


def test_metadata_skips_compactions_as_the_incremental_append_scan_does(spark: Any, lake: Lake) -> None:
    first = lake.append("raw_coinbase_trades", COINBASE[:20])
    for i in range(20, 60, 20):
        lake.append("raw_coinbase_trades", COINBASE[i : i + 20])
    name = lake.spark_table("raw_coinbase_trades")
    spark.sql(
        f"CALL {lake.settings.catalog_name}.system.rewrite_data_files(table => '{name}', "
        "options => map('min-input-files', '2'))"
    ).collect()
    lake.append("raw_coinbase_trades", COINBASE[60:])
    read = SourceRead("raw_coinbase_trades", "incremental", first, head(lake, "raw_coinbase_trades"))
    from_metadata, from_spark = both_ways(spark, lake, "raw_coinbase_trades", read)
    assert from_metadata is not None
    assert from_metadata == from_spark
    assert from_metadata.rows == 80  # 40 appended before the compaction, 40 after; none rewritten


def manifest_lists_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the manifest lists PyIceberg reads from now on, in order."""
    paths: list[str] = []
    reader = pyiceberg.manifest.read_manifest_list

    def counting(input_file: Any) -> Any:
        paths.append(input_file.location)
        return reader(input_file)

    monkeypatch.setattr(pyiceberg.manifest, "read_manifest_list", counting)
    return paths


def test_an_incremental_range_reads_one_manifest_list_unless_a_compaction_rewrote_its_manifests(
    spark: Any, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every manifest list holds all the table's live manifests, so reading each append's own
    list costs a range of k appends k lists of up to every manifest (on S3 a request each, per
    raw table and run). The head's list holds the appends' manifests too, unless a compaction in
    the range rewrote them: then those appends' own lists are read, and the answer is the same."""
    table = "raw_coinbase_trades"
    start = lake.append(table, COINBASE[:10])
    for i in range(10, 60, 10):
        lake.append(table, COINBASE[i : i + 10])
    read = SourceRead(table, "incremental", start, head(lake, table))
    lists = manifest_lists_read(monkeypatch)
    from_metadata, from_spark = both_ways(spark, lake, table, read)
    assert from_metadata is not None and from_metadata.rows == 50
    assert from_metadata == from_spark
    assert len(lists) == 1  # the head's, not the five appends' own

    name = lake.spark_table(table)
    spark.sql(
        f"CALL {lake.settings.catalog_name}.system.rewrite_data_files(table => '{name}', "
        "options => map('min-input-files', '2'))"
    ).collect()
    lake.append(table, COINBASE[60:])
    lists.clear()
    read = SourceRead(table, "incremental", start, head(lake, table))
    from_metadata, from_spark = both_ways(spark, lake, table, read)
    assert from_metadata is not None and from_metadata.rows == 50 + len(COINBASE[60:])
    assert from_metadata == from_spark
    assert len(lists) == 1 + 5  # the head's, then the five compacted appends' own


def test_metadata_declines_what_it_cannot_know_exactly(spark: Any, lake: Lake) -> None:
    table = "raw_coinbase_trades"
    # A file holding two symbols (written by something else than landing).
    mixed = lake.append(
        table, COINBASE[:10] + as_product(COINBASE[10:20], "product_id", "ETH-EUR", timedelta())
    )
    assert both_ways(spark, lake, table, SourceRead(table, "full", None, mixed))[0] is None
    # A symbol as long as Iceberg's string bounds: possibly a truncated prefix.
    long_name = lake.append(table, as_product(COINBASE[20:30], "product_id", "X" * 12 + "-EUR", timedelta()))
    assert both_ways(spark, lake, table, SourceRead(table, "incremental", mixed, long_name))[0] is None
    # A delete in the range: counts would depend on how it applies.
    clean = lake.append(table, COINBASE[30:40])
    iceberg = lake.catalog.load_table(lake.settings.table_id(table))
    iceberg.delete(EqualTo("trade_id", COINBASE[0]["trade_id"]))
    lake.append(table, COINBASE[40:50])
    after_delete = SourceRead(table, "incremental", clean, head(lake, table))
    assert both_ways(spark, lake, table, after_delete)[0] is None


def test_run_counts_by_metadata_and_still_stops_on_a_time_in_the_wrong_unit(spark: Any, lake: Lake) -> None:
    lake.append("raw_coinbase_trades", COINBASE[:50])
    report = run_unify(lake.settings, spark)
    by_table = {s.table: s for s in report.sources}
    assert by_table["raw_coinbase_trades"].counted_by == "metadata"
    assert report.rows_inserted == 50

    # Epoch seconds taken for microseconds: 1970, far outside the window. Metadata clamps its
    # bounds; the write job's check stops the run and nothing is published.
    wrong = [{**r, "time": r["time"] // 1_000_000} for r in COINBASE[50:60]]
    lake.append("raw_coinbase_trades", wrong, ingest=LANDED + timedelta(seconds=1))
    before = unified_keys(spark, lake)
    with pytest.raises(MappingDataError, match=r"outside 2000-01-01\.\.2100-01-01"):
        run_unify(lake.settings, spark)
    assert unified_keys(spark, lake) == before
    state = target_state(lake.catalog.load_table(lake.settings.table_id("trades_unified")))
    iceberg = lake.catalog.load_table(lake.settings.table_id("raw_coinbase_trades"))
    assert plan_read(iceberg, "raw_coinbase_trades", state).mode == "incremental"  # retried next run


def test_refresh_lets_spark_read_a_snapshot_committed_after_it_cached_it(spark: Any, lake: Lake) -> None:
    table = "raw_coinbase_trades"
    first = lake.append(table, COINBASE[:10])
    assert spark.table(lake.spark_table(table)).count() == 10  # Spark now caches the table
    second = lake.append(table, COINBASE[10:25])  # committed by PyIceberg, as landing does
    read = SourceRead(table, "incremental", first, second)
    with pytest.raises(Exception, match=str(second)):  # the cached table does not know it yet
        read_raw(spark, lake.spark_table(table), read).count()
    refresh(spark, lake.spark_table(table))
    assert read_raw(spark, lake.spark_table(table), read).count() == 15
    assert spark.table(lake.spark_table(table)).count() == 25  # plain reads see the new head too
