"""Ground truth is exactly what the venues serve: paging the whole history reproduces it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

from schemahub_lib.sim.server import SimServer


def page_coinbase(sim: SimServer, http: requests.Session, product: str) -> list[dict[str, object]]:
    url = f"{sim.urls['coinbase']}/products/{product}/trades"
    trades: list[dict[str, object]] = []
    params: dict[str, str] = {}
    while True:
        r = http.get(url, params=params)
        if not r.json():
            return trades[::-1]
        trades += r.json()
        params = {"after": r.headers["CB-AFTER"]}


def page_binance(sim: SimServer, http: requests.Session, symbol: str, first_id: int) -> list[dict[str, Any]]:
    url = f"{sim.urls['binance']}/api/v3/historicalTrades"
    trades: list[dict[str, Any]] = []
    from_id = first_id
    while page := http.get(url, params={"symbol": symbol, "fromId": str(from_id), "limit": "1000"}).json():
        trades += page
        from_id = page[-1]["id"] + 1
    return trades


def page_kraken(sim: SimServer, http: requests.Session, pair: str) -> list[list[object]]:
    url = f"{sim.urls['kraken']}/0/public/Trades"
    rows: dict[int, list[object]] = {}
    since = "0"
    while True:
        result = http.get(url, params={"pair": pair, "since": since}).json()["result"]
        key = next(k for k in result if k != "last")
        fresh = [r for r in result[key] if r[6] not in rows]
        if not fresh:
            return list(rows.values())
        rows.update({r[6]: r for r in fresh})  # since=last repeats the boundary trade
        since = result["last"]


def test_paging_coinbase_reproduces_truth(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("coinbase", "BTC-USD")
    trades = page_coinbase(sim, http, "BTC-USD")
    assert len(trades) == len(truth) > 10_000
    assert [t["trade_id"] for t in trades] == truth.trade_id.tolist()
    assert [t["price"] for t in trades] == truth.price
    assert [t["size"] for t in trades] == truth.size
    # Coinbase's side is the maker's: the opposite of the taker side.
    assert [t["side"] for t in trades] == ["sell" if s == "buy" else "buy" for s in truth.taker_side]


def test_paging_binance_reproduces_truth(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("binance", "BTCUSDT")
    trades = page_binance(sim, http, "BTCUSDT", int(truth.trade_id[0]) - 5)
    assert len(trades) == len(truth) > 30_000
    assert [t["id"] for t in trades] == truth.trade_id.tolist()
    assert [t["time"] * 1_000_000 for t in trades] == truth.time_ns.tolist()
    assert [t["price"] for t in trades] == truth.price
    assert [not t["isBuyerMaker"] for t in trades] == [s == "buy" for s in truth.taker_side]


def test_paging_kraken_by_since_reproduces_truth(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("kraken", "XBTUSD")
    rows = page_kraken(sim, http, "XBTUSD")
    assert len(rows) == len(truth) > 3_000
    assert [r[6] for r in rows] == truth.trade_id.tolist()
    assert [(r[0], r[1]) for r in rows] == list(zip(truth.price, truth.size, strict=True))
    assert [r[3] for r in rows] == [s[0] for s in truth.taker_side]
    # The float time is within 238 ns of the exact ns and never rounds across a microsecond.
    assert [int(Decimal(repr(r[2])) * 10**6) for r in rows] == (truth.time_ns // 1000).tolist()


def test_truth_bounds_and_http_agree(sim: SimServer, http: requests.Session) -> None:
    full = sim.truth("kraken", "XDGUSD")
    start, end = int(full.time_ns[100]), int(full.time_ns[200])
    by_time = sim.truth("kraken", "XDGUSD", start_ns=start, end_ns=end)
    assert by_time.trade_id[0] == full.trade_id[full.time_ns >= start][0]
    assert by_time.trade_id[-1] == full.trade_id[full.time_ns <= end][-1]
    by_id = sim.truth("kraken", "XXDGZUSD", from_id=int(full.trade_id[5]), to_id=int(full.trade_id[9]))
    assert by_id.trade_id.tolist() == full.trade_id[5:10].tolist() and by_id.symbol == "DOGE-USD"

    params = {"exchange": "kraken", "product": "XDGUSD", "start_ns": str(start), "end_ns": str(end)}
    body = http.get(f"{sim.admin_url}/truth", params=params).json()
    assert body["trades"] == by_time.records() and body["count"] == len(by_time) > 50
    assert full.spike is not None and body["spike"] == {"start_ns": full.spike[0], "end_ns": full.spike[1]}
    bad = http.get(f"{sim.admin_url}/truth", params={"exchange": "kraken", "product": "NOPE"})
    assert bad.status_code == 400 and "NOPE" in bad.json()["error"]
