"""Same seed, same bytes; the clock makes new trades appear."""

from __future__ import annotations

import requests

from schemahub_lib.sim.config import SimConfig
from schemahub_lib.sim.market import TradeStream
from schemahub_lib.sim.scenario import Scenario
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim

PATHS = (
    "coinbase/products/BTC-USD/trades?limit=1000",
    "coinbase/products/SOL-USD/trades?limit=300&after=105000400",
    "binance/api/v3/historicalTrades?symbol=ETHUSDT&fromId=2700001000&limit=1000",
    "binance/api/v3/aggTrades?symbol=BTCUSDT&limit=50",
    "kraken/0/public/Trades?pair=XDGUSD&since=0&count=700",
    "kraken/0/public/Trades?pair=XBTUSDT",
)


def fetch_all(sim: SimServer, http: requests.Session) -> list[bytes]:
    return [http.get(f"{sim.root_url}/{path}").content for path in PATHS]


def test_same_seed_gives_the_same_bytes(http: requests.Session) -> None:
    with running_sim(seed=11) as a, running_sim(seed=11) as b, running_sim(seed=12) as c:
        first, second, other = fetch_all(a, http), fetch_all(b, http), fetch_all(c, http)
    assert first == second
    assert all(len(body) > 1000 for body in first)
    assert all(x != y for x, y in zip(first, other, strict=True))


def test_blocks_do_not_depend_on_the_order_they_are_built_in() -> None:
    forward, backward = Scenario(SimConfig.for_tests()), Scenario(SimConfig.for_tests())
    a: TradeStream = forward.streams[("binance", "BTCUSDT")]
    b: TradeStream = backward.streams[("binance", "BTCUSDT")]
    last = a.block_of_time(forward.now_ns())
    blocks_b = {k: b.block(k) for k in range(last, -1, -1)}
    for k in range(last + 1):
        blk = a.block(k)
        assert blk.ids.tolist() == blocks_b[k].ids.tolist()
        assert blk.price_ticks.tolist() == blocks_b[k].price_ticks.tolist()
        assert blk.time_ns.tolist() == blocks_b[k].time_ns.tolist()


def test_new_trades_appear_as_the_clock_advances(sim: SimServer, http: requests.Session) -> None:
    cb = f"{sim.urls['coinbase']}/products/BTC-USD/trades"
    newest = http.get(cb, params={"limit": "1"}).json()[0]["trade_id"]
    kr = f"{sim.urls['kraken']}/0/public/Trades"
    last = http.get(kr, params={"pair": "XBTUSD", "count": "1"}).json()["result"]["last"]
    assert http.get(cb, params={"before": newest}).json() == []

    sim.clock.advance(60)

    newer = [t["trade_id"] for t in http.get(cb, params={"before": newest}).json()]
    assert 300 < len(newer) < 1000  # ~10 trades/s for a minute
    assert newer == list(range(newest + len(newer), newest, -1))
    rows = http.get(kr, params={"pair": "XBTUSD", "since": last}).json()["result"]["XXBTZUSD"]
    assert len(rows) > 60 and all(int(r[2] * 1e9) <= sim.clock.now_ns() for r in rows)
    assert sim.truth("coinbase", "BTC-USD").trade_id[-1] == newer[0]


def test_the_clock_is_driven_over_http(sim: SimServer, http: requests.Session) -> None:
    start = http.get(f"{sim.admin_url}/clock").json()
    moved = http.post(f"{sim.admin_url}/clock", json={"advance_s": 2.5}).json()
    assert moved["now_ns"] - start["now_ns"] == 2_500_000_000 and moved["kind"] == "manual"
    r = http.post(f"{sim.admin_url}/clock", json={"set_s": 1.0})
    assert r.status_code == 400 and "forward" in r.json()["error"]
    assert sim.clock.now_ns() == moved["now_ns"]
