"""Backfill against the simulator: history below what is landed, bounded, resumable, exact."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.errors import ConfigError
from schemahub_lib.landing.backfill import BackfillOptions, run_backfill
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.landing.conftest import (
    STREAMS,
    assert_exact,
    backfill,
    ingest,
    stream_state,
    window_start,
)

ALL = tuple(sorted(STREAMS))


def history_start(sim: SimServer) -> int:
    return int(sim.scenario.origin_ns)


def test_backfill_below_a_cold_start_reaches_the_start_of_history(
    land_settings: Settings, sim: SimServer
) -> None:
    ingest(land_settings, sim, *ALL, cold_start_minutes=3)
    report = backfill(land_settings, *ALL, workers=3, flush_trades=5_000)
    assert report.exit_code == 0 and {s.status for s in report.streams} == {"ok"}
    for exchange in ALL:
        assert assert_exact(land_settings, sim, exchange) > 3_000  # everything the venue ever served
        state = stream_state(land_settings, exchange)
        assert state.history is not None and state.history.complete
        if CONNECTORS[exchange].history_s is None:
            assert state.history.since_ns is None
        else:  # only recent trades are served (OKX): the start moved inside them, below every trade
            assert state.first is not None and state.history.since_ns is not None
            assert state.history.since_ns < state.first.time_ns
        assert state.down is None and state.below is None
    commits = {s.exchange: s.commits for s in report.streams}
    assert commits["binance"] >= 5  # 30k+ trades in flushes of 5k, each its own snapshot
    # Ingest goes on from the same watermark: nothing twice.
    sim.clock.advance(40)
    assert ingest(land_settings, sim, *ALL, cold_start_minutes=3).exit_code == 0
    assert backfill(land_settings, *ALL).streams[0].status == "skipped"  # already complete
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange)


def test_backfill_from_nothing_with_since_and_until(land_settings: Settings, sim: SimServer) -> None:
    since, until = window_start(sim, 12), window_start(sim, 4)
    report = backfill(land_settings, *ALL, since_ns=since, until_ns=until)
    assert report.exit_code == 0
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange, start_ns=since, end_ns=until - 1)
    # Ingest continues from the newest backfilled trade: the gap up to now is a catch-up.
    assert ingest(land_settings, sim, *ALL, cold_start_minutes=1).exit_code == 0
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange, start_ns=since)


def test_interrupted_backfill_needs_resume_and_finishes_exactly(
    land_settings: Settings, sim: SimServer
) -> None:
    ingest(land_settings, sim, *ALL, cold_start_minutes=2)
    for exchange in ALL:  # each walk fails for good after a few pages
        sim.faults.add(
            {"kind": "server_error", "status": 400, "exchange": exchange, "skip": 4, "count": None}
        )
    first = backfill(land_settings, *ALL, limit=100, flush_trades=300)  # 100: the smallest maximum (OKX)
    assert {s.status for s in first.streams} == {"failed"}
    assert all(s.commits >= 1 for s in first.streams)  # flushed progress before failing
    unfinished = {x: stream_state(land_settings, x) for x in ALL}
    assert unfinished["kraken"].below is not None
    assert unfinished["coinbase"].down is not None and unfinished["coinbase"].down.owner == "backfill"
    sim.faults.clear()
    refused = backfill(land_settings, *ALL, limit=100)
    assert {s.status for s in refused.streams} == {"failed"}
    assert all("pass --resume" in (s.error or "") for s in refused.streams)
    resumed = backfill(land_settings, *ALL, resume=True, workers=2)
    assert resumed.exit_code == 0
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange)


def test_dry_run_writes_nothing_and_plans_pages(
    land_settings: Settings, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from schemahub_lib.cli import build_parser
    from schemahub_lib.commands import backfill as command

    args = build_parser().parse_args(["backfill", "--dry-run", "--since", str(window_start(sim, 15) / 1e9)])
    assert command.run(args, land_settings) == 0
    out = capsys.readouterr().out
    assert not Path(land_settings.warehouse).exists()
    assert "nothing written" in out and "pages" in out and "at the rate limit" in out
    # Beside the hours, what the backfill costs as the deployment's on-demand Glue job.
    assert re.search(r"^Glue: ~\$[0-9.,]+ as the on-demand job schemahub-backfill \(", out, re.M), out
    report = backfill(land_settings, *ALL, dry_run=True)
    plans = {p["exchange"]: p for p in report.plan}
    for exchange in ALL:
        truth = sim.truth(exchange, STREAMS[exchange][1])
        expected_pages = len(truth) / CONNECTORS[exchange].max_page_limit
        assert plans[exchange]["expected_pages"] == pytest.approx(expected_pages, rel=0.15, abs=2)
        assert plans[exchange]["seconds_at_rate_limit"] > 0
    assert not Path(land_settings.warehouse).exists()


def test_ingest_dry_run_writes_nothing(land_settings: Settings, sim: SimServer) -> None:
    ingest(land_settings, sim, *ALL, cold_start_minutes=2)
    files_before = _files(land_settings)
    sim.clock.advance(60)
    report = ingest(land_settings, sim, *ALL, cold_start_minutes=2, dry_run=True)
    assert report.dry_run and len(report.plan) == len(ALL)
    assert all("catch up after trade" in p["mode"] and p["expected_trades"] > 0 for p in report.plan)
    assert _files(land_settings) == files_before


def _files(settings: Settings) -> list[str]:
    """Every file of the warehouse but SQLite's own -wal/-shm side files (opened, not written)."""
    return sorted(str(p) for p in Path(settings.warehouse).rglob("*") if not p.name.startswith("catalog.db-"))


def test_unknown_exchange_is_refused(land_settings: Settings) -> None:
    with pytest.raises(ConfigError, match="unknown exchange 'bitstamp'; known: binance, bitfinex, coinbase"):
        run_backfill(land_settings, BackfillOptions(exchanges=("bitstamp",)))


def test_progress_goes_to_log_lines_off_a_terminal(
    land_settings: Settings, sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="schemahub")
    report = backfill(
        land_settings,
        "binance",
        since_ns=window_start(sim, 10),
        flush_trades=2_000,
        progress=None,
        progress_lines="json",
    )
    assert report.exit_code == 0
    lines = [json.loads(r.getMessage()) for r in caplog.records if '"backfill.progress"' in r.getMessage()]
    assert lines, "expected at least the closing progress line"
    last = lines[-1]
    assert last["trades"] == report.trades and "binance:BTC-USDT" in last["streams"]
    assert last["streams"]["binance:BTC-USDT"]["done"] is True
