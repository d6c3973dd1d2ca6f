"""The synthetic markets: correlated venues, Binance leading, a volatility spike where venues disagree."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from schemahub_lib.sim.truth import Truth


def log_prices(truth: Truth) -> np.ndarray:
    return np.log(np.array([float(p) for p in truth.price]))


def best_lag_ms(leader: Truth, follower: Truth, mask: np.ndarray) -> int:
    """The shift of the leader's price path that best explains the follower's trades."""
    lead, follow = log_prices(leader), log_prices(follower)[mask]
    t = follower.time_ns[mask]
    lags = np.arange(0, 600, 10)
    spread = [np.var(follow - np.interp(t - lag * 1_000_000, leader.time_ns, lead)) for lag in lags]
    return int(lags[int(np.argmin(spread))])


def residual_bp(leader: Truth, follower: Truth, mask: np.ndarray, lag_ms: int) -> float:
    lead, follow = log_prices(leader), log_prices(follower)
    gap = follow[mask] - np.interp(follower.time_ns[mask] - lag_ms * 1_000_000, leader.time_ns, lead)
    return float(np.std(gap - gap.mean()) * 1e4)


def test_venues_share_one_fair_price(sim: SimServer) -> None:
    bn, cb = sim.truth("binance", "BTCUSDT"), sim.truth("coinbase", "BTC-USD")
    grid = np.arange(cb.time_ns[0], cb.time_ns[-1], 10**9)
    returns_bn = np.diff(np.interp(grid, bn.time_ns, log_prices(bn)))
    returns_cb = np.diff(np.interp(grid, cb.time_ns, log_prices(cb)))
    assert np.corrcoef(returns_bn, returns_cb)[0, 1] > 0.8
    # USDT trades a little above USD; the gap stays within a few basis points.
    gap_bp = (np.median(log_prices(bn)) - np.median(log_prices(cb))) * 1e4
    assert 0 < gap_bp < 5
    eth, sol = sim.truth("binance", "ETHUSDT"), sim.truth("binance", "SOLUSDT")
    assert 1000 < float(eth.price[0]) < 10000 and 30 < float(sol.price[0]) < 600


def test_binance_leads_coinbase_lags_kraken_lags_more_in_the_spike(sim: SimServer) -> None:
    bn, cb, kr = (
        sim.truth("binance", "BTCUSDT"),
        sim.truth("coinbase", "BTC-USD"),
        sim.truth("kraken", "XBTUSD"),
    )
    assert bn.spike is not None
    start, end = bn.spike
    in_spike_cb = (cb.time_ns >= start) & (cb.time_ns < end)
    in_spike_kr = (kr.time_ns >= start) & (kr.time_ns < end)
    coinbase_lag, kraken_lag = best_lag_ms(bn, cb, in_spike_cb), best_lag_ms(bn, kr, in_spike_kr)
    assert 40 <= coinbase_lag <= 120
    assert kraken_lag >= coinbase_lag + 80
    # Venues disagree more inside the spike than outside it.
    assert residual_bp(bn, cb, in_spike_cb, coinbase_lag) > 2 * residual_bp(
        bn, cb, ~in_spike_cb, coinbase_lag
    )


@pytest.mark.parametrize(
    ("exchange", "product", "low", "high"), [("okx", "BTC-USDT", 10, 60), ("bitfinex", "tBTCUSD", 110, 200)]
)
def test_okx_and_bitfinex_have_their_own_lag_in_the_spike(
    sim: SimServer, exchange: str, product: str, low: int, high: int
) -> None:
    bn, venue = sim.truth("binance", "BTCUSDT"), sim.truth(exchange, product)
    assert bn.spike is not None
    in_spike = (venue.time_ns >= bn.spike[0]) & (venue.time_ns < bn.spike[1])
    assert low <= best_lag_ms(bn, venue, in_spike) <= high


def test_spike_raises_volatility_and_trade_rate(sim: SimServer, http: requests.Session) -> None:
    spike = http.get(f"{sim.admin_url}/spike").json()
    start, end = spike["start_ns"], spike["end_ns"]
    assert (end - start) == 120 * 10**9 and start == sim.clock.now_ns() - 600 * 10**9
    bn = sim.truth("binance", "BTCUSDT")
    inside = (bn.time_ns >= start) & (bn.time_ns < end)
    seconds_in, seconds_out = (end - start) / 1e9, 1200 - (end - start) / 1e9
    assert inside.sum() / seconds_in > 2 * (~inside).sum() / seconds_out
    grid_in = np.arange(start, end, 10**9)
    grid_out = np.arange(bn.time_ns[0], start, 10**9)
    vol_in = np.std(np.diff(np.interp(grid_in, bn.time_ns, log_prices(bn))))
    vol_out = np.std(np.diff(np.interp(grid_out, bn.time_ns, log_prices(bn))))
    assert vol_in > 4 * vol_out


def test_spike_time_and_trade_rates_are_configurable() -> None:
    with running_sim(
        spike_offset_s=-300.0, spike_duration_s=60.0, rates={"XBTUSDT": 20.0}, rate_scale=0.5
    ) as sim:
        truth = sim.truth("kraken", "XBTUSDT")
        assert truth.spike == (sim.clock.now_ns() - 300 * 10**9, sim.clock.now_ns() - 240 * 10**9)
        outside = (truth.time_ns < truth.spike[0]) | (truth.time_ns >= truth.spike[1])
        assert 9 < outside.sum() / 1140 < 11  # 20 trades/s x 0.5
    with running_sim(spike_offset_s=None) as sim:
        assert sim.truth("kraken", "XBTUSD").spike is None
    with pytest.raises(ConfigError, match="binance:DOGEUSDT"):
        SimServer(rates={"binance:DOGEUSDT": 5.0})
