"""Lead-lag measured from trades read back from trades_unified recovers the simulator's lags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schemahub_lib.explore.leadlag import estimate_lead_lag
from schemahub_lib.explore.replay import lead_lag
from schemahub_lib.explore.source import MarketKey, load_source
from tests.explore.conftest import SimLake, sim_lake

NS = 1_000_000_000
BINANCE = MarketKey("BINANCE", "BTC-USDT")
COINBASE = MarketKey("COINBASE", "BTC-USD")
KRAKEN = MarketKey("KRAKEN", "BTC-USD")


def tolerance(lag_ms: float) -> float:
    """The issue's bar: ±25 ms or ±30 %, whichever is larger."""
    return max(25.0, 0.3 * abs(lag_ms))


def spike_trades(lake: SimLake) -> dict:
    start, end = lake.spike_ns
    source = load_source(lake.settings)
    return source.trades([BINANCE, COINBASE, KRAKEN], start - 30 * NS, end + 30 * NS)


def pair(summary: dict, a: str, b: str) -> dict:
    return next(p for p in summary["pairs"] if {p["a"], p["b"]} == {a, b})


def signed_lag(p: dict, leader: str) -> float:
    """The lag with `leader` first: positive when it leads."""
    return p["lag_ms"] if p["a"] == leader else -p["lag_ms"]


def test_default_lags_are_recovered(lake: SimLake) -> None:
    summary = lead_lag(spike_trades(lake))
    cb = pair(summary, "binance", "coinbase")
    kr = pair(summary, "binance", "kraken")
    assert cb["leader"] == "binance" and kr["leader"] == "binance", summary["text"]
    assert abs(signed_lag(cb, "binance") - lake.coinbase_lag_ms) <= tolerance(lake.coinbase_lag_ms), cb
    assert abs(signed_lag(kr, "binance") - lake.kraken_lag_ms) <= tolerance(lake.kraken_lag_ms), kr
    assert "binance leads coinbase by" in summary["text"]
    assert 0 < cb["stderr_ms"] < 40 and 0 < kr["stderr_ms"] < 80


@pytest.mark.parametrize(("coinbase_ms", "kraken_ms"), [(0.0, 0.0), (40.0, 150.0)])
def test_configured_lags(tmp_path: Path, coinbase_ms: float, kraken_ms: float) -> None:
    lake = sim_lake(tmp_path, coinbase_ms, kraken_ms)
    summary = lead_lag(spike_trades(lake))
    if coinbase_ms == kraken_ms == 0:
        assert summary["text"].startswith("no venue leads"), summary["text"]
        assert all(p["leader"] is None for p in summary["pairs"]), summary["pairs"]
        return
    for venue, lag in (("coinbase", coinbase_ms), ("kraken", kraken_ms)):
        p = pair(summary, "binance", venue)
        assert p["leader"] == "binance", summary["text"]
        assert abs(signed_lag(p, "binance") - lag) <= tolerance(lag), p


def test_a_shifted_copy_is_found_to_the_millisecond() -> None:
    """A random walk observed by two venues, B 137 ms behind A, at Poisson times."""
    rng = np.random.default_rng(3)
    grid = np.arange(0, 120 * NS, 1_000_000)  # 1 ms path
    path = np.cumsum(rng.standard_normal(len(grid))) * 1e-5
    t_a = np.sort(rng.choice(grid, 6000, replace=False))
    t_b = np.sort(rng.choice(grid[200:], 3000, replace=False))
    lag = 137
    p_a = np.exp(path[t_a // 1_000_000])
    p_b = np.exp(path[t_b // 1_000_000 - lag])
    result = estimate_lead_lag("a", t_a, p_a, "b", t_b, p_b)
    assert result is not None and result.leader == "a"
    assert abs(result.lag_ms - lag) <= 3, result
    swapped = estimate_lead_lag("b", t_b, p_b, "a", t_a, p_a)
    assert swapped is not None and swapped.leader == "a" and abs(swapped.lag_ms + lag) <= 3


def test_too_few_trades_give_no_estimate() -> None:
    t = np.arange(10, dtype=np.int64) * NS
    assert estimate_lead_lag("a", t, np.ones(10), "b", t, np.ones(10)) is None
