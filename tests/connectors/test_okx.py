"""OKX connector against real recorded pages, the official docs example and a loopback server."""

from __future__ import annotations

import json

import pytest

from schemahub_lib.connectors.base import Cursor, Product
from schemahub_lib.connectors.okx import OkxConnector, parse_instruments, parse_page, parse_trades
from schemahub_lib.errors import RateLimitedError, TerminalExchangeError, TransientExchangeError
from schemahub_lib.http import HttpResponse
from tests.connectors.support import FakeClock, Loopback, Reply, fixture_bytes, make_client

RECORDED = "okx/trades_BTC-USDT_2025-05-12_nautilus.json"
DOCS = "okx/history-trades_BTC-USDT_DOCS-EXAMPLE_okx-docs-v5.json"
INSTRUMENTS = "okx/instruments_SPOT_nautilus.json"
RATE_LIMITED = "okx/error_429_rate_limit_nautilus.json"
NOW = 1_763_000_000 * 10**9
PATH = "/api/v5/market/history-trades"


def response(
    body: bytes, url: str = "http://okx.test/api/v5/market/history-trades?instId=BTC-USDT"
) -> HttpResponse:
    return HttpResponse(url, 200, {}, body)


def connector(loopback: Loopback, **kwargs: object) -> OkxConnector:
    return OkxConnector(make_client("okx", loopback.url, **kwargs))  # type: ignore[arg-type]


def body_of(trades: list[dict[str, object]], code: str = "0") -> bytes:
    return json.dumps({"code": code, "msg": "", "data": trades}).encode()


def trade(trade_id: object, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {"instId": "BTC-USDT", "side": "buy", "sz": "0.5", "px": "100.1"}
    base.update(tradeId=trade_id, ts="1747087161666")
    base.update(fields)
    return base


def test_recorded_page_parses_with_exact_values() -> None:
    trades, rejects = parse_trades(fixture_bytes(RECORDED), product="BTC-USDT", url="u", now=NOW)
    assert rejects == []
    assert [t.trade_id for t in trades] == [734864332, 734864333]  # ascending, newest-first page
    newest = trades[-1]
    assert newest.record == {
        "trade_id": 734864333,
        "inst_id": "BTC-USDT",
        "px": 102537.9,
        "sz": 0.00013669,
        "side": "sell",
        "ts": 1747087163557000,
        "source": None,  # older answers have no `source`
    }
    assert newest.time_ns == 1747087163557 * 10**6
    assert newest.payload == (
        '{"instId":"BTC-USDT","side":"sell","sz":"0.00013669","px":"102537.9",'
        '"tradeId":"734864333","ts":"1747087163557"}'
    )


def test_docs_example_carries_the_order_source() -> None:
    trades, rejects = parse_trades(fixture_bytes(DOCS), product="BTC-USDT", url="u", now=NOW)
    assert rejects == [] and [t.record["source"] for t in trades] == ["0", "0"]
    assert [t.record["px"] for t in trades] == [29964.1, 29963.2]


def test_cursors_page_back_by_trade_id() -> None:
    newest = parse_page(response(fixture_bytes(RECORDED)), product="BTC-USDT", cursor=None, now=NOW)
    assert (newest.older, newest.newer) == (Cursor("after", "734864332"), None)
    older = parse_page(
        response(fixture_bytes(RECORDED)), product="BTC-USDT", cursor=Cursor("after", "734864334"), now=NOW
    )
    assert (older.older, older.newer) == (Cursor("after", "734864332"), Cursor("before", "734864333"))


@pytest.mark.parametrize(
    ("cursor", "older", "newer"),
    [
        (None, None, None),
        (Cursor("after", "50"), None, Cursor("before", "49")),  # nothing older: history ends
        (Cursor("before", "50"), Cursor("after", "51"), None),  # nothing newer yet
    ],
)
def test_empty_pages(cursor: Cursor | None, older: Cursor | None, newer: Cursor | None) -> None:
    page = parse_page(response(body_of([])), product="BTC-USDT", cursor=cursor, now=NOW)
    assert (page.trades, page.older, page.newer) == ((), older, newer)


def test_bad_records_become_rejects_and_still_move_the_cursor() -> None:
    rows = [
        trade("10"),
        trade("11", px="abc"),
        trade("12", instId="ETH-USDT"),
        trade("13", side="taker"),
        trade("14", ts="1747087161.666"),
        trade(None),
    ]
    page = parse_page(response(body_of(rows)), product="BTC-USDT", cursor=Cursor("after", "20"), now=NOW)
    assert [t.trade_id for t in page.trades] == [10]
    reasons = {r.trade_id: r.reason for r in page.rejects}
    assert reasons["11"] == "px 'abc' is not a decimal number"
    assert reasons["12"] == "instId 'ETH-USDT' is not the instrument asked for (BTC-USDT)"
    assert reasons["13"] == "side 'taker' is not one of buy, sell"
    assert reasons["14"].startswith("ts '1747087161.666' is not integer epoch milliseconds")
    assert reasons[None] == "missing tradeId"
    assert (page.older, page.newer) == (Cursor("after", "10"), Cursor("before", "14"))


@pytest.mark.parametrize(
    ("code", "error"),
    [("50011", RateLimitedError), ("50013", TransientExchangeError), ("51001", TerminalExchangeError)],
)
def test_error_codes_in_a_2xx_answer(code: str, error: type[Exception]) -> None:
    body = json.dumps({"code": code, "msg": "Instrument ID does not exist", "data": []}).encode()
    with pytest.raises(error, match=rf"okx .*error '{code}'"):
        parse_trades(body, product="BTC-USDT", url="u", now=NOW)


def test_recorded_429_is_retried_then_the_page_arrives(loopback: Loopback) -> None:
    loopback.route(PATH, [Reply(429, fixture_bytes(RATE_LIMITED)), Reply(200, fixture_bytes(RECORDED))])
    clock = FakeClock()
    page = connector(loopback, clock=clock).fetch_page("BTC-USDT")
    assert [t.trade_id for t in page.trades] == [734864332, 734864333]
    assert len(clock.sleeps) == 1


def test_fetch_page_sends_the_documented_query(loopback: Loopback) -> None:
    loopback.route(PATH, [Reply(200, fixture_bytes(RECORDED))])
    conn = connector(loopback)
    conn.fetch_page("BTC-USDT", conn.older_than(734864334))
    assert loopback.seen[-1].query == {
        "instId": "BTC-USDT",
        "type": "1",
        "limit": "100",
        "after": "734864334",
    }
    conn.fetch_page("BTC-USDT", conn.cursor_after(734864331, 0, None))
    assert loopback.seen[-1].query["before"] == "734864331"
    with pytest.raises(ValueError, match="okx cursor must be after=<id> or before=<id>"):
        conn.fetch_page("BTC-USDT", Cursor("since", "1"))


def test_instruments_list_live_spot_products() -> None:
    products = parse_instruments(response(fixture_bytes(INSTRUMENTS)))
    assert [p.symbol for p in products] == ["BTC-USD", "ETH-USD", "SOL-USD", "USDT-USD", "XRP-USD"]
    assert products[0] == Product("okx", "BTC-USD", "BTC-USD", "BTC", "USD")
    suspended = json.loads(fixture_bytes(INSTRUMENTS))
    suspended["data"][0]["state"] = "suspend"
    assert "BTC-USD" not in {p.symbol for p in parse_instruments(response(json.dumps(suspended).encode()))}
