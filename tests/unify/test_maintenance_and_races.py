"""Raw-table maintenance between runs (compaction, snapshot expiry) and two runs at once:
no trade skipped, none applied twice."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.unify import UnifyReport, run_unify
from tests.unify.conftest import (
    LANDED,
    Lake,
    binance_rows,
    coinbase_rows,
    head_summary,
    main_history,
    unified_keys,
)

pytestmark = pytest.mark.spark

COINBASE = coinbase_rows("coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json", "BTC-EUR")
BINANCE = binance_rows("binance/trades_BTCUSDT_2021-10-22_nautilus.json", "BTCUSDT")


def expected_keys() -> list[tuple[str, str, str]]:
    keys = [("COINBASE", "BTC-EUR", str(r["trade_id"])) for r in COINBASE]
    keys += [("BINANCE", "BTC-USDT", str(r["id"])) for r in BINANCE]
    return sorted(keys)


def land_in_pieces(lake: Lake, start: int, stop: int, step: int) -> None:
    for i in range(start, stop, step):
        lake.append("raw_coinbase_trades", COINBASE[i : i + step], ingest=LANDED + timedelta(seconds=i))


def compact(spark: Any, lake: Lake, table: str) -> None:
    name = lake.spark_table(table)
    rows = spark.sql(
        f"CALL {lake.settings.catalog_name}.system.rewrite_data_files(table => '{name}', "
        "options => map('min-input-files', '2'))"
    ).collect()
    assert rows[0].rewritten_data_files_count > 1  # the files really were rewritten


def test_compaction_between_runs_reads_only_the_new_appends(spark: Any, lake: Lake) -> None:
    land_in_pieces(lake, 0, 40, 10)
    lake.append("raw_binance_trades", BINANCE)
    assert run_unify(lake.settings, spark).rows_inserted == 50
    land_in_pieces(lake, 40, 70, 10)
    compact(spark, lake, "raw_coinbase_trades")  # merges consumed and unconsumed rows into one file
    land_in_pieces(lake, 70, 100, 10)

    report = run_unify(lake.settings, spark)
    by_table = {s.table: s for s in report.sources}
    assert by_table["raw_coinbase_trades"].mode == "incremental"
    # The rewritten file holds all 70 earlier rows; the append scan skips it: 60 new rows only.
    assert (report.rows_read, report.rows_inserted, report.duplicates_dropped) == (60, 60, 0)
    keys = unified_keys(spark, lake)
    assert keys == expected_keys()


def test_expired_consumed_snapshot_falls_back_to_a_full_read_without_duplicates(
    spark: Any, lake: Lake
) -> None:
    land_in_pieces(lake, 0, 40, 10)
    lake.append("raw_binance_trades", BINANCE)
    first = run_unify(lake.settings, spark)
    consumed = int(head_summary(spark, lake)["schemahub.unify.consumed.raw_coinbase_trades"])
    land_in_pieces(lake, 40, 100, 20)
    compact(spark, lake, "raw_coinbase_trades")
    time.sleep(0.01)
    name = lake.spark_table("raw_coinbase_trades")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # the session's zone is UTC
    spark.sql(
        f"CALL {lake.settings.catalog_name}.system.expire_snapshots(table => '{name}', "
        f"older_than => TIMESTAMP '{now}', retain_last => 1)"
    ).collect()
    snapshots = {r.snapshot_id for r in spark.sql(f"SELECT snapshot_id FROM {name}.snapshots").collect()}
    assert consumed not in snapshots and len(snapshots) == 1

    report = run_unify(lake.settings, spark)
    by_table = {s.table: s for s in report.sources}
    coinbase = by_table["raw_coinbase_trades"]
    assert coinbase.mode == "fallback"
    assert f"consumed snapshot {consumed} is no longer in raw_coinbase_trades's history" in coinbase.reason
    assert by_table["raw_binance_trades"].mode == "none"
    # Everything re-read, only the 60 new rows applied; the record now points at the new head.
    assert (report.rows_read, report.rows_inserted, report.duplicates_dropped) == (100, 60, 40)
    assert head_summary(spark, lake)["schemahub.unify.consumed.raw_coinbase_trades"] == str(snapshots.pop())
    assert unified_keys(spark, lake) == expected_keys()
    assert [h.snapshot_id for h in main_history(spark, lake)] == [first.snapshot_id, report.snapshot_id]

    again = run_unify(lake.settings, spark)  # back to normal: nothing new
    assert (again.snapshot_id, [s.mode for s in again.sources]) == (None, ["none"] * len(CONNECTORS))


def test_a_commit_elsewhere_that_leaves_main_alone_does_not_stop_the_publish(spark: Any, lake: Lake) -> None:
    """Another catalog client commits to trades_unified (a property, main untouched) between the
    run's branch write and its publish: the session's table is stale, the publish's commit loses
    the catalog's compare-and-set, and its retry (after a refresh) goes through in the same
    attempt: main still is the branch's ancestor."""
    lake.append("raw_binance_trades", BINANCE)
    unified = lake.settings.table_id("trades_unified")

    def commit_elsewhere() -> None:
        with lake.catalog.load_table(unified).transaction() as tx:
            tx.set_properties({"schemahub.test.touched": "yes"})

    report = run_unify(lake.settings, spark, before_publish=commit_elsewhere)
    assert (report.attempts, report.rows_inserted) == (1, len(BINANCE))
    table = lake.catalog.load_table(unified)
    assert table.properties["schemahub.test.touched"] == "yes"  # the other commit is kept
    assert (
        set(table.metadata.refs) == {"main"} and table.metadata.refs["main"].snapshot_id == report.snapshot_id
    )


def test_two_runs_at_once_insert_each_trade_once(spark: Any, lake: Lake) -> None:
    """Both runs read the same state and write their branch before either publishes; the
    fast-forward lets one through, the other starts over and finds nothing left to do."""
    land_in_pieces(lake, 0, 100, 25)
    lake.append("raw_binance_trades", BINANCE)
    barrier = threading.Barrier(2, timeout=120)
    waited: set[int] = set()

    def line_up() -> None:
        if threading.get_ident() not in waited:  # only the first attempt of each run waits
            waited.add(threading.get_ident())
            barrier.wait()

    reports: list[UnifyReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(run_unify(lake.settings, spark, before_publish=line_up))
        except BaseException as exc:  # surfaced by the asserts below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert [str(e)[:2000] for e in errors] == []
    assert len(waited) == 2  # both reached the publish step with a written branch
    winner, loser = sorted(reports, key=lambda r: r.attempts)
    assert (winner.attempts, winner.rows_inserted) == (1, 110)
    assert (loser.attempts, loser.snapshot_id, loser.rows_read) == (2, None, 0)
    assert unified_keys(spark, lake) == expected_keys()  # each key exactly once
    history = main_history(spark, lake)
    assert [h.snapshot_id for h in history] == [winner.snapshot_id]
    refs = spark.sql(f"SELECT name FROM {lake.spark_table()}.refs").collect()
    assert [r.name for r in refs] == ["main"]  # both run branches dropped

    # New raw rows and two more concurrent runs: still each key once.
    lake.append("raw_binance_trades", [{**r, "id": r["id"] + 100} for r in BINANCE])
    waited.clear()
    barrier.reset()
    reports.clear()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert [str(e)[:2000] for e in errors] == []
    assert sorted(r.rows_inserted for r in reports) == [0, 10]
    keys = unified_keys(spark, lake)
    assert len(keys) == len(set(keys)) == 120


def test_a_dead_runs_branch_is_dropped_by_the_next_run_and_a_live_ones_kept(spark: Any, lake: Lake) -> None:
    from schemahub_lib.unify import commit

    lake.append("raw_binance_trades", BINANCE[:5])
    first = run_unify(lake.settings, spark)
    table = lake.spark_table()
    dead = commit.new_branch_name(now_ms=int(time.time() * 1000) - commit.STALE_BRANCH_MS - 60_000)
    live = commit.new_branch_name()
    for branch in (dead, live):
        commit.create_branch(spark, table, branch, first.snapshot_id)
    lake.append("raw_binance_trades", BINANCE[5:])
    assert run_unify(lake.settings, spark).rows_inserted == 5
    names = {r.name for r in spark.sql(f"SELECT name FROM {table}.refs").collect()}
    assert names == {"main", live}
