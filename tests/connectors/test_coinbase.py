"""Coinbase Exchange connector against real recorded pages and a loopback server."""

from __future__ import annotations

import json

import pytest

from schemahub_lib.connectors.base import Cursor, Product
from schemahub_lib.connectors.coinbase import CoinbaseConnector, parse_page, parse_products, parse_trades
from schemahub_lib.errors import (
    ExchangeError,
    MalformedPageError,
    RateLimitedError,
    TerminalExchangeError,
    snippet,
)
from schemahub_lib.http import HttpResponse
from tests.connectors.support import Loopback, Reply, fixture_bytes, make_client

PAGE_2020 = "coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json"
PAGE_2024 = "coinbase/trades_BTC-USDT_1trade_2024-03-13_ccxt-static-httpResponse.json"
NOW = 1_763_000_000 * 10**9
TRADES_PATH = "/products/BTC-EUR/trades"


def response(
    body: bytes, url: str = "http://cb.test/products/BTC-EUR/trades", **headers: str
) -> HttpResponse:
    return HttpResponse(url, 200, headers, body)


def connector(loopback: Loopback, **kwargs: object) -> CoinbaseConnector:
    return CoinbaseConnector(make_client("coinbase", loopback.url, **kwargs))  # type: ignore[arg-type]


def test_real_2020_page_parses_with_exact_values() -> None:
    page = parse_page(response(fixture_bytes(PAGE_2020)), product="BTC-EUR", cursor=None, now=NOW)
    ids = [t.trade_id for t in page.trades]
    assert ids == list(range(24169618, 24169718))  # ascending although Coinbase sends newest first
    assert page.rejects == ()
    newest = page.trades[-1]
    assert newest.record == {
        "trade_id": 24169717,
        "product_id": "BTC-EUR",
        "price": 9042.88,
        "size": 0.00846511,
        "time": 1_581_924_196_353_000,
        "side": "sell",
    }
    assert newest.time_ns == 1_581_924_196_353_000_000
    assert newest.payload == (
        '{"time":"2020-02-17T07:23:16.353Z","trade_id":24169717,"price":"9042.88000000",'
        '"size":"0.00846511","side":"sell"}'
    )
    by_id = {t.trade_id: t for t in page.trades}
    assert by_id[24169701].record["time"] == 1_581_924_164_390_000  # "...:44.39Z", trimmed zeros
    assert by_id[24169657].record["time"] == 1_581_923_790_200_000  # "...:30.2Z"
    assert by_id[24169618].record["price"] == 9051.05
    sides = [t.record["side"] for t in page.trades]
    assert (sides.count("sell"), sides.count("buy")) == (63, 37)  # maker side, kept as sent


def test_real_2020_page_cursors_from_the_newest_page() -> None:
    page = parse_page(response(fixture_bytes(PAGE_2020)), product="BTC-EUR", cursor=None, now=NOW)
    assert page.older == Cursor("after", "24169618")
    assert page.newer is None  # no cursor: the newest trades at request time


def test_a_100_row_page_is_not_the_end_of_history() -> None:
    page = parse_page(
        response(fixture_bytes(PAGE_2020)), product="BTC-EUR", cursor=Cursor("after", "24169718"), now=NOW
    )
    assert len(page.trades) == 100
    assert page.older == Cursor("after", "24169618")
    assert page.newer == Cursor("before", "24169717")


def test_real_2024_row_with_microseconds_and_stringified_id() -> None:
    page = parse_page(response(fixture_bytes(PAGE_2024)), product="BTC-USDT", cursor=None, now=NOW)
    (trade,) = page.trades
    assert trade.trade_id == 18502034
    assert trade.time_ns == 1_710_327_617_710_679_000
    assert trade.record["time"] == 1_710_327_617_710_679
    assert trade.record["price"] == 73271.63
    assert trade.payload == (
        '{"trade_id":"18502034","side":"sell","size":"0.00007448","price":"73271.63000000",'
        '"time":"2024-03-13T11:00:17.710679Z"}'
    )


@pytest.mark.parametrize(
    ("cursor", "older", "newer"),
    [
        (None, None, None),
        (Cursor("after", "500"), None, Cursor("before", "499")),
        (Cursor("before", "500"), Cursor("after", "501"), None),
    ],
)
def test_empty_pages(cursor: Cursor | None, older: Cursor | None, newer: Cursor | None) -> None:
    page = parse_page(response(b"[]"), product="BTC-EUR", cursor=cursor, now=NOW)
    assert (page.trades, page.older, page.newer) == ((), older, newer)


def test_bad_records_become_rejects_and_still_move_the_cursor() -> None:
    rows = [
        {
            "time": "2020-02-17T07:23:16.353Z",
            "trade_id": 10,
            "price": "9042.88",
            "size": "0.1",
            "side": "sell",
        },
        {"time": "2020-02-17T07:23:16.353Z", "price": "9042.88", "size": "0.1", "side": "sell"},
        {"time": "2020-02-17T07:23:16.353Z", "trade_id": 12, "price": "abc", "size": "0.1", "side": "buy"},
        {"time": "2020-02-17T07:23:16.353Z", "trade_id": 13, "price": "1", "size": "0", "side": "buy"},
        {"time": "1581924196353", "trade_id": 14, "price": "1", "size": "1", "side": "buy"},
        {"time": "2020-02-17T07:23:16Z", "trade_id": 15, "price": "1", "size": "1", "side": "BUY"},
        "not a trade",
    ]
    body = json.dumps(rows).encode()
    trades, rejects = parse_trades(body, product="BTC-EUR", url="u", now=NOW)
    assert [t.trade_id for t in trades] == [10]
    assert [(r.trade_id, r.reason) for r in rejects] == [
        (None, "missing trade_id"),
        ("12", "price 'abc' is not a decimal number"),
        ("13", "size '0' is not a positive number"),
        ("14", "time '1581924196353' is not an RFC 3339 UTC time"),
        ("15", "side 'BUY' is not one of buy, sell"),
        (None, "trade is not a JSON object"),
    ]
    assert rejects[1].payload == (
        '{"time":"2020-02-17T07:23:16.353Z","trade_id":12,"price":"abc","size":"0.1","side":"buy"}'
    )
    assert rejects[-1].payload == '"not a trade"'
    page = parse_page(response(body), product="BTC-EUR", cursor=Cursor("after", "100"), now=NOW)
    assert (page.older, page.newer) == (Cursor("after", "10"), Cursor("before", "15"))


def test_headers_give_the_cursors_when_no_row_has_a_readable_id() -> None:
    body = b'[{"trade_id":"x","price":"1","size":"1","time":"2020-02-17T07:23:16Z","side":"buy"}]'
    headers = {"CB-AFTER": "24169618", "CB-BEFORE": "24169717"}
    page = parse_page(
        response(body, **headers), product="BTC-EUR", cursor=Cursor("after", "24169718"), now=NOW
    )
    assert [r.reason for r in page.rejects] == ["trade_id 'x' is not an integer"]
    assert (page.older, page.newer) == (Cursor("after", "24169618"), Cursor("before", "24169717"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (fixture_bytes(PAGE_2020)[:7000], "not valid JSON"),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "HTML page"),
        (b'{"message":"NotFound"}', "expected a JSON array of trades"),
        (b"", "empty body"),
    ],
)
def test_malformed_pages_name_exchange_url_and_snippet(body: bytes, reason: str) -> None:
    url = "http://cb.test/products/BTC-EUR/trades?limit=1000"
    with pytest.raises(MalformedPageError, match=reason) as info:
        parse_page(response(body, url), product="BTC-EUR", cursor=None, now=NOW)
    assert info.value.exchange == "coinbase"
    assert info.value.url == url
    assert str(info.value).startswith(f"coinbase {url}: ")
    assert info.value.body_snippet == snippet(body)
    assert (snippet(body) in str(info.value)) if body else "body:" not in str(info.value)


def test_fetch_page_sends_the_documented_query(loopback: Loopback) -> None:
    loopback.route(TRADES_PATH, [Reply(200, fixture_bytes(PAGE_2020), {"CB-AFTER": "24169618"})])
    page = connector(loopback).fetch_page("BTC-EUR", Cursor("after", "24169718"))
    assert [(s.path, s.query) for s in loopback.seen] == [
        (TRADES_PATH, {"limit": "1000", "after": "24169718"})
    ]
    assert page.url == f"{loopback.url}{TRADES_PATH}?limit=1000&after=24169718"
    assert page.headers["CB-AFTER"] == "24169618"
    assert (page.exchange, page.product, len(page.trades)) == ("coinbase", "BTC-EUR", 100)


def test_cursor_after_asks_for_newer_ids(loopback: Loopback) -> None:
    assert connector(loopback).cursor_after(24169717, 0, None) == Cursor("before", "24169717")


def test_unsupported_cursor_is_a_programming_error(loopback: Loopback) -> None:
    with pytest.raises(ValueError, match="after=<id> or before=<id>"):
        connector(loopback).fetch_page("BTC-EUR", Cursor("fromId", "1"))
    assert loopback.seen == []


ERRORS = json.loads(fixture_bytes("coinbase/errors_observed_compilation.json"))
EXPECTED: dict[int, type[ExchangeError]] = {
    404: TerminalExchangeError,
    429: RateLimitedError,
    400: TerminalExchangeError,
}


@pytest.mark.parametrize("entry", ERRORS, ids=[f"{e['http_status']}-{e['body']['message']}" for e in ERRORS])
def test_recorded_error_bodies_map_to_typed_errors(loopback: Loopback, entry: dict) -> None:
    status, body = entry["http_status"], json.dumps(entry["body"]).encode()
    loopback.route(TRADES_PATH, [Reply(status, body)])
    with pytest.raises(EXPECTED[status]) as info:
        connector(loopback).fetch_page("BTC-EUR")
    assert info.value.status == status
    assert entry["body"]["message"] in str(info.value)
    retried = status == 429
    assert len(loopback.seen) == (3 if retried else 1)  # make_client allows 3 attempts


def test_list_products_keeps_online_tradable_products() -> None:
    products = json.loads(fixture_bytes("coinbase/products_full_2021-04-17_cryptofeed.json"))
    assert len(parse_products(response(json.dumps(products).encode()))) == 162
    by_id = {p["id"]: p for p in products}
    by_id["BTC-EUR"]["status"] = "delisted"
    by_id["ETH-EUR"]["trading_disabled"] = True
    listed = parse_products(response(json.dumps(products).encode()))
    symbols = [p.symbol for p in listed]
    assert len(listed) == 160 and "BTC-EUR" not in symbols and "ETH-EUR" not in symbols
    assert Product("coinbase", "BTC-USD", "BTC-USD", "BTC", "USD") in listed
    assert symbols == sorted(symbols)


def test_list_products_through_http(loopback: Loopback) -> None:
    loopback.route(
        "/products", [Reply(200, fixture_bytes("coinbase/products_full_2021-04-17_cryptofeed.json"))]
    )
    listed = connector(loopback).list_products()
    assert len(listed) == 162
    assert listed[0] == Product("coinbase", "1INCH-BTC", "1INCH-BTC", "1INCH", "BTC")
