"""The landing report a person reads: lag is `status`'s (never negative), plans and results."""

from __future__ import annotations

import pytest

from schemahub_lib.landing.cli import print_report
from schemahub_lib.ops.status import run_status
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.landing.conftest import ingest

SECOND = 10**9


def test_lag_is_never_negative_when_trades_newer_than_now_land(
    land_settings: Settings, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # "Now" a minute before the simulator's clock: the run lands trades newer than its now.
    as_of = sim.clock.now_ns() - 60 * SECOND
    report = ingest(land_settings, sim, "binance", as_of_ns=as_of, cold_start_minutes=2)
    (stream,) = report.streams
    assert stream.status == "ok" and stream.trades > 0
    assert stream.lag_seconds is not None and 0 <= stream.lag_seconds < 30
    print_report(report, as_json=False)
    assert "lag 0s" in capsys.readouterr().out or stream.lag_seconds >= 1


def test_ingest_and_status_measure_lag_alike(land_settings: Settings, sim: SimServer) -> None:
    report = ingest(land_settings, sim, "kraken", cold_start_minutes=2)
    (landed,) = report.streams
    status = run_status(land_settings, counts=False)
    (stream,) = [s for s in status.streams if (s.exchange, s.product) == ("kraken", "BTC-USD")]
    # Both: how far the newest landed trade is behind "now"; here now is the simulator's clock for
    # ingest and the wall clock for status, so the difference is the gap between the two clocks.
    gap_s = (status.generated_at.timestamp() * SECOND - sim.clock.now_ns()) / SECOND
    assert landed.lag_seconds is not None and stream.lag_s is not None
    assert abs(stream.lag_s - landed.lag_seconds - gap_s) < 30


def test_a_dry_run_with_nothing_new_says_nothing_is_due(
    land_settings: Settings, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest(land_settings, sim, "binance", cold_start_minutes=2).exit_code == 0
    plan = ingest(land_settings, sim, "binance", dry_run=True)  # the clock has not moved
    assert plan.plan[0]["expected_trades"] == 0
    print_report(plan, as_json=False)
    out = capsys.readouterr().out
    assert "nothing due: no trade to fetch" in out and "~0 trades" not in out
