"""The simulator answers like the real venues: same keys, JSON types, key order, row shapes,
sort order and header names as the real recorded responses in tests/fixtures/exchanges."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import requests

from schemahub_lib.sim.server import SimServer
from tests.sim.conftest import load_fixture

DECIMAL = re.compile(r"^[0-9]+\.[0-9]+$")
RFC3339_TRIMMED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z$")


def kinds(obj: dict[str, Any]) -> dict[str, type]:
    return {k: type(v) for k, v in obj.items()}


# ---- Coinbase ------------------------------------------------------------------------------


def test_coinbase_trades_match_the_recorded_page(sim: SimServer, http: requests.Session) -> None:
    recorded = load_fixture("coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json")
    recorded_2024 = load_fixture("coinbase/trades_BTC-USDT_1trade_2024-03-13_ccxt-static-httpResponse.json")
    r = http.get(f"{sim.urls['coinbase']}/products/BTC-USD/trades", params={"limit": "100"})
    page = r.json()

    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert len(page) == len(recorded) == 100
    # Same key set as the 2020 capture, in the 2024 key order.
    assert [set(t) for t in page] == [set(recorded[0])] * 100
    assert list(page[0]) == list(recorded_2024[0]) == ["trade_id", "side", "size", "price", "time"]
    # Same JSON types as the real page (trade_id an integer, the rest strings).
    assert [kinds(t) for t in page] == [kinds(recorded[0])] * 100
    # Newest first, contiguous ids, like the capture.
    ids = [t["trade_id"] for t in page]
    assert ids == list(range(ids[0], ids[0] - 100, -1))
    assert [t["trade_id"] for t in recorded] == list(range(24169717, 24169617, -1))
    assert all(DECIMAL.match(t["price"]) and DECIMAL.match(t["size"]) for t in page)
    assert {len(t["price"].split(".")[1]) for t in page} == {len(recorded[0]["price"].split(".")[1])} == {8}
    assert all(RFC3339_TRIMMED.match(t["time"]) for t in page + recorded)
    assert {t["side"] for t in page} == {"buy", "sell"}
    assert r.headers["CB-BEFORE"] == str(ids[0]) and r.headers["CB-AFTER"] == str(ids[-1])


def test_coinbase_products_carry_the_recorded_fields(sim: SimServer, http: requests.Session) -> None:
    recorded = {p["id"]: p for p in load_fixture("coinbase/products_full_2021-04-17_cryptofeed.json")}
    products = {p["id"]: p for p in http.get(f"{sim.urls['coinbase']}/products").json()}

    assert {"BTC-USD", "ETH-USD", "SOL-USD"} <= set(products)
    # Coinbase removed these three on 2022-06-30; everything else of the 2021 schema remains.
    removed = {"base_min_size", "base_max_size", "max_market_funds"}
    real = recorded["BTC-USD"]
    ours = products["BTC-USD"]
    for key in set(real) - removed:
        assert type(ours[key]) is type(real[key]), key
    for key in ("id", "base_currency", "quote_currency", "quote_increment", "base_increment"):
        assert ours[key] == real[key], key
    assert ours["status"] == "online" and ours["trading_disabled"] is False


def test_coinbase_error_bodies_match_the_observed_ones(sim: SimServer, http: requests.Session) -> None:
    observed = {
        e["http_status"]: e["body"] for e in load_fixture("coinbase/errors_observed_compilation.json")
    }
    r = http.get(f"{sim.urls['coinbase']}/products/NOPE-USD/trades")
    assert (r.status_code, r.json()) == (404, observed[404])

    sim.faults.add({"kind": "rate_limit", "exchange": "coinbase"})
    r = http.get(f"{sim.urls['coinbase']}/products/BTC-USD/trades")
    assert (r.status_code, r.json()) == (429, {"message": "Public rate limit exceeded"})


# ---- Binance -------------------------------------------------------------------------------


def test_binance_trade_objects_match_the_recorded_pages(sim: SimServer, http: requests.Session) -> None:
    base = sim.urls["binance"]
    for endpoint, fixture in (
        ("trades", "binance/trades_BTCUSDT_2021-10-22_nautilus.json"),
        ("historicalTrades", "binance/historicalTrades_BTCUSDT_2021-10-22_nautilus.json"),
    ):
        recorded = load_fixture(fixture)
        r = http.get(f"{base}/api/v3/{endpoint}", params={"symbol": "BTCUSDT", "limit": "10"})
        page = r.json()
        assert r.status_code == 200
        assert len(page) == len(recorded) == 10
        assert [list(t) for t in page] == [list(recorded[0])] * 10  # same keys, same order
        assert [kinds(t) for t in page] == [kinds(recorded[0])] * 10
        ids = [t["id"] for t in page]
        assert ids == sorted(ids) and ids == list(range(ids[0], ids[0] + 10))  # oldest first
        assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) > 0
        for t in page + recorded:
            assert Decimal(t["quoteQty"]) == Decimal(t["price"]) * Decimal(t["qty"])
            assert len(str(t["time"])) == 13  # epoch milliseconds


def test_binance_agg_trades_match_the_recorded_page(sim: SimServer, http: requests.Session) -> None:
    recorded = load_fixture("binance/aggTrades_BTCUSDT_2021-10-22_nautilus.json")
    page = http.get(
        f"{sim.urls['binance']}/api/v3/aggTrades", params={"symbol": "BTCUSDT", "limit": "10"}
    ).json()
    assert [list(t) for t in page] == [list(recorded[0])] * 10
    assert [kinds(t) for t in page] == [kinds(recorded[0])] * 10
    assert all(t["f"] == t["l"] for t in page + recorded)


def test_binance_exchange_info_matches_the_recorded_schema(sim: SimServer, http: requests.Session) -> None:
    recorded = load_fixture("binance/exchangeInfo_TRIMMED_7of1695_symbols_2021-10-12_cryptofeed.json")
    r = http.get(f"{sim.urls['binance']}/api/v3/exchangeInfo")
    info = r.json()

    assert list(info) == list(recorded)
    assert [list(x) for x in info["rateLimits"]] == [list(x) for x in recorded["rateLimits"]]
    weight = info["rateLimits"][0]
    assert (weight["rateLimitType"], weight["interval"], weight["limit"]) == (
        "REQUEST_WEIGHT",
        "MINUTE",
        6000,
    )
    real_symbol = next(s for s in recorded["symbols"] if s["symbol"] == "BTCUSDT")
    symbols = {s["symbol"]: s for s in info["symbols"]}
    for key, value in real_symbol.items():
        assert type(symbols["BTCUSDT"][key]) is type(value), key
    assert {k: symbols["BTCUSDT"][k] for k in ("baseAsset", "quoteAsset", "status")} == {
        k: real_symbol[k] for k in ("baseAsset", "quoteAsset", "status")
    }
    assert {s for s in symbols if symbols[s]["status"] == "TRADING"} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    # A delisted symbol stays listed with status BREAK, as BCCBTC does in the capture.
    real_break = next(s for s in recorded["symbols"] if s["symbol"] == "BCCBTC")
    assert (symbols["BCCBTC"]["status"], real_break["status"]) == ("BREAK", "BREAK")


def test_binance_error_bodies_match_the_observed_ones(sim: SimServer, http: requests.Session) -> None:
    observed = {e["http_status"]: e["body"] for e in load_fixture("binance/errors_observed_compilation.json")}
    r = http.get(f"{sim.urls['binance']}/api/v3/historicalTrades", params={"symbol": "NOPEUSDT"})
    assert (r.status_code, r.json()) == (400, observed[400])
    assert "X-MBX-USED-WEIGHT-1M" in r.headers

    sim.faults.add({"kind": "ban", "exchange": "binance", "retry_after": 120})
    r = http.get(f"{sim.urls['binance']}/api/v3/trades", params={"symbol": "BTCUSDT"})
    template = re.sub(r"\d{13}", r"\\d{13}", re.escape(observed[418]["msg"]))
    template = template.replace("the\\ websocket", "WebSocket\\ Streams")
    assert r.status_code == 418 and r.json()["code"] == observed[418]["code"]
    assert re.fullmatch(template, r.json()["msg"]), r.json()["msg"]
    assert r.headers["Retry-After"] == "120"


# ---- Kraken --------------------------------------------------------------------------------


def test_kraken_trades_match_the_recorded_page(sim: SimServer, http: requests.Session) -> None:
    recorded = load_fixture("kraken/trades_XBTUSDT_2025-11-10_nautilus.json")
    r = http.get(f"{sim.urls['kraken']}/0/public/Trades", params={"pair": "XBTUSDT"})
    body = r.json()

    assert r.status_code == 200
    assert list(body) == list(recorded) == ["error", "result"]
    assert body["error"] == recorded["error"] == []
    assert list(body["result"]) == list(recorded["result"]) == ["XBTUSDT", "last"]
    rows, real_rows = body["result"]["XBTUSDT"], recorded["result"]["XBTUSDT"]
    assert len(rows) == len(real_rows) == 1000  # default count
    assert {tuple(type(v) for v in row) for row in rows} == {tuple(type(v) for v in real_rows[0])}
    assert {len(row) for row in rows} == {7}
    assert {len(row[0].split(".")[1]) for row in rows} == {len(real_rows[0][0].split(".")[1])} == {5}
    assert {row[3] for row in rows} == {"b", "s"} and {row[4] for row in rows} == {"m", "l"}
    assert all(row[5] == "" for row in rows)
    times = [row[2] for row in rows]
    assert times == sorted(times) and [row[6] for row in rows] == sorted(row[6] for row in rows)
    # `last` is the ns time of the last row, as in the capture; the float keeps ~7 decimals.
    for last, final in ((body["result"]["last"], rows[-1]), (recorded["result"]["last"], real_rows[-1])):
        assert isinstance(last, str) and len(last) == 19
        assert abs(Decimal(last) / 10**9 - Decimal(repr(final[2]))) < Decimal("0.0000003")


def test_kraken_answers_under_the_canonical_pair_key(sim: SimServer, http: requests.Session) -> None:
    recorded = load_fixture("kraken/trades_XXBTZUSD_since-nanoseconds_count5_eugenelo.json")
    url = f"{sim.urls['kraken']}/0/public/Trades"
    assert list(recorded["result"]) == ["XXBTZUSD", "last"]  # requested as pair=XBTUSD
    expected = {"XBTUSD": "XXBTZUSD", "xbtusd": "XXBTZUSD", "XBTUSDT": "XBTUSDT", "XDGUSD": "XXDGZUSD"}
    expected |= {"ETHUSD": "XETHZUSD", "XXBTZUSD": "XXBTZUSD", "XBT/USD": "XXBTZUSD"}
    for pair, key in expected.items():
        body = http.get(url, params={"pair": pair, "count": "5"}).json()
        assert list(body["result"]) == [key, "last"], pair
        assert len(body["result"][key]) == 5


def test_kraken_asset_pairs_match_the_recorded_pairs(sim: SimServer, http: requests.Session) -> None:
    real_2025 = load_fixture("kraken/assetpairs_XBTUSDT_nautilus.json")["result"]["XBTUSDT"]
    real_2021 = load_fixture("kraken/assetpairs_full_2021-04-17_cryptofeed.json")["result"]
    body = http.get(f"{sim.urls['kraken']}/0/public/AssetPairs").json()
    pairs = body["result"]

    assert body["error"] == []
    assert set(pairs) == {"XXBTZUSD", "XETHZUSD", "XBTUSDT", "XXDGZUSD"}
    assert list(pairs["XBTUSDT"]) == list(real_2025)  # 2025 schema, same key order
    assert kinds(pairs["XBTUSDT"]) == kinds(real_2025)
    naming = ("altname", "wsname", "base", "quote", "pair_decimals", "lot_decimals")
    for key in ("XXBTZUSD", "XETHZUSD", "XBTUSDT"):
        assert {k: pairs[key][k] for k in naming} == {k: real_2021[key][k] for k in naming}, key
    # The 2021 capture keys DOGE/USD as "XDGUSD"; the simulator uses today's XXDGZUSD key.
    assert {k: pairs["XXDGZUSD"][k] for k in naming} == {k: real_2021["XDGUSD"][k] for k in naming}


def test_kraken_errors_are_http_200_with_an_error_array(sim: SimServer, http: requests.Session) -> None:
    observed = {e["body"]["error"][0]: e for e in load_fixture("kraken/errors_observed_compilation.json")}
    r = http.get(f"{sim.urls['kraken']}/0/public/Trades", params={"pair": "NOPEUSD"})
    assert (r.status_code, r.json()) == (200, observed["EQuery:Unknown asset pair"]["body"])

    sim.faults.add({"kind": "rate_limit", "exchange": "kraken"})
    r = http.get(f"{sim.urls['kraken']}/0/public/Trades", params={"pair": "XBTUSD"})
    assert (r.status_code, r.json()) == (200, observed["EGeneral:Too many requests"]["body"])
