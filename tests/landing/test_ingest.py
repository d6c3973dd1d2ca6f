"""Ingest against the simulator: cold start, repeated runs, restarts, catch-ups, exactness."""

from __future__ import annotations

import json
import logging

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.errors import ConfigError
from schemahub_lib.landing.watermarks import STATE_PROPERTY
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.landing.conftest import (
    RAW_ID_COLUMN,
    STREAMS,
    assert_exact,
    ingest,
    raw_rows,
    stream_state,
    window_start,
)

EXCHANGES = sorted(STREAMS)


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_cold_start_lands_exactly_the_window(land_settings: Settings, sim: SimServer, exchange: str) -> None:
    report = ingest(land_settings, sim, exchange, cold_start_minutes=5)
    assert report.exit_code == 0 and report.streams[0].status == "ok"
    start = window_start(sim, 5)
    count = assert_exact(land_settings, sim, exchange, start_ns=start)
    assert count == report.trades > 100
    # Nothing older than the window: the trade just before it was not landed.
    older = sim.truth(exchange, STREAMS[exchange][1], end_ns=start - 1)
    assert older.trade_id[-1] < min(r[RAW_ID_COLUMN[exchange]] for r in raw_rows(land_settings, exchange))
    state = stream_state(land_settings, exchange)
    newest = sim.truth(exchange, STREAMS[exchange][1], start_ns=start)
    assert state.last is not None and state.last.trade_id == int(newest.trade_id[-1])
    assert state.first is not None and state.first.trade_id == int(newest.trade_id[0])
    assert state.down is None and state.up is None


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_repeated_runs_land_every_trade_once(land_settings: Settings, sim: SimServer, exchange: str) -> None:
    start = window_start(sim, 3)
    ingest(land_settings, sim, exchange, cold_start_minutes=3)
    for advance in (0, 7, 45, 0, 130):  # nothing new, a little, more, nothing, two minutes
        sim.clock.advance(advance)
        report = ingest(land_settings, sim, exchange, cold_start_minutes=3, flush_trades=700)
        assert report.exit_code == 0
    assert assert_exact(land_settings, sim, exchange, start_ns=start) > 1000


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_nothing_new_writes_no_snapshot(land_settings: Settings, sim: SimServer, exchange: str) -> None:
    ingest(land_settings, sim, exchange, cold_start_minutes=2)
    table = load_catalog(land_settings).load_table(land_settings.table_id(f"raw_{exchange}_trades"))
    before = [s.snapshot_id for s in table.snapshots()]
    report = ingest(land_settings, sim, exchange, cold_start_minutes=2)
    assert report.trades == 0 and report.streams[0].status == "ok"
    table = load_catalog(land_settings).load_table(land_settings.table_id(f"raw_{exchange}_trades"))
    assert [s.snapshot_id for s in table.snapshots()] == before


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_long_gap_catches_up_everything_and_warns(
    land_settings: Settings, sim: SimServer, exchange: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="schemahub")
    start = window_start(sim, 2)
    ingest(land_settings, sim, exchange, cold_start_minutes=2)
    sim.clock.advance(8 * 60)  # four windows later: a missed schedule must not lose trades
    # Pages of 100 (every exchange's maximum is at least that) and flushes of 500 trades.
    report = ingest(land_settings, sim, exchange, cold_start_minutes=2, flush_trades=500, limit=100)
    assert report.exit_code == 0
    assert report.streams[0].commits >= 2  # flushed in several snapshots
    assert assert_exact(land_settings, sim, exchange, start_ns=start) > 1_000
    warnings = [json.loads(r.getMessage()) for r in caplog.records if "long_catch_up" in r.getMessage()]
    assert warnings and warnings[0]["behind_minutes"] == pytest.approx(8, abs=0.1)
    assert [r.levelno for r in caplog.records if "long_catch_up" in r.getMessage()] == [logging.WARNING]


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_capped_catch_up_records_the_skipped_ids(
    land_settings: Settings, sim: SimServer, exchange: str
) -> None:
    ingest(land_settings, sim, exchange, cold_start_minutes=2)
    before = stream_state(land_settings, exchange)
    sim.clock.advance(6 * 60)
    ingest(land_settings, sim, exchange, cold_start_minutes=2, max_catch_up_minutes=1)
    after = stream_state(land_settings, exchange)
    assert before.last is not None and after.last is not None
    cap_start = window_start(sim, 1)
    landed_since = sim.truth(exchange, STREAMS[exchange][1], start_ns=cap_start)
    first_new = int(landed_since.trade_id[0])
    assert after.skipped == ((before.last.trade_id + 1, first_new - 1),)
    rows = raw_rows(land_settings, exchange)
    id_col = RAW_ID_COLUMN[exchange]
    assert_exact(
        land_settings, sim, exchange, from_id=first_new, rows=[r for r in rows if r[id_col] >= first_new]
    )
    assert_exact(land_settings, sim, exchange, to_id=before.last.trade_id, start_ns=window_start(sim, 8),
                 rows=[r for r in rows if r[id_col] <= before.last.trade_id])  # fmt: skip


def test_skip_checkpoint_never_relands(land_settings: Settings, sim: SimServer) -> None:
    start = window_start(sim, 4)
    ingest(land_settings, sim, "coinbase", "binance", cold_start_minutes=4)
    sim.clock.advance(30)
    # A fresh fetch over a window that overlaps what is landed: only the new trades land.
    report = ingest(land_settings, sim, "coinbase", "binance", cold_start_minutes=4, skip_checkpoint=True)
    assert report.exit_code == 0
    for exchange in ("coinbase", "binance"):
        assert_exact(land_settings, sim, exchange, start_ns=start)


def test_before_and_after_bound_the_ids(land_settings: Settings, sim: SimServer) -> None:
    truth = sim.truth("binance", "BTCUSDT", start_ns=window_start(sim, 5))
    ids = truth.trade_id.tolist()
    after, before = ids[100], ids[2_500]
    ingest(land_settings, sim, "binance", after_id=after, before_id=before)
    got = sorted(r["id"] for r in raw_rows(land_settings, "binance"))
    assert got == [i for i in ids if after < i < before]
    ingest(land_settings, sim, "binance")  # the next run continues after the bound
    assert_exact(land_settings, sim, "binance", from_id=after + 1)


def test_kraken_after_without_watermark_is_refused(land_settings: Settings, sim: SimServer) -> None:
    report = ingest(land_settings, sim, "kraken", after_id=5)
    assert report.exit_code == 1
    assert "--after TRADE_ID needs a watermark" in (report.streams[0].error or "")


def test_unknown_product_names_the_valid_ones(land_settings: Settings, sim: SimServer) -> None:
    with pytest.raises(ConfigError, match=r"DOGE-EUR not in the seed.*valid: BTC-USD, ETH-USD"):
        ingest(land_settings, sim, "coinbase", "DOGE-EUR")


def test_state_rides_in_the_snapshot_with_the_data(land_settings: Settings, sim: SimServer) -> None:
    ingest(land_settings, sim, "coinbase", "ETH-USD", "BTC-USD", cold_start_minutes=2)
    table = load_catalog(land_settings).load_table(land_settings.table_id("raw_coinbase_trades"))
    snapshots = table.snapshots()
    assert len(snapshots) == 2  # one per stream
    for snap in snapshots:
        assert snap.summary is not None
        assert json.loads(snap.summary[STATE_PROPERTY] or "{}")["v"] == 1
        landed_here = int(snap.summary["added-records"] or 0)
        assert landed_here > 0 and snap.summary["schemahub.run_id"].startswith("ingest-")
    # The newest snapshot carries both streams: one property holds the whole exchange.
    last = json.loads(table.current_snapshot().summary[STATE_PROPERTY])  # type: ignore[union-attr]
    assert sorted(last["streams"]) == ["BTC-USD", "ETH-USD"]
    assert last["streams"]["BTC-USD"]["last"][0] == stream_state(land_settings, "coinbase").last.trade_id  # type: ignore[union-attr]
