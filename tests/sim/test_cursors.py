"""Each venue's paging parameters, page limits and cursor semantics."""

from __future__ import annotations

from decimal import Decimal

import requests

from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim

# ---- Coinbase: after = older (ids < X), before = newer (ids X+1..X+limit), newest first -------


def test_coinbase_default_page_is_the_newest_1000(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("coinbase", "BTC-USD")
    page = http.get(f"{sim.urls['coinbase']}/products/BTC-USD/trades").json()
    assert [t["trade_id"] for t in page] == truth.trade_id[::-1][:1000].tolist()


def test_coinbase_after_pages_to_older_trades(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['coinbase']}/products/btc-usd/trades"  # product ids are case-insensitive
    first = http.get(url, params={"limit": "50"})
    older = http.get(url, params={"limit": "50", "after": first.headers["CB-AFTER"]})
    ids, older_ids = [t["trade_id"] for t in first.json()], [t["trade_id"] for t in older.json()]
    assert older_ids == list(range(ids[-1] - 1, ids[-1] - 51, -1))
    assert older.headers["CB-BEFORE"] == str(older_ids[0]) and older.headers["CB-AFTER"] == str(older_ids[-1])


def test_coinbase_before_returns_the_trades_just_above_the_cursor(
    sim: SimServer, http: requests.Session
) -> None:
    truth = sim.truth("coinbase", "ETH-USD")
    x = int(truth.trade_id[100])
    r = http.get(f"{sim.urls['coinbase']}/products/ETH-USD/trades", params={"before": str(x), "limit": "20"})
    # The oldest 20 of the newer trades (not the latest 20), still served newest first.
    assert [t["trade_id"] for t in r.json()] == list(range(x + 20, x, -1))
    newest = int(truth.trade_id[-1])
    r = http.get(f"{sim.urls['coinbase']}/products/ETH-USD/trades", params={"before": newest})
    assert r.json() == [] and "CB-BEFORE" not in r.headers


def test_coinbase_limits_and_bad_cursors(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['coinbase']}/products/SOL-USD/trades"
    assert len(http.get(url, params={"limit": "5000"}).json()) == 1000  # clamped
    for params in ({"after": "abc"}, {"before": "1.5"}, {"limit": "x"}, {"after": "5", "before": "1"}):
        r = http.get(url, params=params)
        assert r.status_code == 400 and set(r.json()) == {"message"}, params
    oldest = int(sim.truth("coinbase", "SOL-USD").trade_id[0])
    assert http.get(url, params={"after": oldest}).json() == []


# ---- Binance: trades = most recent; historicalTrades fromId inclusive, ascending ------------------


def test_binance_recent_trades_default_500(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("binance", "ETHUSDT")
    url = f"{sim.urls['binance']}/api/v3/trades"
    assert [t["id"] for t in http.get(url, params={"symbol": "ETHUSDT"}).json()] == truth.trade_id[
        -500:
    ].tolist()
    assert len(http.get(url, params={"symbol": "ETHUSDT", "limit": "5000"}).json()) == 1000


def test_binance_historical_trades_from_id_is_inclusive(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("binance", "BTCUSDT")
    url = f"{sim.urls['binance']}/api/v3/historicalTrades"
    start = int(truth.trade_id[1234])
    page = http.get(url, params={"symbol": "BTCUSDT", "fromId": str(start), "limit": "1000"}).json()
    assert [t["id"] for t in page] == truth.trade_id[1234:2234].tolist()
    nxt = http.get(url, params={"symbol": "BTCUSDT", "fromId": page[-1]["id"] + 1, "limit": "3"}).json()
    assert [t["id"] for t in nxt] == truth.trade_id[2234:2237].tolist()
    beyond = int(truth.trade_id[-1]) + 1
    assert http.get(url, params={"symbol": "BTCUSDT", "fromId": str(beyond)}).json() == []


def test_binance_parameter_errors(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['binance']}/api/v3/historicalTrades"
    cases = [
        ({}, -1102),
        ({"symbol": "btcusdt"}, -1100),  # Binance does not fold case
        ({"symbol": "DOGEUSDT"}, -1121),
        ({"symbol": "BCCBTC"}, -1121),  # delisted: listed in exchangeInfo, no market data
        ({"symbol": "BTCUSDT", "fromId": "x"}, -1100),
        ({"symbol": "BTCUSDT", "limit": "0"}, -1130),
    ]
    for params, code in cases:
        r = http.get(url, params=params)
        assert (r.status_code, r.json()["code"]) == (400, code), params


def test_binance_agg_trades_by_time(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("binance", "SOLUSDT")
    start_ms = int(truth.time_ns[500]) // 10**6
    page = http.get(
        f"{sim.urls['binance']}/api/v3/aggTrades",
        params={"symbol": "SOLUSDT", "startTime": str(start_ms), "limit": "5"},
    ).json()
    first = int(truth.trade_id[(truth.time_ns >= start_ms * 10**6).argmax()])
    assert [t["f"] for t in page] == list(range(first, first + 5))
    assert all(t["T"] >= start_ms for t in page)


# ---- Kraken: since = ns timestamp, `last` = ns of the last row, rows ascending ---------------


def test_kraken_since_last_repeats_the_boundary_trade(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['kraken']}/0/public/Trades"
    first = http.get(url, params={"pair": "XBTUSD", "since": "0", "count": "100"}).json()["result"]
    truth = sim.truth("kraken", "XBTUSD")
    assert [r[6] for r in first["XXBTZUSD"]] == truth.trade_id[:100].tolist()
    assert first["last"] == str(truth.time_ns[99])
    second = http.get(url, params={"pair": "XBTUSD", "since": first["last"], "count": "100"}).json()["result"]
    ids = [r[6] for r in second["XXBTZUSD"]]
    # Inclusive: the page starts at (every trade sharing) the boundary time.
    boundary = truth.trade_id[truth.time_ns == truth.time_ns[99]].tolist()
    assert ids[: len(boundary)] == boundary and first["XXBTZUSD"][-1][6] in ids


def test_kraken_exclusive_since_is_configurable(http: requests.Session) -> None:
    with running_sim(kraken_since_inclusive=False) as sim:
        url = f"{sim.urls['kraken']}/0/public/Trades"
        truth = sim.truth("kraken", "ETHUSD")
        body = http.get(url, params={"pair": "ETHUSD", "since": str(truth.time_ns[10]), "count": "5"}).json()
        later = truth.trade_id[truth.time_ns > truth.time_ns[10]][:5].tolist()
        assert [r[6] for r in body["result"]["XETHZUSD"]] == later


def test_kraken_since_in_seconds_ignores_the_fraction(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("kraken", "XBTUSD")
    t = int(truth.time_ns[300])
    seconds = f"{t // 10**9}.{t % 10**9:09d}"
    body = http.get(
        f"{sim.urls['kraken']}/0/public/Trades", params={"pair": "XBTUSD", "since": seconds}
    ).json()
    rows = body["result"]["XXBTZUSD"]
    expected_first = truth.trade_id[truth.time_ns >= (t // 10**9) * 10**9][0]
    # Like the recorded fractional-seconds query: rows from before the stamp come back.
    assert rows[0][6] == expected_first and Decimal(repr(rows[0][2])) <= Decimal(seconds)


def test_kraken_count_and_argument_errors(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['kraken']}/0/public/Trades"
    assert len(http.get(url, params={"pair": "XDGUSD", "count": "5000"}).json()["result"]["XXDGZUSD"]) == 1000
    for params in ({}, {"pair": "XBTUSD", "count": "0"}, {"pair": "XBTUSD", "since": "yesterday"}):
        r = http.get(url, params=params)
        assert r.status_code == 200 and r.json()["error"][0].startswith("EGeneral:Invalid arguments"), params
    newest = sim.truth("kraken", "XBTUSD").time_ns[-1]
    empty = http.get(url, params={"pair": "XBTUSD", "since": str(newest + 1)}).json()["result"]
    assert empty == {"XXBTZUSD": [], "last": str(newest + 1)}
