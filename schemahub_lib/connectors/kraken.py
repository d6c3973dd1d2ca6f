"""Kraken Spot public trades: GET /0/public/Trades.

API: https://docs.kraken.com/api/docs/rest-api/get-recent-trades/
`since`: https://support.kraken.com/hc/en-us/articles/218198197

Cursor: `since`, an integer nanosecond timestamp as an exact string (never a float), oldest
first. The next page is `since=<last - 1>` where `last` is the response's own 19-digit cursor.
`since` cannot say "strictly after trade N" (many trades share one timestamp, and whether the
boundary is inclusive is undocumented), so every cursor this module makes also carries
`seen_through_id`: rows with a trade id at or below it are left out of the page.
* `cursor_after(watermark)` is `since=<a lower bound of the watermark trade's time>` with
  `seen_through_id=<watermark id>`.
* Older history: Kraken cannot page backwards; `Page.older` is always None. A backfill starts
  forward from `Cursor("since", str(start_ns))`.
* No cursor -> the most recent trades; `Page.newer` is None then.

Quirks: errors and throttling arrive as HTTP 200 with a non-empty `error` array, `result`
may be absent then; the result key is Kraken's pair key, not the requested altname (XBTUSD ->
XXBTZUSD); `last` may be missing; legacy rows have 6 elements and no trade id.

Records follow ddl/raw_kraken_trades.sql: trade_id, pair (the result key), price, volume, time
(int microseconds UTC), time_ns (exact ns as written), side (b/s, taker), order_type, misc.
A row without a trade id is a Reject ("no trade_id"): the unified key needs one, and Kraken now
returns ids for old trades too, so such rows only come from old recordings.
"""

from __future__ import annotations

from typing import Any, ClassVar

from schemahub_lib.connectors.base import (
    Cursor,
    Page,
    Product,
    RateScope,
    RawTrade,
    Reject,
    cannot,
    checked_page_limit,
)
from schemahub_lib.connectors.exactjson import ExactList, loads_exact, loads_items
from schemahub_lib.connectors.records import (
    RecordError,
    require_choice,
    require_positive,
    require_trade_id,
    seconds_text_to_ns,
    short,
)
from schemahub_lib.connectors.responses import decode_json, ids_of, malformed, parse_rows
from schemahub_lib.errors import RateLimitedError, TerminalExchangeError, TransientExchangeError
from schemahub_lib.http import HttpClient, HttpResponse, RateLimit

NAME = "kraken"
# `time` is a JSON double with ~100 ns resolution; its text can sit above the exact time.
TIME_TEXT_SLACK_NS = 1_000
# Kraken restricts a throttled client "for a few seconds"; retrying sooner only extends it.
THROTTLE_RETRY_S = 2.0
_THROTTLED = ("EGeneral:Too many requests", "EAPI:Rate limit exceeded")
_TRANSIENT = ("EService:", "EGeneral:Internal error")
# Pre-2013 asset ids carry an X (crypto) or Z (fiat) prefix; newer ids never do (XTZ, ZRX).
LEGACY_ASSETS = frozenset(
    {
        *("XDAO", "XETC", "XETH", "XICN", "XLTC", "XMLN", "XNMC", "XREP", "XXBT", "XXDG", "XXLM", "XXMR"),
        *("XXRP", "XXTZ", "XXVN", "XZEC", "ZAUD", "ZCAD", "ZEUR", "ZGBP", "ZJPY", "ZKRW", "ZUSD"),
    }
)
ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


class KrakenConnector:
    """Kraken Spot trades, paged forward by nanosecond `since`."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = "https://api.kraken.com"
    trades_path: ClassVar[str] = "/0/public/Trades"
    products_path: ClassVar[str] = "/0/public/AssetPairs"
    raw_table: ClassVar[str] = "raw_kraken_trades"
    id_column: ClassVar[str] = "trade_id"
    symbol_column: ClassVar[str] = "pair"
    time_column: ClassVar[str] = "time"
    max_page_limit: ClassVar[int] = 1000  # `count`, 1..1000
    # The trades a cursor admits (landing/contiguity.py checks every page against it).
    cursor_bounds: ClassVar[dict[str, str]] = {"since": "time_from"}
    # Public Trades are limited per IP and pair; 1 request/s "would remain within the limits".
    requests_per_second: ClassVar[float] = 1.0
    rate_scope: ClassVar[RateScope] = "product"
    history_s: ClassVar[float | None] = None
    walks_back: ClassVar[bool] = False
    pages_by_time: ClassVar[bool] = True
    trusts_newer: ClassVar[bool] = True
    dense_ids: ClassVar[bool] = True  # a per-pair running count from 1
    # The built-in seed: markets landed when no seed file says otherwise (altname, key alias).
    default_products: ClassVar[tuple[Product, ...]] = (
        Product(NAME, "BTC-USD", "XBTUSD", "BTC", "USD", aliases=("XXBTZUSD",)),
        Product(NAME, "ETH-USD", "ETHUSD", "ETH", "USD", aliases=("XETHZUSD",)),
        Product(NAME, "BTC-USDT", "XBTUSDT", "BTC", "USDT", aliases=("XBTUSDT",)),
        Product(NAME, "DOGE-USD", "XDGUSD", "DOGE", "USD", aliases=("XXDGZUSD",)),
    )

    def __init__(self, client: HttpClient, *, page_limit: int | None = None) -> None:
        self.client = client
        self.page_limit = checked_page_limit(NAME, page_limit, self.max_page_limit)

    @classmethod
    def pacing(cls, configured: float | None = None) -> RateLimit:
        """95% of 1 request/s per pair, no burst. `configured` (requests/s); <= 0 unpaced."""
        if configured is not None:
            return RateLimit(configured if 0 < configured < float("inf") else None)
        return RateLimit(cls.requests_per_second * 0.95)

    def fetch_page(self, product: str, cursor: Cursor | None = None) -> Page:
        """One request. `product` is the pair as requested, e.g. the altname XBTUSD."""
        params: dict[str, str | int] = {"pair": product, "count": self.page_limit}
        if cursor is not None:
            if cursor.param != "since" or not cursor.value.isdigit():
                raise ValueError(f"kraken cursor must be since=<ns>, got {cursor}")
            params["since"] = cursor.value
        return self.client.get(
            self.trades_path,
            params,
            lambda r: parse_page(r, product=product, cursor=cursor, page_limit=self.page_limit),
            scope=product,  # Trades are limited per pair, so each pair has its own pacer
        )

    def cursor_after(self, trade_id: int, time_ns: int, last_cursor: str | None) -> Cursor:
        """`since` at or below the watermark trade's exact time, skipping ids <= `trade_id`.

        `time_ns` is the time as written (can be ~100 ns above the exact time), so the bound
        is `time_ns - 1 µs`, or `last_cursor - 1` (a stored `last`) if that is lower."""
        since = time_ns - TIME_TEXT_SLACK_NS
        if last_cursor and last_cursor.isdigit():
            since = min(since, int(last_cursor) - 1)
        return Cursor("since", str(max(since, 0)), seen_through_id=trade_id)

    def older_than(self, trade_id: int) -> Cursor | None:
        raise cannot(NAME, "page towards older trades", "it pages forward by time (`since`)")

    def from_time(self, time_ns: int, seen_through_id: int | None = None) -> Cursor:
        """`since=<time_ns>`; trades at or below `seen_through_id` are left out of the page."""
        return Cursor("since", str(max(time_ns, 0)), seen_through_id=seen_through_id)

    def list_products(self) -> list[Product]:
        return self.client.get(self.products_path, None, parse_asset_pairs)


def raise_for_errors(data: Any, url: str, body: bytes) -> dict[str, Any]:
    """Check the `{"error": [...], "result": {...}}` envelope; return `result`."""
    if not isinstance(data, dict) or not isinstance(data.get("error"), list):
        raise malformed(NAME, url, "expected an object with an 'error' array", body)
    # W-prefixed entries are warnings; only E-prefixed ones fail the request.
    errors = [str(e) for e in data["error"] if not (isinstance(e, str) and e.startswith("W"))]
    if errors:
        text = "; ".join(errors)
        if any(e.startswith(_THROTTLED) for e in errors):
            raise RateLimitedError(
                NAME, url, f"throttled in-band: {text}", body=body, retry_after=THROTTLE_RETRY_S
            )
        if all(e.startswith(_TRANSIENT) for e in errors):
            raise TransientExchangeError(NAME, url, f"service unavailable: {text}", body=body)
        raise TerminalExchangeError(NAME, url, f"request failed: {text}", body=body)
    result = data.get("result")
    if not isinstance(result, dict):
        raise malformed(NAME, url, "expected a 'result' object", body)
    return result


def parse_row(row: Any, payload: str, pair: str, now: int) -> RawTrade:
    """One `[price, volume, time, side, type, misc, trade_id]` row and its exact text -> RawTrade."""
    if type(row) is not list:
        raise RecordError("trade row is not a JSON array")
    if len(row) == 6 and type(row[5]) is not int:
        raise RecordError("no trade_id (legacy 6-element row)")  # ends with `misc`, a string
    if len(row) == 6:
        raise RecordError("trade row has 6 elements and ends with an id: a field is missing, expected 7")
    if len(row) < 7:
        raise RecordError(f"trade row has {len(row)} elements, expected 7")
    price, volume, time_text, side, order_type, misc, raw_id = row[:7]
    trade_id = require_trade_id(raw_id, "trade_id")
    if trade_id == 0:
        raise RecordError("trade_id 0 (Kraken served 0 for some ranges until 2024-06-13)")
    time_ns = seconds_text_to_ns(time_text, "time", now)
    if type(order_type) is not str or not order_type:
        raise RecordError(f"order_type {short(order_type)} is not a non-empty string")
    if misc is not None and type(misc) is not str:
        raise RecordError(f"misc {short(misc)} is not a string")
    record = {
        "trade_id": trade_id,
        "pair": pair,
        "price": require_positive(price, "price"),
        "volume": require_positive(volume, "volume"),
        "time": time_ns // 1000,
        "time_ns": time_ns,
        "side": require_choice(side, "side", ("b", "s")),
        "order_type": order_type,
        "misc": misc,
    }
    return RawTrade(trade_id, time_ns, record, payload)


def _row_id(row: Any) -> Any:
    """The id of a row that failed validation, if it still shows one (the 7th element, or
    the last of a 6-element row that lost another field)."""
    if type(row) is not list:
        return None
    if len(row) >= 7:
        return row[6]
    return row[5] if len(row) == 6 and type(row[5]) is int else None


def _loads_rows(body: bytes) -> Any:
    return loads_items(body, depth=2)


def parse_trades(
    body: bytes, *, url: str, now: int | None = None
) -> tuple[str, list[RawTrade], list[Reject], str | None, int]:
    """A Trades body -> (result key, trades ascending by id, rejects, `last` or None, row count)."""
    # Depth 2: the rows of `{"result": {pair: [row, ...]}}` come with their exact texts.
    result = raise_for_errors(decode_json(NAME, url, body, _loads_rows), url, body)
    keys = [k for k in result if k != "last"]
    if len(keys) != 1:
        raise malformed(NAME, url, f"expected one pair key besides 'last', got {keys}", body)
    pair, rows = keys[0], result[keys[0]]
    if not isinstance(rows, ExactList):
        raise malformed(NAME, url, f"result[{pair!r}] is not an array of trades", body)
    last = result.get("last")
    if type(last) is int:
        last = str(last)
    if last is not None and not (type(last) is str and last.isascii() and last.isdigit()):
        # A float here would already have lost nanoseconds; never page from it.
        raise malformed(NAME, url, f"'last' {short(last)} is not an integer nanosecond string", body)
    trades, rejects = parse_rows(
        NAME, url, body, rows, lambda row, text, t: parse_row(row, text, pair, t), _row_id, now
    )
    return pair, trades, rejects, last, len(rows)


def parse_page(
    response: HttpResponse,
    *,
    product: str,
    cursor: Cursor | None,
    page_limit: int = KrakenConnector.max_page_limit,
    now: int | None = None,
) -> Page:
    """A Trades response -> Page; rows at or below `cursor.seen_through_id` are left out."""
    url, body = response.url, response.body
    _pair, trades, rejects, last, row_count = parse_trades(body, url=url, now=now)
    seen = None if cursor is None else cursor.seen_through_id
    if seen is not None:
        trades = [t for t in trades if t.trade_id > seen]
        rejects = [
            r for r in rejects if not (r.trade_id and r.trade_id.isdigit() and int(r.trade_id) <= seen)
        ]
    newer: Cursor | None = None
    if cursor is not None and (trades or rejects or row_count >= page_limit):
        since = int(cursor.value)
        if last is not None:
            # One ns below `last`: if the boundary is exclusive, trades sharing the last row's
            # timestamp beyond this page would be skipped; the seen-id filter drops the repeats.
            next_since = int(last) - 1
        elif trades:
            next_since = max(t.time_ns for t in trades) - TIME_TEXT_SLACK_NS  # `last` can be missing
        else:
            next_since = since
        ids = ids_of(trades, rejects)
        if seen is not None:
            ids.append(seen)
        next_seen = max(ids, default=None)
        if next_since > since or (next_seen is not None and next_seen != seen):
            newer = Cursor("since", str(max(next_since, since)), seen_through_id=next_seen)
        elif row_count >= page_limit:
            # Usually the previous page served again (a cache): retried; if it persists the
            # stream fails rather than page past trades it never saw.
            raise TransientExchangeError(
                NAME, url, f"a full page at since={since} holds no trade after id {seen} and 'last' "
                "does not advance (the previous page again?); cannot page past it without skipping "
                "trades", body=body,
            )  # fmt: skip
    return Page(
        exchange=NAME,
        product=product,
        url=url,
        trades=tuple(trades),
        older=None,
        newer=newer,
        rejects=tuple(rejects),
        headers=dict(response.headers),
    )


def asset_name(asset_id: str) -> str:
    """Kraken asset id -> canonical name: XXBT -> BTC, ZUSD -> USD, XDG -> DOGE, USDT -> USDT."""
    name = asset_id[1:] if asset_id in LEGACY_ASSETS else asset_id
    return ASSET_ALIASES.get(name, name)


def parse_asset_pairs(response: HttpResponse) -> list[Product]:
    """GET /0/public/AssetPairs -> online pairs; dark-pool `.d` pairs are skipped.

    exchange_symbol is the altname (what Trades is asked with); the pair key (what Trades
    answers with) is the alias."""
    result = raise_for_errors(
        decode_json(NAME, response.url, response.body, loads_exact), response.url, response.body
    )
    products = []
    for key, item in result.items():
        if key.endswith(".d"):
            continue  # dark-pool books have no public trades
        if not isinstance(item, dict):
            raise malformed(NAME, response.url, f"pair {key!r} is not a JSON object", response.body)
        if item.get("status", "online") != "online":
            continue  # `status` exists since ~2022; older answers list only tradable pairs
        altname, base, quote = item.get("altname"), item.get("base"), item.get("quote")
        if not (isinstance(altname, str) and isinstance(base, str) and isinstance(quote, str)):
            raise malformed(NAME, response.url, f"pair {key!r} lacks altname/base/quote", response.body)
        b, q = asset_name(base), asset_name(quote)
        products.append(Product(NAME, f"{b}-{q}", altname, b, q, aliases=(key,)))
    return sorted(products, key=lambda p: (p.symbol, p.exchange_symbol))
