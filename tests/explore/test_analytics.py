"""The replay's numbers: events, price grid, spread, downsampling, gaps, the window cap."""

from __future__ import annotations

import numpy as np
import pytest

from schemahub_lib.explore import events, replay
from schemahub_lib.explore.source import ExploreError, MarketKey, MarketTrades, load_source
from tests.explore.conftest import SimLake

NS = 1_000_000_000
A = MarketKey("BINANCE", "BTC-USDT")
B = MarketKey("COINBASE", "BTC-USD")


def trades(market: MarketKey, seconds: list[float], prices: list[float]) -> MarketTrades:
    t = (np.array(seconds) * NS).astype(np.int64)
    return MarketTrades(market, t, np.array(prices, dtype=float), np.ones(len(t)))


def test_the_top_event_is_the_simulated_spike(lake: SimLake) -> None:
    source = load_source(lake.settings)
    markets = list(source.market_counts())
    found = events.find_events(source.prices(markets).values())
    start, end = lake.spike_ns
    top = found[0]
    assert start <= top.start_ns < end, (top, lake.spike_ns)
    assert top.markets == 3 and top.range_bps > 3 * found[1].range_bps
    # events are at least SEPARATION_S apart, so the spike is one event, not twelve
    starts = sorted(e.start_ns for e in found)
    assert min(np.diff(starts)) >= events.SEPARATION_S * NS


def test_event_score_is_the_median_market_not_one_bad_print() -> None:
    calm = [trades(m, [1, 2, 3, 11, 12], [100, 100.01, 100, 100, 100.02]) for m in (A, B)]
    bad = trades(MarketKey("KRAKEN", "BTC-USD"), [2, 12], [100, 100])
    bad = MarketTrades(bad.market, np.r_[bad.t_ns, 3 * NS], np.r_[bad.price, 150.0], np.ones(3))
    order = np.argsort(bad.t_ns)
    bad = MarketTrades(bad.market, bad.t_ns[order], bad.price[order], bad.qty)
    found = events.find_events([*calm, bad], separation_s=0)
    assert found[0].range_bps == pytest.approx(2.0, abs=0.01)  # bin 1: A 2 bps, B 2 bps, kraken 5000


def test_grid_last_price_spread_and_rate() -> None:
    window = replay.Window(0, 3 * NS)
    payload = replay.build_replay(
        {A: trades(A, [0.5, 1.5, 1.6], [100, 101, 102]), B: trades(B, [1.0], [100])}, window
    )
    a, b = payload["markets"]
    step = payload["step_ms"] / 1000

    def at(seconds: float) -> int:
        return round(seconds / step)

    assert a["last_price"][at(0.4)] is None and a["last_price"][at(0.5)] == 100
    assert a["last_price"][at(1.7)] == 102 and b["last_price"][at(1.7)] == 100
    assert payload["spread_bps"][at(0.9)] is None  # one market only: no spread
    assert payload["spread_bps"][at(1.7)] == pytest.approx(2 / 101 * 1e4, abs=0.01)
    assert a["trades_per_s"][at(1.7)] == 2 and a["trades_per_s"][at(2.6)] == 0
    assert payload["mixed_quotes"] and "USD and USDT" in payload["mixed_quotes"]


def test_downsampling_keeps_every_extreme() -> None:
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 600 * NS, 200_000))
    p = 100 + np.cumsum(rng.standard_normal(len(t))) * 0.01
    p[123_456] = 500.0  # one spike print must survive
    dt, dp = replay.downsample(t, p, 0, 600 * NS)
    assert len(dt) <= 4 * replay.DRAW_BUCKETS
    assert dp.max() == 500.0 and dp.min() == p.min()
    assert np.all(np.diff(dt) >= 0)


def test_gaps_ledger_no_data_and_silence() -> None:
    window = replay.Window(0, 600 * NS)
    busy = trades(A, list(np.arange(0, 100, 0.5)) + list(np.arange(400, 600, 0.5)), [100.0] * 600)
    empty = trades(B, [], [])
    ledger = [{"exchange": "binance", "symbol": "BTC-USDT", "first_ts": 50 * NS, "last_ts": 70 * NS,
               "first_id": 1, "last_id": 9, "status": "open", "layer": "unified"}]  # fmt: skip
    gaps = replay.find_gaps({A: busy, B: empty}, ledger, window)
    kinds = {(g["market"], g["kind"]): (g["start_ms"], g["end_ms"]) for g in gaps}
    assert kinds[("BINANCE:BTC-USDT", "ledger")] == (50_000, 70_000)
    assert kinds[("COINBASE:BTC-USD", "no_data")] == (0, 600_000)
    assert kinds[("BINANCE:BTC-USDT", "silence")] == (99_500, 400_000)


def test_window_is_capped_and_says_so() -> None:
    w = replay.clamp_window(0, 3600 * NS)
    assert w.end_ns == replay.MAX_WINDOW_S * NS and "capped at 30 minutes" in (w.notice or "")
    with pytest.raises(ExploreError, match="empty window"):
        replay.clamp_window(5, 5)


def test_lead_lag_names_the_market_when_a_venue_has_two(lake: SimLake) -> None:
    source = load_source(lake.settings)
    start, end = lake.spike_ns
    markets = [MarketKey("BINANCE", "BTC-USDT"), MarketKey("COINBASE", "BTC-USD")]
    trades = source.trades(markets, start, end)
    twin = MarketTrades(
        MarketKey("COINBASE", "BTC-USDT"),
        trades[markets[1]].t_ns,
        trades[markets[1]].price,
        trades[markets[1]].qty,
    )
    summary = replay.lead_lag({**trades, twin.market: twin})
    names = {p["a"] for p in summary["pairs"]} | {p["b"] for p in summary["pairs"]}
    assert names == {"binance", "coinbase BTC-USD", "coinbase BTC-USDT"}
