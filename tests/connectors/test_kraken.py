"""Kraken Spot connector against real recorded pages and a loopback server."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from schemahub_lib.connectors.base import Cursor, Product
from schemahub_lib.connectors.kraken import (
    KrakenConnector,
    asset_name,
    parse_asset_pairs,
    parse_page,
    parse_trades,
)
from schemahub_lib.errors import (
    MalformedPageError,
    RateLimitedError,
    TerminalExchangeError,
    TransientExchangeError,
)
from schemahub_lib.http import HttpResponse, RateLimit
from tests.connectors.support import FakeClock, Loopback, Reply, fixture_bytes, make_client

FULL = "kraken/trades_XBTUSDT_2025-11-10_nautilus.json"
SINCE_NS = "kraken/trades_XXBTZUSD_since-nanoseconds_count5_eugenelo.json"
SINCE_SECONDS = "kraken/trades_XXBTZUSD_since-fractional-seconds_count5_eugenelo.json"
DOCS_2023 = "kraken/trades_XXBTZUSD_DOCS-EXAMPLE_2023-07_krakenfx-api-specs.json"
LEGACY = "kraken/trades_XXBTZUSD_DOCS-EXAMPLE_2019-01_6-element-legacy_krakenfx-api-specs.json"
NOW = 1_763_000_000 * 10**9
PATH = "/0/public/Trades"


def response(body: bytes, url: str = "http://kr.test/0/public/Trades?pair=XBTUSD") -> HttpResponse:
    return HttpResponse(url, 200, {}, body)


def connector(loopback: Loopback, **kwargs: object) -> KrakenConnector:
    return KrakenConnector(make_client("kraken", loopback.url, **kwargs))  # type: ignore[arg-type]


def body_of(rows: list[object], last: str | None, key: str = "XXBTZUSD") -> bytes:
    result: dict[str, object] = {key: rows}
    if last is not None:
        result["last"] = last
    return json.dumps({"error": [], "result": result}).encode()


def row(trade_id: int, time: str = "1688669597.8277369") -> list[object]:
    return ["30243.40000", "0.34507674", json.loads(time), "b", "m", "", trade_id]


def test_full_real_page_parses_with_exact_values() -> None:
    pair, trades, rejects, last, count = parse_trades(fixture_bytes(FULL), url="u", now=NOW)
    assert (pair, last, count, rejects) == ("XBTUSDT", "1762820035982277754", 1000, [])
    assert [t.trade_id for t in trades] == list(range(10218208, 10219208))
    first = trades[0]
    assert first.record == {
        "trade_id": 10218208,
        "pair": "XBTUSDT",
        "price": 105433.6,
        "volume": 0.00027625,
        "time": 1_762_795_433_971_744,
        "time_ns": 1_762_795_433_971_744_500,
        "side": "b",
        "order_type": "l",
        "misc": "",
    }
    assert first.time_ns == 1_762_795_433_971_744_500
    assert first.payload == '["105433.60000","0.00027625",1762795433.9717445,"b","l","",10218208]'
    # The text of the last row's time is 100 ns coarse; only `last` has the exact nanoseconds.
    assert trades[-1].time_ns == 1_762_820_035_982_277_900
    assert Counter(t.record["side"] for t in trades) == {"b": 578, "s": 422}
    assert Counter(t.record["order_type"] for t in trades) == {"l": 591, "m": 409}


def test_page_cursors_on_the_full_page() -> None:
    latest = parse_page(response(fixture_bytes(FULL)), product="XBTUSDT", cursor=None, now=NOW)
    assert (latest.older, latest.newer) == (None, None)  # no cursor: newest; Kraken cannot go back
    paged = parse_page(
        response(fixture_bytes(FULL)),
        product="XBTUSDT",
        cursor=Cursor("since", "1762795433971744400"),
        now=NOW,
    )
    assert paged.newer == Cursor("since", "1762820035982277753", seen_through_id=10219207)
    assert paged.older is None


def test_result_key_differs_from_the_requested_pair() -> None:
    page = parse_page(
        response(fixture_bytes(SINCE_NS)),
        product="XBTUSD",
        cursor=Cursor("since", "1616666442304882029"),
        now=NOW,
    )
    assert page.product == "XBTUSD"
    assert {t.record["pair"] for t in page.trades} == {"XXBTZUSD"}
    assert [t.trade_id for t in page.trades] == [33185856, 33185857, 33185858, 33185859, 33185860]
    assert page.trades[0].time_ns == 1_616_666_442_304_882_000  # written as ...304882, 29 ns below since
    assert page.trades[-1].record["side"] == "s"
    assert page.newer == Cursor("since", "1616666442390332263", seen_through_id=33185860)


def test_fractional_seconds_since_page_and_its_last() -> None:
    _, trades, _, last, _ = parse_trades(fixture_bytes(SINCE_SECONDS), url="u", now=NOW)
    assert [t.trade_id for t in trades] == list(range(33185849, 33185854))
    assert last == "1616666442301045766"
    assert trades[-1].time_ns == 1_616_666_442_301_045_700


def test_docs_example_2023() -> None:
    _, trades, _, last, _ = parse_trades(fixture_bytes(DOCS_2023), url="u", now=NOW)
    assert [(t.trade_id, t.record["side"], t.record["order_type"]) for t in trades] == [
        (61044952, "b", "m"),
        (61044953, "s", "l"),
        (61044956, "s", "m"),
    ]
    assert last == "1688671969993150842"
    assert trades[2].time_ns == 1_688_669_602_698_379_000


def test_legacy_six_element_rows_are_rejects() -> None:
    page = parse_page(
        response(fixture_bytes(LEGACY)),
        product="XBTUSD",
        cursor=Cursor("since", "1548111751000000000"),
        now=NOW,
    )
    assert page.trades == ()
    assert [(r.reason, r.trade_id) for r in page.rejects] == [
        ("no trade_id (legacy 6-element row)", None)
    ] * 2
    assert page.rejects[0].payload == '["3535.50000","0.00300000",1548111751.5556,"b","m",""]'
    assert page.newer == Cursor("since", "1548121745957099005", seen_through_id=None)


def test_bad_rows_become_rejects() -> None:
    rows: list[object] = [
        row(1),
        row(0),
        ["abc", "1.0", 1688669597.8, "b", "m", "", 3],
        ["1.0", "1.0", 1688669597827, "b", "m", "", 4],
        ["1.0", "1.0", 1688669597.8, "x", "m", "", 5],
        ["1.0", "1.0", 1688669597.8, "b"],
        {"price": "1.0"},
    ]
    _, trades, rejects, _, _ = parse_trades(body_of(rows, "1688669597827736900"), url="u", now=NOW)
    assert [t.trade_id for t in trades] == [1]
    assert [(r.trade_id, r.reason) for r in rejects] == [
        ("0", "trade_id 0 (Kraken served 0 for some ranges until 2024-06-13)"),
        ("3", "price 'abc' is not a decimal number"),
        ("4", "time 1688669597827 is outside 2009-01-01..now+1d (looks like milliseconds, not seconds)"),
        ("5", "side 'x' is not one of b, s"),
        (None, "trade row has 4 elements, expected 7"),
        (None, "trade row is not a JSON array"),
    ]


def test_seen_rows_are_left_out_and_the_boundary_alone_ends_the_catch_up() -> None:
    cursor = Cursor("since", "1688669597827736899", seen_through_id=11)
    body = body_of([row(10), row(11), row(12, "1688669598.2804112")], "1688669598280411200")
    page = parse_page(response(body), product="XBTUSD", cursor=cursor, now=NOW)
    assert [t.trade_id for t in page.trades] == [12]
    assert page.newer == Cursor("since", "1688669598280411199", seen_through_id=12)
    boundary = parse_page(
        response(body_of([row(12)], "1688669598280411200")), product="XBTUSD", cursor=page.newer, now=NOW
    )
    assert (boundary.trades, boundary.newer) == ((), None)


def test_a_full_page_of_seen_rows_moves_on_by_time_or_fails_loudly() -> None:
    cursor = Cursor("since", "1688669597000000000", seen_through_id=3)
    moving = parse_page(
        response(body_of([row(1), row(2), row(3)], "1688669597827736900")),
        product="XBTUSD",
        cursor=cursor,
        page_limit=3,
        now=NOW,
    )
    assert (moving.trades, moving.newer) == ((), Cursor("since", "1688669597827736899", seen_through_id=3))
    with pytest.raises(TransientExchangeError, match="cannot page past it without skipping trades"):
        parse_page(
            response(body_of([row(1), row(2), row(3)], "1688669597827736900")),
            product="XBTUSD",
            cursor=moving.newer,
            page_limit=3,
            now=NOW,
        )


def test_missing_last_falls_back_to_the_last_row_time() -> None:
    body = body_of([row(7, "1688669598.2804112")], None)
    page = parse_page(
        response(body), product="XBTUSD", cursor=Cursor("since", "1688669597000000000"), now=NOW
    )
    assert page.newer == Cursor("since", str(1_688_669_598_280_411_200 - 1_000), seen_through_id=7)


def test_last_must_be_an_exact_integer_string() -> None:
    with pytest.raises(
        MalformedPageError, match=r"'last' '1688669598\.2804112' is not an integer nanosecond string"
    ):
        parse_trades(b'{"error":[],"result":{"XXBTZUSD":[],"last":1688669598.2804112}}', url="u")
    _, _, _, last, _ = parse_trades(
        b'{"error":[],"result":{"XXBTZUSD":[],"last":1688669598280411200}}', url="u"
    )
    assert last == "1688669598280411200"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"error":[],"result":{"last":"1"}}', r"expected one pair key besides 'last', got \[\]"),
        (b'{"error":[],"result":{"A":[],"B":[],"last":"1"}}', r"got \['A', 'B'\]"),
        (b'{"error":[],"result":[]}', "expected a 'result' object"),
        (b'{"result":{}}', "expected an object with an 'error' array"),
        (b'{"error":[],"result":{"XXBTZUSD":{}}}', "is not an array of trades"),
        (fixture_bytes(FULL)[:5000], "not valid JSON"),
        (b"<!DOCTYPE html><html>Cloudflare 520</html>", "HTML page"),
    ],
)
def test_malformed_pages(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPageError, match=reason) as info:
        parse_page(response(body), product="XBTUSD", cursor=None)
    assert info.value.exchange == "kraken" and info.value.url.endswith("pair=XBTUSD")


ERRORS = json.loads(fixture_bytes("kraken/errors_observed_compilation.json"))
EXPECTED = {
    "EGeneral:Too many requests": (RateLimitedError, 3),
    "EQuery:Unknown asset pair": (TerminalExchangeError, 1),
    "EAPI:Rate limit exceeded": (RateLimitedError, 3),
    "EGeneral:Invalid arguments": (TerminalExchangeError, 1),
    "EService:Unavailable": (TransientExchangeError, 3),
}


@pytest.mark.parametrize("entry", ERRORS, ids=[e["body"]["error"][0] for e in ERRORS])
def test_recorded_in_band_errors_map_to_typed_errors(loopback: Loopback, entry: dict) -> None:
    message = entry["body"]["error"][0]
    kind, attempts = EXPECTED[message]
    loopback.route(PATH, [Reply(200, json.dumps(entry["body"]).encode())])  # HTTP 200, no result
    clock = FakeClock()
    with pytest.raises(kind, match=message) as info:
        connector(loopback, clock=clock).fetch_page("XBTUSD")
    assert type(info.value) is kind
    assert len(loopback.seen) == attempts
    if kind is RateLimitedError:
        assert clock.sleeps and all(s >= 2.0 for s in clock.sleeps)  # "restricted for a few seconds"


def test_warnings_alone_do_not_fail_the_request() -> None:
    body = b'{"error":["WGeneral:Deprecated"],"result":{"XXBTZUSD":[],"last":"1688669598280411200"}}'
    assert parse_trades(body, url="u")[0] == "XXBTZUSD"


def test_fetch_page_sends_exact_since_and_paces_per_pair(loopback: Loopback) -> None:
    loopback.route(PATH, [Reply(200, fixture_bytes(SINCE_NS))])
    clock = FakeClock()
    kr = connector(loopback, clock=clock, limit=RateLimit(0.95))
    cursor = kr.cursor_after(33185855, 1_616_666_442_304_882_000, None)
    assert cursor == Cursor("since", "1616666442304881000", seen_through_id=33185855)
    kr.fetch_page("XBTUSD", cursor)
    kr.fetch_page("ETHUSD")  # another pair: its own budget
    assert clock.sleeps == []
    kr.fetch_page("XBTUSD")
    assert clock.sleeps == [pytest.approx(1 / 0.95)]
    assert [s.query for s in loopback.seen] == [
        {"pair": "XBTUSD", "count": "1000", "since": "1616666442304881000"},
        {"pair": "ETHUSD", "count": "1000"},
        {"pair": "XBTUSD", "count": "1000"},
    ]


def test_cursor_after_takes_the_lower_of_last_and_the_written_time() -> None:
    kr = KrakenConnector(make_client("kraken", "http://127.0.0.1:9"))
    assert kr.cursor_after(10219207, 1_762_820_035_982_277_900, "1762820035982277754") == Cursor(
        "since", "1762820035982276900", seen_through_id=10219207
    )
    assert kr.cursor_after(10219207, 1_762_820_035_982_277_900, "1762820035982276000") == Cursor(
        "since", "1762820035982275999", seen_through_id=10219207
    )


def test_asset_names() -> None:
    assert [asset_name(a) for a in ("XXBT", "ZUSD", "XETH", "XXDG", "USDT", "XTZ", "AAPLx", "ZEUS")] == [
        "BTC", "USD", "ETH", "DOGE", "USDT", "XTZ", "AAPLx", "ZEUS",
    ]  # fmt: skip


def test_asset_pairs_docs_example_and_2025_samples() -> None:
    docs = parse_asset_pairs(
        response(fixture_bytes("kraken/assetpairs_DOCS-EXAMPLE_XETHXXBT_XXBTZUSD_krakenfx-api-specs.json"))
    )
    assert docs == [
        Product("kraken", "BTC-USD", "XBTUSD", "BTC", "USD", aliases=("XXBTZUSD",)),
        Product("kraken", "ETH-BTC", "ETHXBT", "ETH", "BTC", aliases=("XETHXXBT",)),
    ]
    usdt = parse_asset_pairs(response(fixture_bytes("kraken/assetpairs_XBTUSDT_nautilus.json")))
    assert usdt == [Product("kraken", "BTC-USDT", "XBTUSDT", "BTC", "USDT", aliases=("XBTUSDT",))]
    tokenized = parse_asset_pairs(
        response(fixture_bytes("kraken/assetpairs_tokenized_AAPLxUSD_nautilus.json"))
    )
    assert tokenized == [Product("kraken", "AAPLx-USD", "AAPLxUSD", "AAPLx", "USD", aliases=("AAPLxUSD",))]


def test_asset_pairs_full_capture_agrees_with_wsname() -> None:
    raw = json.loads(fixture_bytes("kraken/assetpairs_full_2021-04-17_cryptofeed.json"))["result"]
    listed = parse_asset_pairs(response(fixture_bytes("kraken/assetpairs_full_2021-04-17_cryptofeed.json")))
    assert len(raw) == 304 and len(listed) == 293  # 11 dark-pool pairs skipped
    alias = {"XBT": "BTC", "XDG": "DOGE"}
    for product in listed:
        (key,) = product.aliases
        base, quote = raw[key]["wsname"].split("/")  # independent of the X/Z prefix rule
        assert (product.base, product.quote) == (alias.get(base, base), alias.get(quote, quote)), key
        assert product.exchange_symbol == raw[key]["altname"]
    by_symbol = {p.symbol: p for p in listed}
    assert by_symbol["DOGE-USD"] == Product(
        "kraken", "DOGE-USD", "XDGUSD", "DOGE", "USD", aliases=("XDGUSD",)
    )
    assert by_symbol["ETH-USD"].aliases == ("XETHZUSD",)


def test_asset_pairs_status_filter() -> None:
    data = json.loads(
        fixture_bytes("kraken/assetpairs_DOCS-EXAMPLE_XETHXXBT_XXBTZUSD_krakenfx-api-specs.json")
    )
    data["result"]["XXBTZUSD"]["status"] = "cancel_only"
    listed = parse_asset_pairs(response(json.dumps(data).encode()))
    assert [p.symbol for p in listed] == ["ETH-BTC"]
