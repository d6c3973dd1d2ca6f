"""Whole-table figures from Iceberg metadata and DuckDB over the data files (datafiles.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from schemahub_lib.explore import events
from schemahub_lib.explore.source import MarketKey, load_source
from schemahub_lib.explore.stats import collect_stats
from schemahub_lib.settings import load_settings
from tests.explore.conftest import SimLake
from tests.explore.lake import write_unified


def test_market_rows_come_from_file_bounds_when_each_file_holds_one_market(
    tmp_path: Path, lake: SimLake
) -> None:
    rows = load_source(lake.settings).lake.trades()
    settings = load_settings(env={}, warehouse=str(tmp_path / "warehouse"))
    expected = {}
    for exchange in sorted(set(rows.column("exchange").to_pylist())):
        part = rows.filter(pc.equal(rows.column("exchange"), exchange))
        write_unified(settings, [part])  # one append per market: one market per file
        expected[MarketKey(exchange, part.column("symbol")[0].as_py())] = part.num_rows
    source = load_source(settings)
    assert source.market_counts() == expected
    assert source.file_stats.files >= 3
    assert source.file_stats.files_read == 0 and source.file_stats.rows_read == 0  # metadata only


def test_markets_in_one_file_are_counted_by_duckdb(lake: SimLake) -> None:
    source = load_source(lake.settings)
    counts = source.market_counts()
    assert source.file_stats.files_read >= 1  # the lake lands all three markets in one append
    direct = source.lake.sql("SELECT exchange, symbol, count(*) AS n FROM trades_unified GROUP BY ALL")
    assert counts == {
        MarketKey(e, s): n
        for e, s, n in zip(*(direct.column(c).to_pylist() for c in direct.column_names), strict=True)
    }


def test_duckdb_bins_find_the_events_numpy_finds_from_every_trade(lake: SimLake) -> None:
    source = load_source(lake.settings)
    markets = list(source.market_counts())
    binned = events.rank_bins(source.bin_ranges(markets, events.BIN_S))
    assert source.file_stats.rows_read == sum(source.market_counts().values())
    from_trades = events.find_events(source.prices(markets).values())
    assert [e.as_dict() for e in binned] == [e.as_dict() for e in from_trades]
    assert binned[0].range_bps == pytest.approx(from_trades[0].range_bps)


def test_bytes_per_market_apportion_each_file_by_its_rows(tmp_path: Path, lake: SimLake) -> None:
    rows = load_source(lake.settings).lake.trades()
    settings = load_settings(env={}, warehouse=str(tmp_path / "warehouse"))
    write_unified(settings, [rows])  # the three markets mixed in each file
    kraken = rows.filter(pc.equal(rows.column("exchange"), "KRAKEN"))
    write_unified(settings, [kraken])  # and kraken again, alone in its own files
    source = load_source(settings)
    files = source.data_files()
    assert files is not None
    stats = collect_stats(settings, source)
    by_market = {(m["exchange"], m["symbol"]): m for m in stats["market_bytes"]}
    total = sum(f.size for f in files)
    assert sum(m["bytes_estimate"] for m in by_market.values()) == pytest.approx(total, abs=3)
    assert by_market[("KRAKEN", "BTC-USD")]["rows"] == 2 * kraken.num_rows
    mixed = [f for f in files if f.market is None]
    alone = [f for f in files if f.market == ("KRAKEN", "BTC-USD")]
    assert mixed and alone
    share = kraken.num_rows / rows.num_rows
    expected = sum(f.size for f in alone) + sum(f.size * share for f in mixed)
    assert by_market[("KRAKEN", "BTC-USD")]["bytes_estimate"] == pytest.approx(expected, rel=0.05)


def test_a_new_snapshot_bins_only_the_files_it_added(tmp_path: Path, lake: SimLake) -> None:
    rows = load_source(lake.settings).lake.trades()
    settings = load_settings(env={}, warehouse=str(tmp_path / "warehouse"))
    half = rows.num_rows // 2
    write_unified(settings, [rows.slice(0, half)])
    source = load_source(settings)
    markets = list(source.market_counts())
    source.bin_ranges(markets, events.BIN_S)
    first = source.file_stats.files_read
    assert first >= 1
    write_unified(settings, [rows.slice(half)])
    markets = list(source.market_counts())
    binned = events.rank_bins(source.bin_ranges(markets, events.BIN_S))
    assert 1 <= source.file_stats.files_read < source.file_stats.files  # only the new files
    # Bins a snapshot's files share are combined: the same events as from every trade at once.
    from_trades = events.find_events(source.prices(markets).values())
    assert [e.as_dict() for e in binned] == [e.as_dict() for e in from_trades]


def test_warming_up_computes_the_event_list_before_the_first_request(lake: SimLake) -> None:
    from schemahub_lib.explore.app import Explorer

    explorer = Explorer(lake.settings)
    explorer.warm().join(timeout=60)
    explorer.source.file_stats = None
    found = explorer.events("BTC", None)
    assert found and explorer.source.file_stats is None  # answered from the cache: nothing read
