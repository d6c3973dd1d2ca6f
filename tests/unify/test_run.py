"""run_unify end to end on the embedded catalog: one commit per run carrying what it consumed,
incremental reads, dedup (within a batch, across sources, across runs), idempotence."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.connectors import CONNECTORS, bitfinex, okx
from schemahub_lib.errors import ConfigError
from schemahub_lib.mapping import MappingDataError
from schemahub_lib.unify import run_unify
from schemahub_lib.unify.batch import FANOUT_MAX_DAYS
from tests.conftest import REPO
from tests.unify.conftest import (
    FIXTURES,
    LANDED,
    Lake,
    binance_rows,
    coinbase_rows,
    head_summary,
    kraken_rows,
    main_history,
    micros,
    unified_keys,
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
    used = ("raw_binance_trades", "raw_coinbase_trades", "raw_kraken_trades")
    assert [(s.table, s.mode) for s in first.sources if s.table not in used] == [
        ("raw_bitfinex_trades", "none"),  # mapped, empty: nothing to read
        ("raw_okx_trades", "none"),
    ]
    assert [(s.table, s.mode, s.rows_read) for s in first.sources if s.table in used] == [
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
    versions = len(lake.catalog.load_table(lake.settings.table_id("trades_unified")).metadata.metadata_log)
    second = run_unify(lake.settings, spark)
    # Three metadata commits (each a metadata.json and a catalog update): create the run's
    # branch, append to it, fast-forward main to it and drop it (commit.py).
    unified = lake.catalog.load_table(lake.settings.table_id("trades_unified"))
    assert len(unified.metadata.metadata_log) == versions + 3
    assert set(unified.metadata.refs) == {"main"}
    assert [
        (s.table, s.mode, s.start_snapshot, s.end_snapshot, s.rows_read)
        for s in second.sources
        if s.table in used
    ] == [
        ("raw_binance_trades", "none", bn1, bn1, 0),
        ("raw_coinbase_trades", "incremental", cb1, cb2, 45),
        ("raw_kraken_trades", "none", kr1, kr1, 0),
    ]
    assert (second.rows_read, second.rows_inserted, second.duplicates_dropped) == (45, 40, 5)
    history = main_history(spark, lake)
    assert len(history) == 2 and history[-1].parent_id == first.snapshot_id
    assert head_summary(spark, lake)["schemahub.unify.consumed.raw_coinbase_trades"] == str(cb2)
    assert head_summary(spark, lake)["schemahub.unify.consumed.raw_binance_trades"] == str(bn1)
    # Each append merges the table's manifests into one (ddl/trades_unified.sql), so planning
    # the next run's read of the target opens one manifest, not one per run so far.
    assert spark.sql(f"SELECT count(*) FROM {lake.spark_table()}.manifests").first()[0] == 1

    third = run_unify(lake.settings, spark)
    assert (third.snapshot_id, third.rows_read, [s.mode for s in third.sources]) == (
        None,
        0,
        ["none"] * len(CONNECTORS),
    )
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


def records(trades: list[Any]) -> list[dict[str, Any]]:
    """Raw rows exactly as landing writes them: the connector's records of a real page."""
    return [{**t.record, "_raw_payload": t.payload} for t in trades]


OKX = records(
    okx.parse_trades(
        (FIXTURES / "okx/trades_BTC-USDT_2025-05-12_nautilus.json").read_bytes(), product="BTC-USDT", url="u"
    )[0]
)
BITFINEX = records(
    bitfinex.parse_trades(
        (FIXTURES / "bitfinex/trades_tCHZUST_2021-04-05_ws-snapshot_cryptofeed.json").read_bytes(),
        symbol="tCHZUST",
        url="u",
    )[0]
)


def test_five_sources_unify_in_one_snapshot(spark: Any, lake: Lake) -> None:
    """OKX and Bitfinex came in as a connector, a DDL file, a mapping and seed entries: unify
    reads them beside the first three with no code of its own, in one commit."""
    consumed = {
        "raw_coinbase_trades": lake.append("raw_coinbase_trades", COINBASE[:5]),
        "raw_binance_trades": lake.append("raw_binance_trades", BINANCE[:4]),
        "raw_kraken_trades": lake.append("raw_kraken_trades", KRAKEN),
        "raw_okx_trades": lake.append("raw_okx_trades", OKX),
        "raw_bitfinex_trades": lake.append("raw_bitfinex_trades", BITFINEX),
    }
    report = run_unify(lake.settings, spark)
    assert sorted((s.table, s.mode, s.rows_read) for s in report.sources) == [
        ("raw_binance_trades", "full", 4),
        ("raw_bitfinex_trades", "full", 30),
        ("raw_coinbase_trades", "full", 5),
        ("raw_kraken_trades", "full", 3),
        ("raw_okx_trades", "full", 2),
    ]
    assert (report.rows_inserted, report.duplicates_dropped) == (44, 0)
    assert len(main_history(spark, lake)) == 1
    summary = head_summary(spark, lake)
    assert {k: v for k, v in summary.items() if k.startswith("schemahub.unify.consumed.")} == {
        f"schemahub.unify.consumed.{table}": str(snapshot) for table, snapshot in consumed.items()
    }
    rows = spark.table(lake.spark_table()).where("exchange IN ('OKX', 'BITFINEX')").collect()
    by_key = {(r.exchange, r.trade_id): r for r in rows}
    assert len(by_key) == 32
    assert (by_key[("OKX", "734864333")].side, by_key[("OKX", "734864333")].symbol) == ("SELL", "BTC-USDT")
    sold = by_key[("BITFINEX", "658685440")]
    assert (sold.symbol, sold.side, sold.quantity) == ("CHZ-USDT", "SELL", 5400.0)


def test_a_zero_amount_fails_the_run_and_commits_nothing(spark: Any, lake: Lake) -> None:
    lake.append("raw_okx_trades", OKX)
    lake.append("raw_bitfinex_trades", [BITFINEX[0], {**BITFINEX[1], "amount": 0.0}])
    with pytest.raises(MappingDataError) as info:
        run_unify(lake.settings, spark)
    assert info.value.file.endswith("bitfinex_trades.yaml")
    assert info.value.key_path == "transforms.side"
    problem = (
        "sign: amount is zero or not a number (or null): 0.0 (exchange bitfinex, table raw_bitfinex_trades, "
        f"trade id={BITFINEX[1]['id']})"
    )
    assert info.value.problem == problem
    assert main_history(spark, lake) == []
    assert spark.sql(f"SELECT * FROM {lake.spark_table()}.refs").collect() == []  # no branch either
    assert spark.table(lake.spark_table()).count() == 0


def test_a_mapping_without_a_connector_fails_before_anything_is_read(lake: Lake, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    for f in (REPO / "mappings").glob("*.yaml"):
        (mappings / f.name).write_text(f.read_text())
    (mappings / "newex_trades.yaml").write_text((REPO / "mappings" / "coinbase_trades.yaml").read_text())
    lake.append("raw_coinbase_trades", COINBASE[:3])
    settings = dataclasses.replace(lake.settings, mappings_dir=str(mappings))
    known = ", ".join(sorted(CONNECTORS))
    with pytest.raises(ConfigError) as info:
        run_unify(settings)  # no Spark session needed: it fails before one is started
    assert str(info.value) == (
        f"{mappings / 'newex_trades.yaml'}: a mapping for exchange 'newex', which has no connector; "
        f"known: {known}"
    )


def test_an_unmappable_value_found_while_writing_leaves_no_snapshot_and_no_branch(
    spark: Any, lake: Lake
) -> None:
    lake.append("raw_kraken_trades", [KRAKEN[0], {**KRAKEN[1], "side": "x"}])
    with pytest.raises(MappingDataError) as info:
        run_unify(lake.settings, spark)
    assert (info.value.key_path, info.value.problem) == (
        "transforms.side",
        "side value not in the map table (or null): x "
        f"(exchange kraken, table raw_kraken_trades, trade trade_id={KRAKEN[1]['trade_id']})",
    )
    assert main_history(spark, lake) == []
    assert spark.sql(f"SELECT * FROM {lake.spark_table()}.refs").collect() == []
    assert spark.table(lake.spark_table()).count() == 0


def test_dry_run_counts_and_checks_but_writes_nothing(spark: Any, lake: Lake) -> None:
    lake.append("raw_kraken_trades", KRAKEN)
    report = run_unify(lake.settings, spark, dry_run=True)
    assert (report.dry_run, report.rows_read, report.snapshot_id) == (True, 3, None)
    assert main_history(spark, lake) == []


def _reversed_ids(rows: list[dict[str, Any]], first_id: int) -> list[dict[str, Any]]:
    """`rows` with trade ids counting down as time goes on: id order is not time order."""
    by_time = sorted(rows, key=lambda r: r["time"])
    return [{**r, "trade_id": first_id + len(rows) - i} for i, r in enumerate(by_time)]


def _file_rows(spark: Any, lake: Lake) -> list[tuple[str, int, list[Any]]]:
    t = lake.spark_table()
    files = spark.sql(f"SELECT file_path, partition.trade_ts_day AS day, record_count FROM {t}.files")
    columns = ("exchange", "symbol", "trade_id", "trade_ts")
    read = spark.read.parquet
    return [
        (str(f.day), f.record_count, read(f.file_path).select(*columns).collect()) for f in files.collect()
    ]


def test_trades_unified_layout_after_a_run(spark: Any, lake: Lake) -> None:
    """Partitioned by day, v2. A batch over a few days is written in dedup's order, with no
    second sort: each file's rows grouped by (exchange, symbol), then by trade id."""
    day1 = _reversed_ids(COINBASE[11:], 1000)
    day2 = [{**r, "trade_id": r["trade_id"] + 1000, "time": r["time"] + 86_400_000_000} for r in day1]
    lake.append("raw_coinbase_trades", day1 + day2)
    lake.append("raw_kraken_trades", KRAKEN)
    run_unify(lake.settings, spark)
    files = _file_rows(spark, lake)
    want = [("2020-02-17", 89), ("2020-02-18", 89), ("2023-07-06", 3)]
    assert sorted((day, n) for day, n, _ in files) == want
    for _, _, rows in files:
        assert rows == sorted(rows, key=lambda r: (r.exchange, r.symbol, r.trade_id))
    assert any(
        rows != sorted(rows, key=lambda r: r.trade_ts) for _, _, rows in files
    )  # the data tells them apart
    t = lake.spark_table()
    props = dict(spark.sql(f"SHOW TBLPROPERTIES {t}").collect())
    assert props["format-version"] == "2"
    assert props["write.distribution-mode"] == "hash"
    now = datetime.now(UTC).replace(tzinfo=None)
    ingest = {r.ingest_ts for r in spark.table(t).collect()}
    assert len(ingest) == 1 and abs(now - ingest.pop()) < timedelta(minutes=5)


def test_a_batch_over_many_days_is_sorted_by_the_tables_order(spark: Any, lake: Lake) -> None:
    """Past FANOUT_MAX_DAYS the write keeps one file open per task (the table's local sort by
    day, exchange, symbol, trade_ts) instead of one per day."""
    days = FANOUT_MAX_DAYS + 1
    rows = _reversed_ids(COINBASE[: days * 10], 1000)
    spread = [{**r, "time": r["time"] + (i % days) * 86_400_000_000} for i, r in enumerate(rows)]
    lake.append("raw_coinbase_trades", spread)
    run_unify(lake.settings, spark)
    files = _file_rows(spark, lake)
    assert len({day for day, _, _ in files}) == days
    for _, _, rows_in_file in files:
        assert rows_in_file == sorted(rows_in_file, key=lambda r: (r.exchange, r.symbol, r.trade_ts))
    assert any(r != sorted(r, key=lambda r: r.trade_id) for _, _, r in files)


def test_a_landed_batch_file_is_read_in_several_tasks(spark: Any, lake: Lake) -> None:
    """One landing flush (one Parquet file) of ~400k trades, ~13 MB: the raw table's row-group
    limit cuts it into row groups and read_raw's split size makes them separate tasks, so the
    read uses more than one core. Written by landing's own writer, with the table's properties."""
    import numpy as np
    import pyarrow as pa

    from schemahub_lib.landing.writer import commit_files, write_data_files
    from schemahub_lib.unify.reads import SourceRead, read_raw

    n = 400_000
    rng = np.random.default_rng(7)
    table = lake.catalog.load_table(lake.settings.table_id("raw_binance_trades"))
    time_us = micros(datetime(2024, 5, 1, tzinfo=UTC)) + np.arange(n, dtype=np.int64) * 1000
    price = rng.uniform(60_000, 70_000, n).round(2)
    qty = rng.uniform(0.0001, 2, n).round(5)
    columns = {
        "id": np.arange(n, dtype=np.int64),
        "symbol": ["BTCUSDT"] * n,
        "price": price,
        "qty": qty,
        "quote_qty": price * qty,
        "time": time_us,
        "is_buyer_maker": rng.random(n) < 0.5,
        "is_best_match": np.ones(n, dtype=bool),
        "_source": ["binance"] * n,
        "_source_ingest_ts": np.full(n, micros(LANDED)),
        "_raw_payload": [
            f'{{"id":{i},"price":"{p}","qty":"{q}"}}' for i, p, q in zip(range(n), price, qty, strict=True)
        ],
        "_run_id": ["test-run"] * n,
    }
    schema = table.schema().as_arrow()
    arrays = [
        pa.array(columns[f.name], pa.int64()).cast(f.type)
        if pa.types.is_timestamp(f.type)
        else pa.array(columns[f.name], f.type)
        for f in schema
    ]
    commit_files(table, write_data_files(table, pa.Table.from_arrays(arrays, schema=schema)), {})
    (data_file,) = [task.file for task in table.refresh().scan().plan_files()]
    assert len(data_file.split_offsets or []) == 4  # 400k rows in row groups of 131,072

    snapshot = table.current_snapshot()
    assert snapshot is not None
    read = SourceRead("raw_binance_trades", "full", None, snapshot.snapshot_id)
    frame = read_raw(spark, lake.spark_table("raw_binance_trades"), read)
    assert frame.rdd.getNumPartitions() > 1
    assert frame.count() == n
