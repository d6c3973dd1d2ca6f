"""run_unify end to end on the embedded catalog: one commit per run carrying what it consumed,
incremental reads, dedup (within a batch, across sources, across runs), idempotence."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.connectors.base import Product
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.mapping import MappingDataError
from schemahub_lib.tables import init_tables
from schemahub_lib.unify import run_unify
from tests.conftest import REPO
from tests.unify.conftest import (
    LANDED,
    Lake,
    binance_rows,
    coinbase_rows,
    head_summary,
    kraken_rows,
    main_history,
    unified_keys,
    write_ddl,
)

pytestmark = pytest.mark.spark

COINBASE = coinbase_rows("coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json", "BTC-EUR")
BINANCE = binance_rows("binance/historicalTrades_BTCUSDT_2021-10-22_nautilus.json", "BTCUSDT")
KRAKEN = kraken_rows("kraken/trades_XXBTZUSD_DOCS-EXAMPLE_2023-07_krakenfx-api-specs.json")


def test_first_run_then_incremental_then_nothing_new(spark: Any, lake: Lake) -> None:
    cb1 = lake.append("raw_coinbase_trades", COINBASE[:60])
    bn1 = lake.append("raw_binance_trades", BINANCE)
    kr1 = lake.append("raw_kraken_trades", KRAKEN)

    first = run_unify(lake.settings, spark)
    assert [(s.table, s.mode, s.rows_read) for s in first.sources] == [
        ("raw_binance_trades", "full", 10),
        ("raw_coinbase_trades", "full", 60),
        ("raw_kraken_trades", "full", 3),
    ]
    assert (first.rows_read, first.rows_inserted, first.duplicates_dropped) == (73, 73, 0)
    assert len(main_history(spark, lake)) == 1
    summary = head_summary(spark, lake)
    assert summary["added-records"] == "73"
    assert {k: v for k, v in summary.items() if k.startswith("schemahub.unify.consumed.")} == {
        "schemahub.unify.consumed.raw_binance_trades": str(bn1),
        "schemahub.unify.consumed.raw_coinbase_trades": str(cb1),
        "schemahub.unify.consumed.raw_kraken_trades": str(kr1),
    }
    assert summary["schemahub.unify.run-id"] == first.run_id
    assert first.snapshot_id == main_history(spark, lake)[-1].snapshot_id

    # Landing adds 40 Coinbase trades, re-lands 5 it had (overlapping fetch window).
    cb2 = lake.append("raw_coinbase_trades", COINBASE[55:], ingest=LANDED + timedelta(minutes=30))
    second = run_unify(lake.settings, spark)
    assert [(s.table, s.mode, s.start_snapshot, s.end_snapshot, s.rows_read) for s in second.sources] == [
        ("raw_binance_trades", "none", bn1, bn1, 0),
        ("raw_coinbase_trades", "incremental", cb1, cb2, 45),
        ("raw_kraken_trades", "none", kr1, kr1, 0),
    ]
    assert (second.rows_read, second.rows_inserted, second.duplicates_dropped) == (45, 40, 5)
    history = main_history(spark, lake)
    assert len(history) == 2 and history[-1].parent_id == first.snapshot_id
    assert head_summary(spark, lake)["schemahub.unify.consumed.raw_coinbase_trades"] == str(cb2)
    assert head_summary(spark, lake)["schemahub.unify.consumed.raw_binance_trades"] == str(bn1)

    third = run_unify(lake.settings, spark)
    assert (third.snapshot_id, third.rows_read, [s.mode for s in third.sources]) == (None, 0, ["none"] * 3)
    assert len(main_history(spark, lake)) == 2  # nothing new: no commit

    keys = unified_keys(spark, lake)
    assert len(keys) == len(set(keys)) == 113
    assert {k for k in keys if k[0] == "COINBASE"} == {
        ("COINBASE", "BTC-EUR", str(r["trade_id"])) for r in COINBASE
    }


def test_dedup_keeps_the_earliest_landed_copy(spark: Any, lake: Lake) -> None:
    # The same trade landed twice in one batch; the later copy carries a different price, so
    # which one was kept is visible.
    trade = KRAKEN[0]
    lake.append("raw_kraken_trades", [{**trade, "price": 99.0}], ingest=LANDED + timedelta(hours=1))
    lake.append("raw_kraken_trades", [trade], ingest=LANDED)
    report = run_unify(lake.settings, spark)
    assert (report.rows_read, report.rows_inserted, report.duplicates_dropped) == (2, 1, 1)
    rows = spark.table(lake.spark_table()).collect()
    assert [(r.trade_id, r.price) for r in rows] == [("61044952", 30243.4)]


def test_a_symbol_outside_the_seed_fails_before_anything_is_written(spark: Any, lake: Lake) -> None:
    lake.append(
        "raw_binance_trades", [{**BINANCE[0], "symbol": "DOGEUSDT"}, {**BINANCE[1], "symbol": "PEPEEUR"}]
    )
    lake.append("raw_coinbase_trades", COINBASE[:3])
    with pytest.raises(MappingDataError) as info:
        run_unify(lake.settings, spark)
    assert info.value.file.endswith("mappings/binance_trades.yaml")
    assert info.value.key_path == "symbols"
    assert "2 symbol(s) in raw_binance_trades.symbol are neither in the product seed" in info.value.problem
    assert "'DOGEUSDT', 'PEPEEUR'; add them with `schemahub update-seed" in info.value.problem
    assert main_history(spark, lake) == []
    refs = spark.sql(f"SELECT name FROM {lake.spark_table()}.refs").collect()
    assert refs == []  # no branch left behind either


NEWEX_DDL = """\
  tid       BIGINT    NOT NULL,
  market    STRING    NOT NULL,
  px        STRING    NOT NULL,
  amount    STRING    NOT NULL,
  ts_ms     BIGINT    NOT NULL,
  aggressor STRING    NOT NULL,
  _source_ingest_ts TIMESTAMP NOT NULL"""
NEWEX_YAML = """\
source: raw_newex_trades
target_table: trades_unified
mappings:
  tid: trade_id
  market: [symbol, base_asset, quote_asset]
  aggressor: side
  px: price
  amount: quantity
  ts_ms: trade_ts
constants:
  exchange: COINBASE   # a second feed of Coinbase trades: same keys as raw_coinbase_trades
transforms:
  trade_id: to_string
  symbol: canonical_symbol
  base_asset: base_asset
  quote_asset: quote_asset
  side: {map: {B: BUY, S: SELL}}
  price: to_double
  quantity: to_double
  trade_ts: from_ms
"""


def newex_lake(lake: Lake, tmp_path: Path) -> Lake:
    """The repo's tables plus raw_newex_trades, and mappings for coinbase and newex only."""
    ddl, mappings = tmp_path / "ddl", tmp_path / "mappings"
    write_ddl(ddl, "raw_newex_trades", NEWEX_DDL)
    for table in load_table_defs(REPO / "ddl").values():
        (ddl / table.source.name).write_text(table.sql)
    mappings.mkdir()
    (mappings / "coinbase_trades.yaml").write_text((REPO / "mappings" / "coinbase_trades.yaml").read_text())
    (mappings / "newex_trades.yaml").write_text(NEWEX_YAML)
    settings = dataclasses.replace(lake.settings, ddl_dir=str(ddl), mappings_dir=str(mappings))
    init_tables(lake.catalog, settings)
    return Lake(settings, lake.catalog)


def newex_row(trade: dict[str, Any], **changes: Any) -> dict[str, Any]:
    row = {
        "tid": trade["trade_id"],
        "market": "BTC-EUR",
        "px": f"{trade['price']:.2f}",
        "amount": str(trade["size"]),
        "ts_ms": trade["time"] // 1000,
        "aggressor": "B" if trade["side"] == "sell" else "S",
    }
    return {**row, **changes}


PRODUCTS = {"newex": [Product("newex", "BTC-EUR", "BTC-EUR", "BTC", "EUR")], "coinbase": []}


def test_a_new_exchange_is_a_yaml_file_and_a_raw_table(spark: Any, lake: Lake, tmp_path: Path) -> None:
    """Epoch-ms times and text numbers, mapped by configuration only; its rows dedup against
    another source's by key, keeping the copy that landed first whichever table it came from."""
    lake = newex_lake(lake, tmp_path)
    lake.append("raw_coinbase_trades", COINBASE[:3], ingest=LANDED)
    # newex saw trade 0 earlier than coinbase (kept: price 1.0), trade 1 later (dropped).
    lake.append(
        "raw_newex_trades",
        [
            newex_row(COINBASE[0], px="1.0"),
            newex_row(COINBASE[3]),
            newex_row(COINBASE[4]),
        ],
        ingest=LANDED - timedelta(minutes=1),
    )
    lake.append("raw_newex_trades", [newex_row(COINBASE[1], px="2.0")], ingest=LANDED + timedelta(minutes=1))
    report = run_unify(lake.settings, spark, products=PRODUCTS)
    assert [(s.table, s.rows_read) for s in report.sources] == [
        ("raw_coinbase_trades", 3),
        ("raw_newex_trades", 4),
    ]
    assert (report.rows_inserted, report.duplicates_dropped) == (5, 2)
    rows = {r.trade_id: r for r in spark.table(lake.spark_table()).collect()}
    assert sorted(rows) == sorted(str(t["trade_id"]) for t in COINBASE[:5])
    assert rows[str(COINBASE[0]["trade_id"])].price == 1.0  # newex landed it first
    assert rows[str(COINBASE[1]["trade_id"])].price == COINBASE[1]["price"]  # coinbase did
    four = rows[str(COINBASE[4]["trade_id"])]
    assert (four.exchange, four.symbol, four.side, four.quantity) == (
        "COINBASE",
        "BTC-EUR",
        "BUY",
        0.38244993,
    )
    assert four.trade_ts == datetime(2020, 2, 17, 7, 23, 12, 907000)


def test_a_value_in_the_wrong_unit_fails_the_run_and_commits_nothing(
    spark: Any, lake: Lake, tmp_path: Path
) -> None:
    lake = newex_lake(lake, tmp_path)
    lake.append(
        "raw_newex_trades", [newex_row(COINBASE[0]), newex_row(COINBASE[1], ts_ms=COINBASE[1]["time"])]
    )
    with pytest.raises(MappingDataError) as info:
        run_unify(lake.settings, spark, products=PRODUCTS)
    assert info.value.file.endswith("newex_trades.yaml")
    assert info.value.key_path == "transforms.trade_ts"
    problem = (
        "from_ms value in ts_ms is outside 2000-01-01..2100-01-01 in that unit (a value in another unit?): "
        f"{COINBASE[1]['time']} (exchange newex, table raw_newex_trades, trade tid={COINBASE[1]['trade_id']})"
    )
    assert info.value.problem == problem
    # What `schemahub unify` prints after "schemahub unify: ": file, key path, problem, row.
    assert (
        str(info.value) == f"{lake.settings.mappings_dir}/newex_trades.yaml: transforms.trade_ts: {problem}"
    )
    assert main_history(spark, lake) == []
    assert spark.sql(f"SELECT * FROM {lake.spark_table()}.refs").collect() == []  # no branch either
    assert spark.table(lake.spark_table()).count() == 0


def test_an_unmappable_value_found_while_writing_leaves_no_snapshot_and_no_branch(
    spark: Any, lake: Lake, tmp_path: Path
) -> None:
    lake = newex_lake(lake, tmp_path)
    lake.append("raw_newex_trades", [newex_row(COINBASE[0]), newex_row(COINBASE[1], aggressor="X")])
    with pytest.raises(MappingDataError) as info:
        run_unify(lake.settings, spark, products=PRODUCTS)
    assert (info.value.key_path, info.value.problem) == (
        "transforms.side",
        "aggressor value not in the map table (or null): X "
        f"(exchange newex, table raw_newex_trades, trade tid={COINBASE[1]['trade_id']})",
    )
    assert main_history(spark, lake) == []
    assert spark.sql(f"SELECT * FROM {lake.spark_table()}.refs").collect() == []
    assert spark.table(lake.spark_table()).count() == 0


def test_dry_run_counts_and_checks_but_writes_nothing(spark: Any, lake: Lake) -> None:
    lake.append("raw_kraken_trades", KRAKEN)
    report = run_unify(lake.settings, spark, dry_run=True)
    assert (report.dry_run, report.rows_read, report.snapshot_id) == (True, 3, None)
    assert main_history(spark, lake) == []


def test_trades_unified_layout_after_a_run(spark: Any, lake: Lake) -> None:
    """Partitioned by day, rows sorted (exchange, symbol, trade_ts) within each file, v2."""
    day1 = COINBASE[11:]
    day2 = [{**r, "trade_id": r["trade_id"] + 1000, "time": r["time"] + 86_400_000_000} for r in day1]
    lake.append("raw_coinbase_trades", day1 + day2)
    lake.append("raw_kraken_trades", KRAKEN)
    run_unify(lake.settings, spark)
    t = lake.spark_table()
    files = spark.sql(
        f"SELECT file_path, partition.trade_ts_day AS day, record_count FROM {t}.files"
    ).collect()
    assert sorted((str(f.day), f.record_count) for f in files) == [
        ("2020-02-17", 89),
        ("2020-02-18", 89),
        ("2023-07-06", 3),
    ]
    for f in files:
        rows = spark.read.parquet(f.file_path).select("exchange", "symbol", "trade_ts").collect()
        assert rows == sorted(rows, key=lambda r: (r.exchange, r.symbol, r.trade_ts))
    props = dict(spark.sql(f"SHOW TBLPROPERTIES {t}").collect())
    assert props["format-version"] == "2"
    assert props["write.distribution-mode"] == "hash"
    now = datetime.now(UTC).replace(tzinfo=None)
    ingest = {r.ingest_ts for r in spark.table(t).collect()}
    assert len(ingest) == 1 and abs(now - ingest.pop()) < timedelta(minutes=5)
