"""Issue 10: an exchange answer that contradicts the cursor is never read as the end of history.

The issue's own examples against the real simulator: a repeated Binance page made a cold
start, a backfill and `backfill --resume` report `ok` with most trades missing; an overlapping
page lost ten trades. Each run here must end with raw exactly the simulator's ground truth,
or with the stream failed and a non-zero exit, never `ok` with trades missing.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.landing.conftest import assert_exact, backfill, ingest, stream_state, window_start

REPEAT = {"kind": "repeat", "exchange": "binance", "product": "BTCUSDT", "skip": 5, "count": 1}
OVERLAP = {"kind": "overlap", "exchange": "binance", "product": "BTCUSDT", "shift": 10, "skip": 5, "count": 1}


@pytest.mark.parametrize("fault", [REPEAT, OVERLAP], ids=["repeat", "overlap"])
def test_cold_start_survives_a_bad_page(
    land_settings: Settings, sim: SimServer, fault: dict[str, Any]
) -> None:
    start = window_start(sim, 10)
    sim.faults.add(fault)
    report = ingest(land_settings, sim, "binance", cold_start_minutes=10, limit=100)
    assert sum(r.fired for r in sim.faults.rules()) == 1
    assert report.exit_code == 0, report.streams[0].error
    assert assert_exact(land_settings, sim, "binance", start_ns=start) > 3_000


@pytest.mark.parametrize("fault", [REPEAT, OVERLAP], ids=["repeat", "overlap"])
def test_backfill_and_resume_survive_a_bad_page(
    land_settings: Settings, sim: SimServer, fault: dict[str, Any]
) -> None:
    since = window_start(sim, 8)
    ingest(land_settings, sim, "binance", cold_start_minutes=2, limit=100)
    sim.faults.add(fault)
    report = backfill(land_settings, "binance", since_ns=since, limit=100)
    assert sum(r.fired for r in sim.faults.rules()) == 1
    assert report.exit_code == 0, report.streams[0].error
    assert assert_exact(land_settings, sim, "binance", start_ns=since) > 3_000
    again = backfill(land_settings, "binance", since_ns=since, limit=100, resume=True)
    assert again.streams[0].status == "skipped" and again.streams[0].trades == 0
    assert assert_exact(land_settings, sim, "binance", start_ns=since) > 3_000


def test_a_persistent_repeat_fails_the_stream_with_a_clear_error(
    land_settings: Settings, sim: SimServer
) -> None:
    sim.faults.add({**REPEAT, "count": None})
    report = ingest(land_settings, sim, "binance", cold_start_minutes=10, limit=100)
    stream = report.streams[0]
    assert report.exit_code == 1 and stream.status == "failed", stream
    error = stream.error or ""
    assert "binance" in error and "/api/v3/historicalTrades" in error and "fromId=" in error, error
    assert "expected" in error, error
    # What did land is still exact (a complete range), and the next clean run finishes the walk.
    sim.faults.clear()
    assert ingest(land_settings, sim, "binance", cold_start_minutes=10, limit=100).exit_code == 0
    assert stream_state(land_settings, "binance").down is None
    assert_exact(land_settings, sim, "binance", start_ns=window_start(sim, 10))


def test_ingest_after_a_watermark_survives_a_repeat(land_settings: Settings, sim: SimServer) -> None:
    start = window_start(sim, 2)
    ingest(land_settings, sim, "binance", "kraken", "coinbase", cold_start_minutes=2, limit=100)
    sim.clock.advance(120)
    for exchange in ("binance", "kraken", "coinbase"):
        sim.faults.add({"kind": "repeat", "exchange": exchange, "skip": 3, "count": 1})
    report = ingest(land_settings, sim, "binance", "kraken", "coinbase", cold_start_minutes=2, limit=100)
    assert report.exit_code == 0, [s.error for s in report.streams]
    for exchange in ("binance", "kraken", "coinbase"):
        assert_exact(land_settings, sim, exchange, start_ns=start)
