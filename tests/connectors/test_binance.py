"""Binance Spot connector against real recorded pages and a loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemahub_lib.connectors.base import Cursor, Product
from schemahub_lib.connectors.binance import (
    BinanceConnector,
    older_cursor,
    parse_page,
    parse_products,
    parse_trades,
)
from schemahub_lib.errors import (
    BannedError,
    MalformedPageError,
    RateLimitedError,
    TerminalExchangeError,
    snippet,
)
from schemahub_lib.http import HttpResponse, JsonFileBanStore, RateLimit, RetryPolicy
from tests.connectors.support import FakeClock, Loopback, Reply, fixture_bytes, make_client

RECENT = "binance/trades_BTCUSDT_2021-10-22_nautilus.json"
HISTORY = "binance/historicalTrades_BTCUSDT_2021-10-22_nautilus.json"
NOW = 1_763_000_000 * 10**9


def response(body: bytes, url: str = "http://bn.test/api/v3/historicalTrades") -> HttpResponse:
    return HttpResponse(url, 200, {}, body)


def connector(loopback: Loopback, **kwargs: object) -> BinanceConnector:
    return BinanceConnector(make_client("binance", loopback.url, **kwargs))  # type: ignore[arg-type]


def test_recent_trades_page_parses_with_exact_values() -> None:
    page = parse_page(response(fixture_bytes(RECENT)), product="BTCUSDT", cursor=None, now=NOW)
    assert [t.trade_id for t in page.trades] == list(range(1111468873, 1111468883))
    first = page.trades[0]
    assert first.record == {
        "id": 1111468873,
        "symbol": "BTCUSDT",
        "price": 60650.0,
        "qty": 0.02924,
        "quote_qty": 1773.406,
        "time": 1_634_942_949_263_000,
        "is_buyer_maker": True,
        "is_best_match": True,
    }
    assert first.time_ns == 1_634_942_949_263_000_000
    assert first.payload == (
        '{"id":1111468873,"price":"60650.00000000","qty":"0.02924000","quoteQty":"1773.40600000",'
        '"time":1634942949263,"isBuyerMaker":true,"isBestMatch":true}'
    )
    assert sum(t.record["is_buyer_maker"] for t in page.trades) == 5
    assert page.trades[-1].record["time"] == 1_634_942_950_067_000
    assert page.older == Cursor("fromId", str(1111468873 - 1000))
    assert page.newer is None  # /trades is the newest at request time


def test_historical_page_cursors() -> None:
    page = parse_page(
        response(fixture_bytes(HISTORY)), product="BTCUSDT", cursor=Cursor("fromId", "1111471896"), now=NOW
    )
    assert [t.trade_id for t in page.trades] == list(range(1111471896, 1111471906))
    assert page.trades[-1].record["price"] == 60814.79
    assert page.trades[-1].record["is_buyer_maker"] is False
    assert page.newer == Cursor("fromId", "1111471906")
    assert page.older == Cursor("fromId", "1111470896")


def test_older_cursor_stops_at_the_first_trade() -> None:
    assert older_cursor(0, 1000, None) is None
    assert older_cursor(500, 1000, None) == Cursor("fromId", "0")
    assert older_cursor(500, 1000, Cursor("fromId", "0")) is None  # fromId=0 already asked
    assert older_cursor(5_200_000_000, 1000, None) == Cursor("fromId", "5199999000")


def test_empty_history_page() -> None:
    page = parse_page(response(b"[]"), product="BTCUSDT", cursor=Cursor("fromId", "1111471906"), now=NOW)
    assert (page.trades, page.newer, page.older) == ((), None, Cursor("fromId", "1111470906"))


def test_bad_records_become_rejects() -> None:
    good = {"id": 1, "price": "1.0", "qty": "2.0", "time": 1634942949263, "isBuyerMaker": True}
    rows = [
        good,
        {**good, "id": 2, "time": 1634942949263000},
        {**good, "id": 3, "time": 1634942949},
        {**good, "id": 4, "isBuyerMaker": "true"},
        {**good, "id": 5, "qty": "-2.0"},
        {k: v for k, v in good.items() if k != "id"},
        {**good, "id": 7, "quoteQty": "x"},
    ]
    trades, rejects = parse_trades(json.dumps(rows).encode(), symbol="BTCUSDT", url="u", now=NOW)
    assert [(t.trade_id, t.record["quote_qty"], t.record["is_best_match"]) for t in trades] == [
        (1, None, None)
    ]
    assert [(r.trade_id, r.reason) for r in rejects] == [
        (
            "2",
            "time 1634942949263000 is outside 2009-01-01..now+1d (looks like microseconds, not milliseconds)",
        ),
        ("3", "time 1634942949 is outside 2009-01-01..now+1d (looks like seconds, not milliseconds)"),
        ("4", "isBuyerMaker 'true' is not a boolean"),
        ("5", "qty '-2.0' is not a positive number"),
        (None, "missing id"),
        ("7", "quoteQty 'x' is not a decimal number"),
    ]


def test_error_object_on_200_is_terminal_and_wrong_shape_is_malformed() -> None:
    with pytest.raises(TerminalExchangeError, match=r"error -1121: Invalid symbol\."):
        parse_trades(b'{"code":-1121,"msg":"Invalid symbol."}', symbol="X", url="u")
    with pytest.raises(MalformedPageError, match="expected a JSON array of trades"):
        parse_trades(b'{"trades":[]}', symbol="X", url="u")


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (-1, r"Expecting ',' delimiter"),  # the closing bracket lost
        (-30, "Unterminated string"),  # cut inside the last trade's "isBuyerMaker" key
        (1, "Expecting value"),  # just the opening bracket
    ],
)
def test_truncated_pages_name_exchange_url_and_snippet(cut: int, reason: str) -> None:
    body = fixture_bytes(HISTORY)
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()  # as Binance sends it
    truncated = compact[:cut]
    url = "http://bn.test/api/v3/historicalTrades?symbol=BTCUSDT&fromId=1"
    with pytest.raises(MalformedPageError, match=f"body is not valid JSON \\({reason}") as info:
        parse_trades(truncated, symbol="BTCUSDT", url=url)
    assert (info.value.exchange, info.value.url) == ("binance", url)
    assert str(info.value).startswith(f"binance {url}: ")
    assert info.value.body_snippet == snippet(truncated) and snippet(truncated) in str(info.value)


def test_fetch_page_uses_trades_then_historical_trades(loopback: Loopback) -> None:
    loopback.route("/api/v3/trades", [Reply(200, fixture_bytes(RECENT))])
    loopback.route("/api/v3/historicalTrades", [Reply(200, fixture_bytes(HISTORY))])
    bn = connector(loopback)
    recent = bn.fetch_page("BTCUSDT")
    history = bn.fetch_page("BTCUSDT", bn.cursor_after(1111471895, 0, None))
    assert [(s.path, s.query) for s in loopback.seen] == [
        ("/api/v3/trades", {"symbol": "BTCUSDT", "limit": "1000"}),
        ("/api/v3/historicalTrades", {"symbol": "BTCUSDT", "limit": "1000", "fromId": "1111471896"}),
    ]
    assert (len(recent.trades), len(history.trades)) == (10, 10)


def test_used_weight_header_slows_the_pacer(loopback: Loopback) -> None:
    clock = FakeClock()
    limit = RateLimit(95.0, burst=250.0, used_header="X-MBX-USED-WEIGHT-1M", window_limit=6000)
    loopback.route("/api/v3/trades", [Reply(200, b"[]", {"X-MBX-USED-WEIGHT-1M": "5700"})])
    bn = connector(loopback, limit=limit, clock=clock)
    bn.fetch_page("BTCUSDT")
    assert clock.sleeps == []  # the burst covers the first request
    bn.fetch_page("BTCUSDT")
    # The server says 5700 of 6000 are used: 95% is our ceiling, so a full request's weight waits.
    assert clock.sleeps == [pytest.approx(25 / 95)]


def test_recorded_418_bans_durably_and_the_next_run_does_not_call(loopback: Loopback, tmp_path: Path) -> None:
    (entry,) = [
        e
        for e in json.loads(fixture_bytes("binance/errors_observed_compilation.json"))
        if e["http_status"] == 418
    ]
    loopback.route("/api/v3/trades", [Reply(418, json.dumps(entry["body"]).encode(), {"Retry-After": "300"})])
    clock = FakeClock(start=1_660_090_000.0)  # before the recorded ban ends (1660090423228 ms)
    bans = tmp_path / "state" / "exchange_bans.json"
    with pytest.raises(BannedError) as info:
        connector(loopback, clock=clock, ban_store=JsonFileBanStore(bans)).fetch_page("BTCUSDT")
    assert info.value.until_epoch_s == 1_660_090_423.228
    assert info.value.status == 418
    assert "IP banned until 2022-08-10T00:13:43Z" in str(info.value)
    assert len(loopback.seen) == 1  # a ban is never retried
    stored = json.loads(bans.read_text())
    assert stored[f"binance {loopback.url}"]["until_epoch_s"] == 1_660_090_423.228

    # A new process: fresh store object on the same file, fresh connector.
    with pytest.raises(BannedError, match="not calling the exchange before then") as again:
        connector(loopback, clock=clock, ban_store=JsonFileBanStore(bans)).fetch_page("BTCUSDT")
    assert again.value.until_epoch_s == 1_660_090_423.228
    assert len(loopback.seen) == 1

    # A short remaining ban within max_ban_wait_s is waited out instead.
    loopback.route("/api/v3/trades", [Reply(200, b"[]")])
    waiting = connector(loopback, clock=clock, ban_store=JsonFileBanStore(bans), max_ban_wait_s=600)
    assert waiting.fetch_page("BTCUSDT").trades == ()
    assert clock.sleeps == [pytest.approx(423.228)]
    assert len(loopback.seen) == 2


def test_418_without_until_in_body_uses_retry_after(loopback: Loopback) -> None:
    loopback.route("/api/v3/trades", [Reply(418, b'{"code":-1003,"msg":"banned"}', {"Retry-After": "120"})])
    clock = FakeClock()
    with pytest.raises(BannedError) as info:
        connector(loopback, clock=clock).fetch_page("BTCUSDT")
    assert info.value.until_epoch_s == clock.now + 120


def test_429_retries_after_retry_after_then_gives_up(loopback: Loopback) -> None:
    (entry,) = [
        e
        for e in json.loads(fixture_bytes("binance/errors_observed_compilation.json"))
        if e["http_status"] == 429
    ]
    loopback.route("/api/v3/trades", [Reply(429, json.dumps(entry["body"]).encode(), {"Retry-After": "7"})])
    clock = FakeClock()
    bn = connector(loopback, clock=clock, retry=RetryPolicy(max_attempts=4))
    with pytest.raises(RateLimitedError, match="Too much request weight used") as info:
        bn.fetch_page("BTCUSDT")
    assert info.value.retry_after == 7
    assert len(loopback.seen) == 4
    assert len(clock.sleeps) == 3 and all(s >= 7 for s in clock.sleeps)
    assert bn.client.counters.snapshot()["throttled"] == 4


def test_invalid_symbol_is_terminal(loopback: Loopback) -> None:
    loopback.route("/api/v3/trades", [Reply(400, b'{"code":-1121,"msg":"Invalid symbol."}')])
    with pytest.raises(TerminalExchangeError, match="Invalid symbol") as info:
        connector(loopback).fetch_page("BTCUSDX")
    assert info.value.status == 400 and len(loopback.seen) == 1


def test_list_products_keeps_trading_symbols() -> None:
    listed = parse_products(
        response(fixture_bytes("binance/exchangeInfo_TRIMMED_7of1695_symbols_2021-10-12_cryptofeed.json"))
    )
    assert [p.exchange_symbol for p in listed] == ["BNBBTC", "BTCEUR", "BTCUSDT", "ETHBTC", "ETHUSDT"]
    assert Product("binance", "BTC-USDT", "BTCUSDT", "BTC", "USDT") in listed
    two = parse_products(response(fixture_bytes("binance/exchangeInfo_BTCUSDT_2021-10-22_nautilus.json")))
    assert [p.symbol for p in two] == ["BTC-USDT", "ETH-USDT"]


def test_list_products_request_weight(loopback: Loopback) -> None:
    loopback.route(
        "/api/v3/exchangeInfo",
        [Reply(200, fixture_bytes("binance/exchangeInfo_BTCUSDT_2021-10-22_nautilus.json"))],
    )
    clock = FakeClock()
    bn = connector(loopback, clock=clock, limit=RateLimit(10.0, burst=20.0))
    assert len(bn.list_products()) == 2
    assert len(bn.list_products()) == 2
    assert clock.sleeps == [pytest.approx(2.0)]  # weight 20 each: the second waits 20/10 s
