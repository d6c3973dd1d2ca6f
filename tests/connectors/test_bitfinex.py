"""Bitfinex connector against real recorded rows and a loopback server.

The time-paging trap: several trades share one millisecond, so `start` alone cannot continue
exactly after a trade; the seen-id filter must leave out exactly the delivered ones."""

from __future__ import annotations

import json

import pytest

from schemahub_lib.connectors.base import Cursor, Product
from schemahub_lib.connectors.bitfinex import (
    BitfinexConnector,
    parse_page,
    parse_pairs,
    parse_trades,
    split_pair,
)
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.errors import RateLimitedError, TerminalExchangeError, TransientExchangeError
from schemahub_lib.http import HttpResponse
from schemahub_lib.mapping.loader import load_mapping
from schemahub_lib.mapping.symbols import resolve_by_pattern
from schemahub_lib.settings import REPO_ROOT
from tests.connectors.support import FakeClock, Loopback, Reply, fixture_bytes, make_client

CHZ = "bitfinex/trades_tCHZUST_2021-04-05_ws-snapshot_cryptofeed.json"
ETH2X = "bitfinex/trades_tETH2X-ETH_2021-04-05_ws-snapshot_cryptofeed.json"
ONE = "bitfinex/trades_tBTCUST_1trade_2024-03-13_ccxt-static-httpResponse.json"
PAIRS = "bitfinex/conf_pub_list_pair_exchange_2021-04-17_cryptofeed.json"
ERRORS = "bitfinex/errors_observed_compilation.json"
NOW = 1_763_000_000 * 10**9
SAME_MS = 1617643340758  # ten CHZUST trades, ids 658685432..658685441


def response(body: bytes, url: str = "http://bfx.test/v2/trades/tCHZUST/hist") -> HttpResponse:
    return HttpResponse(url, 200, {}, body)


def connector(loopback: Loopback, **kwargs: object) -> BitfinexConnector:
    return BitfinexConnector(make_client("bitfinex", loopback.url, **kwargs))  # type: ignore[arg-type]


def test_recorded_rows_parse_with_exact_signed_values() -> None:
    trades, rejects, rows = parse_trades(fixture_bytes(CHZ), symbol="tCHZUST", url="u", now=NOW)
    assert (rows, rejects) == (30, [])
    ids = [t.trade_id for t in trades]
    assert ids == sorted(ids) and ids[0] == 658494613 and ids[-1] == 658685443
    by_id = {t.trade_id: t for t in trades}
    assert by_id[658685440].record == {
        "id": 658685440,
        "symbol": "tCHZUST",
        "mts": SAME_MS * 1000,
        "amount": -5400.0,  # the taker sold
        "price": 0.44752,
    }
    assert by_id[658685443].record["amount"] == 0.00001639  # the taker bought
    assert by_id[658685440].payload == "[658685440,1617643340758,-5400,0.44752]"
    assert sum(t.time_ns == SAME_MS * 10**6 for t in trades) == 10


def test_ccxt_recorded_row_and_a_colon_pair() -> None:
    (one,), _, _ = parse_trades(fixture_bytes(ONE), symbol="tBTCUST", url="u", now=NOW)
    assert one.record == {
        "id": 1560452102,
        "symbol": "tBTCUST",
        "mts": 1710327651446000,
        "amount": 0.00019983,
        "price": 73218.0,
    }
    trades, rejects, _ = parse_trades(fixture_bytes(ETH2X), symbol="tETH2X:ETH", url="u", now=NOW)
    assert len(trades) == 30 and rejects == []


def test_the_seen_id_filter_splits_a_millisecond_exactly() -> None:
    # The walk delivered through 658685436, in the middle of the ten trades of SAME_MS.
    cursor = Cursor("start", str(SAME_MS), seen_through_id=658685436)
    page = parse_page(response(fixture_bytes(CHZ)), product="tCHZUST", cursor=cursor, now=NOW)
    assert [t.trade_id for t in page.trades] == [
        658685437,
        658685438,
        658685439,
        658685440,
        658685441,
        658685442,
        658685443,
    ]
    assert page.newer == Cursor("start", "1617643341060", seen_through_id=658685443)
    assert page.older is None


def test_a_page_of_only_seen_rows_ends_the_catch_up_unless_it_is_full() -> None:
    rows = json.loads(fixture_bytes(CHZ))
    same = [r for r in rows if r[1] == SAME_MS]
    body = json.dumps(same).encode()
    seen_all = Cursor("start", str(SAME_MS), seen_through_id=658685441)
    done = parse_page(response(body), product="tCHZUST", cursor=seen_all, page_limit=125, now=NOW)
    assert (done.trades, done.newer) == ((), None)
    # Ten trades in one millisecond and a page of ten: nothing new can ever come back.
    with pytest.raises(TransientExchangeError, match="more trades in one millisecond than a page holds"):
        parse_page(response(body), product="tCHZUST", cursor=seen_all, page_limit=10, now=NOW)


def test_bad_rows_become_rejects_and_still_move_the_cursor() -> None:
    rows = [[10, SAME_MS, 1.5, 2.0], [11, SAME_MS, 0, 2.0], [12, SAME_MS, -1, "abc"], [13, SAME_MS, 1]]
    page = parse_page(
        response(json.dumps(rows).encode()),
        product="tBTCUSD",
        cursor=Cursor("start", str(SAME_MS), seen_through_id=9),
        now=NOW,
    )
    assert [t.trade_id for t in page.trades] == [10]
    reasons = {r.trade_id: r.reason for r in page.rejects}
    assert reasons["11"] == "AMOUNT 0 is not a non-zero finite number"
    assert reasons["12"] == "PRICE 'abc' is not a decimal number"
    assert reasons[None] == "trade row has 3 elements, expected 4 [ID, MTS, AMOUNT, PRICE]"
    assert sorted(reasons, key=str) == ["11", "12", None]  # the short rows have no readable id
    assert page.newer == Cursor("start", str(SAME_MS), seen_through_id=12)


@pytest.mark.parametrize(
    "row",
    [[2**63, SAME_MS, 1.5, 2.0], [SAME_MS, 1.5, 2.0]],
    ids=["id-past-bigint", "no-id"],
)
def test_a_last_row_without_a_usable_id_ends_the_walk_instead_of_repeating_the_cursor(row: list) -> None:
    """Found by the fault matrix (bitfinex-invalid-watermark-s1): the newest row, corrupted on
    every answer, left the cursor where it was, and the catch-up asked the same page forever."""
    cursor = Cursor("start", str(SAME_MS), seen_through_id=9)
    page = parse_page(response(json.dumps([row]).encode()), product="tBTCUSD", cursor=cursor, now=NOW)
    assert page.trades == () and len(page.rejects) == 1
    assert page.newer is None
    # A first page (no seen id yet) of such rows only: no crash, the same end.
    first = parse_page(
        response(json.dumps([row]).encode()), product="tBTCUSD", cursor=Cursor("start", str(SAME_MS)), now=NOW
    )
    assert first.newer is None and len(first.rejects) == 1
    # A full page of them cannot be paged past without skipping: retried, then the stream fails.
    with pytest.raises(TransientExchangeError, match="holds no trade after id"):
        parse_page(
            response(json.dumps([row]).encode()), product="tBTCUSD", cursor=cursor, page_limit=1, now=NOW
        )


def test_error_bodies_map_to_typed_errors(loopback: Loopback) -> None:
    entries = json.loads(fixture_bytes(ERRORS))["entries"]
    with pytest.raises(TerminalExchangeError, match="limit: invalid"):
        parse_trades(json.dumps(entries[1]["body"]).encode(), symbol="tBTCUSD", url="u", now=NOW)
    with pytest.raises(RateLimitedError, match="ERR_RATE_LIMIT"):
        parse_trades(json.dumps(entries[0]["body"]).encode(), symbol="tBTCUSD", url="u", now=NOW)
    path = "/v2/trades/tBTCUSD/hist"
    loopback.route(
        path,
        [
            Reply(429, json.dumps(entries[0]["body"]).encode()),
            Reply(500, b'["error",20060,"maintenance"]'),
            Reply(200, fixture_bytes(ONE)),
        ],
    )
    clock = FakeClock()
    page = connector(loopback, clock=clock).fetch_page("tBTCUSD")
    assert [t.trade_id for t in page.trades] == [1560452102] and len(clock.sleeps) == 2  # 429, 500 retried


def test_fetch_page_sends_the_documented_query(loopback: Loopback) -> None:
    loopback.route("/v2/trades/tTESTBTC:TESTUSD/hist", [Reply(200, b"[]")])
    conn = connector(loopback)
    conn.fetch_page("tTESTBTC:TESTUSD", conn.from_time(1_617_643_340_758_000_001, seen_through_id=5))
    assert loopback.seen[-1].path == "/v2/trades/tTESTBTC:TESTUSD/hist"
    assert loopback.seen[-1].query == {"limit": "10000", "start": "1617643340759", "sort": "1"}
    conn.fetch_page("tTESTBTC:TESTUSD")
    assert loopback.seen[-1].query == {"limit": "10000", "sort": "-1"}
    assert conn.cursor_after(7, 1_617_643_340_758_000_000, None) == Cursor(
        "start", "1617643340758", seen_through_id=7
    )


def test_pairs_and_symbols() -> None:
    products = {p.exchange_symbol: p for p in parse_pairs(response(fixture_bytes(PAIRS)))}
    assert products["tBTCUST"] == Product("bitfinex", "BTC-USDT", "tBTCUST", "BTC", "USDT")
    assert products["tTESTBTC:TESTUSD"].symbol == "TESTBTC-TESTUSD"
    assert products["tAVAX:UST"].symbol == "AVAX-USDT"
    assert split_pair("BTCUSD") == ("BTC", "USD") and split_pair("ABCD") is None
    # The mapping resolves the same spellings for symbols not in the seed.
    spec = load_mapping(REPO_ROOT / "mappings" / "bitfinex_trades.yaml", load_table_defs(REPO_ROOT / "ddl"))
    for name, canonical in (
        ("tBTCUST", "BTC-USDT"),
        ("tTESTBTC:TESTUSD", "TESTBTC-TESTUSD"),
        ("tAVAX:UST", "AVAX-USDT"),
    ):
        resolved = resolve_by_pattern(name, spec.symbols)
        assert resolved is not None and resolved.symbol == canonical
