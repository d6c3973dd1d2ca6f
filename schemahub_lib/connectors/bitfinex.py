"""Bitfinex public trades: GET /v2/trades/{symbol}/hist.

API: https://docs.bitfinex.com/reference/rest-public-trades
Pairs: https://docs.bitfinex.com/reference/rest-public-conf (`pub:list:pair:exchange`)
Limits: https://docs.bitfinex.com/docs/requirements-and-limitations

Contract (docs): `symbol` in the path is the trading pair with a `t` prefix (tBTCUSD; pairs
whose parts are not three letters carry a colon, tTESTBTC:TESTUSD, tAVAX:USD); `start` and
`end` are epoch milliseconds ("records with MTS >= start", "MTS <= end"); `limit` up to 10000
(default 125); `sort` 1 oldest first, -1 newest first (the default). Rows are
`[ID, MTS, AMOUNT, PRICE]`: AMOUNT is signed, "how much was bought (positive) or sold
(negative)" by the taker. Rate limit: 15 requests per minute per IP for this endpoint; past
it the IP is blocked for 60 s and the answer is HTTP 429 `{"error": "ERR_RATE_LIMIT"}`.
Other errors are `["error", <code>, "<message>"]` (e.g. 10020 "limit: invalid", HTTP 500).
Bitfinex writes USDT as UST (tBTCUST) and trade ids are global across pairs, so one pair's
ids have gaps (`dense_ids` is false).

Cursor: `start`, inclusive epoch milliseconds, always with `sort=1` (oldest first).
* Several trades share one millisecond, so `start` cannot say "after trade N": every cursor
  this module makes carries `seen_through_id`, and rows at or below it are left out of the
  page. The next page is `start=<MTS of the page's last row>` with `seen_through_id=<its id>`.
* A full page inside one millisecond that holds no new trade cannot be paged past without
  skipping trades: it is retried (usually a repeated page) and then fails the stream, never
  a silent skip.
* `cursor_after(watermark)` is `start=<watermark ms>` with `seen_through_id=<watermark id>`.
* Older history: Bitfinex pages backwards only by time (`end`, sort=-1), which cannot say
  "below trade N" either; `Page.older` is always None and a backfill walks forward from
  `--since` (`from_time`).
* No cursor -> the most recent trades (`sort=-1`); `Page.newer` is None then.

Records follow ddl/raw_bitfinex_trades.sql: id, symbol (as requested, e.g. tBTCUST), mts
(int microseconds UTC, from epoch milliseconds), amount (signed: negative means the taker
sold), price.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

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
from schemahub_lib.connectors.exactjson import loads_exact, loads_items
from schemahub_lib.connectors.records import (
    RecordError,
    epoch_ms_to_ns,
    require_nonzero,
    require_positive,
    require_trade_id,
    short,
)
from schemahub_lib.connectors.responses import decode_json, ids_of, malformed, parse_rows
from schemahub_lib.errors import RateLimitedError, TerminalExchangeError, TransientExchangeError
from schemahub_lib.http import HttpClient, HttpResponse, RateLimit

NAME = "bitfinex"
MS = 1_000_000
# Bitfinex asset codes -> canonical names (UST is Tether USDt, UDC is USD Coin).
ASSET_ALIASES = {"UST": "USDT", "UDC": "USDC"}


class BitfinexConnector:
    """Bitfinex `/v2/trades/t<PAIR>/hist`, paged forward by millisecond `start`."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = "https://api-pub.bitfinex.com"
    trades_path: ClassVar[str] = "/v2/trades/{symbol}/hist"
    products_path: ClassVar[str] = "/v2/conf/pub:list:pair:exchange"
    raw_table: ClassVar[str] = "raw_bitfinex_trades"
    id_column: ClassVar[str] = "id"
    symbol_column: ClassVar[str] = "symbol"
    time_column: ClassVar[str] = "mts"
    max_page_limit: ClassVar[int] = 10_000
    # The trades a cursor admits (landing/contiguity.py checks every page against it).
    cursor_bounds: ClassVar[dict[str, str]] = {"start": "time_from_ms"}
    # 15 requests per minute per IP.
    requests_per_second: ClassVar[float] = 15 / 60
    rate_scope: ClassVar[RateScope] = "ip"
    history_s: ClassVar[float | None] = None
    walks_back: ClassVar[bool] = False
    pages_by_time: ClassVar[bool] = True
    trusts_newer: ClassVar[bool] = True
    dense_ids: ClassVar[bool] = False  # ids are global across pairs
    # The built-in seed: markets landed when no seed file says otherwise (UST is USDT).
    default_products: ClassVar[tuple[Product, ...]] = (
        Product(NAME, "BTC-USD", "tBTCUSD", "BTC", "USD"),
        Product(NAME, "ETH-USD", "tETHUSD", "ETH", "USD"),
        Product(NAME, "BTC-USDT", "tBTCUST", "BTC", "USDT"),
    )

    def __init__(self, client: HttpClient, *, page_limit: int | None = None) -> None:
        self.client = client
        self.page_limit = checked_page_limit(NAME, page_limit, self.max_page_limit)

    @classmethod
    def pacing(cls, configured: float | None = None) -> RateLimit:
        """95% of 15 requests/min, no burst: one request past it blocks the IP for 60 s.
        `configured` (requests/s) overrides; <= 0 means unpaced."""
        if configured is not None:
            return RateLimit(configured if 0 < configured < float("inf") else None)
        return RateLimit(cls.requests_per_second * 0.95)

    def fetch_page(self, product: str, cursor: Cursor | None = None) -> Page:
        """One request. `product` is the Bitfinex symbol with its `t` prefix, e.g. tBTCUSD."""
        params: dict[str, str | int] = {"limit": self.page_limit}
        if cursor is None:
            params["sort"] = -1  # the newest trades
        else:
            if cursor.param != "start" or not cursor.value.isdigit():
                raise ValueError(f"bitfinex cursor must be start=<ms>, got {cursor}")
            params["start"] = cursor.value
            params["sort"] = 1
        path = self.trades_path.format(symbol=quote(product, safe=":"))
        return self.client.get(
            path, params, lambda r: parse_page(r, product=product, cursor=cursor, page_limit=self.page_limit)
        )

    def cursor_after(self, trade_id: int, time_ns: int, last_cursor: str | None) -> Cursor:
        """`start=<the watermark's millisecond>`, leaving out ids <= the watermark."""
        return Cursor("start", str(max(time_ns // MS, 0)), seen_through_id=trade_id)

    def older_than(self, trade_id: int) -> Cursor | None:
        raise cannot(NAME, "page below a trade id", "it pages by time (`start`); backfill walks forward")

    def from_time(self, time_ns: int, seen_through_id: int | None = None) -> Cursor:
        """`start=<the first millisecond at or after time_ns>`."""
        return Cursor("start", str(max(-(-time_ns // MS), 0)), seen_through_id=seen_through_id)

    def list_products(self) -> list[Product]:
        return self.client.get(self.products_path, None, parse_pairs)


def parse_row(row: Any, payload: str, symbol: str, now: int) -> RawTrade:
    """One `[ID, MTS, AMOUNT, PRICE]` row and its exact text -> RawTrade."""
    if type(row) is not list:
        raise RecordError("trade row is not a JSON array")
    if len(row) != 4:
        raise RecordError(f"trade row has {len(row)} elements, expected 4 [ID, MTS, AMOUNT, PRICE]")
    raw_id, mts, amount, price = row
    trade_id = require_trade_id(raw_id, "ID", minimum=1)
    time_ns = epoch_ms_to_ns(mts, "MTS", now)
    record = {
        "id": trade_id,
        "symbol": symbol,
        "mts": time_ns // 1000,
        "amount": require_nonzero(amount, "AMOUNT"),
        "price": require_positive(price, "PRICE"),
    }
    return RawTrade(trade_id, time_ns, record, payload)


def _row_id(row: Any) -> object:
    # Only a row with all four fields says which element is the id.
    return row[0] if type(row) is list and len(row) >= 4 else None


def raise_for_error(data: Any, url: str, body: bytes) -> None:
    """Errors in a 2xx body: `["error", code, message]` or `{"error": "ERR_..."}`."""
    if isinstance(data, list) and data[:1] == ["error"]:
        raise TerminalExchangeError(NAME, url, f"error {short(data[1:])}", body=body)
    if isinstance(data, dict):
        if data.get("error") == "ERR_RATE_LIMIT":
            raise RateLimitedError(NAME, url, "rate limited (ERR_RATE_LIMIT)", body=body)
        raise malformed(NAME, url, "expected a JSON array of trade rows", body)


def parse_trades(
    body: bytes, *, symbol: str, url: str, now: int | None = None
) -> tuple[list[RawTrade], list[Reject], int]:
    """A trades body -> (trades ascending by id, rejects, rows on the page)."""
    data = decode_json(NAME, url, body, loads_items)
    raise_for_error(data, url, body)
    trades, rejects = parse_rows(
        NAME, url, body, data, lambda row, text, t: parse_row(row, text, symbol, t), _row_id, now
    )
    return trades, rejects, len(data)


def parse_page(
    response: HttpResponse,
    *,
    product: str,
    cursor: Cursor | None,
    page_limit: int = BitfinexConnector.max_page_limit,
    now: int | None = None,
) -> Page:
    """A trades response -> Page; rows at or below `cursor.seen_through_id` are left out."""
    url, body = response.url, response.body
    trades, rejects, row_count = parse_trades(body, symbol=product, url=url, now=now)
    seen = None if cursor is None else cursor.seen_through_id
    if seen is not None:
        trades = [t for t in trades if t.trade_id > seen]
        rejects = [
            r for r in rejects if not (r.trade_id and r.trade_id.isdigit() and int(r.trade_id) <= seen)
        ]
    newer: Cursor | None = None
    start = int(cursor.value) if cursor is not None else 0
    # The last row's millisecond: rows sharing it beyond this page come next; the seen-id
    # filter drops the ones already delivered.
    last_ms = max([t.time_ns // MS for t in trades], default=start)
    next_seen = max(ids_of(trades, rejects) + ([seen] if seen is not None else []), default=None)
    # Rows without a usable id (rejects) at the cursor's own millisecond do not move it: asking
    # again would repeat this answer forever. Fewer rows than a page: nothing comes after them.
    moves = last_ms > start or (next_seen is not None and (seen is None or next_seen > seen))
    if cursor is not None and (trades or rejects) and moves:
        newer = Cursor("start", str(max(last_ms, start)), seen_through_id=next_seen)
    elif cursor is not None and row_count >= page_limit:
        # Usually the previous page served again (a cache): retried. If it persists, more trades
        # share one millisecond than a page holds: the stream fails rather than skip them.
        raise TransientExchangeError(
            NAME, url, f"a full page of {row_count} rows at start={cursor.value} holds no trade after id "
            f"{seen} (the previous page again, or more trades in one millisecond than a page holds); "
            "cannot page past it without skipping trades", body=body,
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


def split_pair(pair: str) -> tuple[str, str] | None:
    """Bitfinex pair -> (base, quote) codes: BTCUSD -> (BTC, USD), AVAX:USD -> (AVAX, USD)."""
    if ":" in pair:
        base, _, quote_code = pair.partition(":")
        return (base, quote_code) if base and quote_code and ":" not in quote_code else None
    return (pair[:3], pair[3:]) if len(pair) == 6 else None


def asset_name(code: str) -> str:
    return ASSET_ALIASES.get(code, code)


def parse_pairs(response: HttpResponse) -> list[Product]:
    """GET /v2/conf/pub:list:pair:exchange -> `[[pair, ...]]`; exchange_symbol gets the `t`."""
    data = decode_json(NAME, response.url, response.body, loads_exact)
    if not (isinstance(data, list) and len(data) == 1 and isinstance(data[0], list)):
        raise malformed(NAME, response.url, "expected [[pair, ...]]", response.body)
    products = []
    for pair in data[0]:
        if not isinstance(pair, str):
            raise malformed(NAME, response.url, f"pair {short(pair)} is not a string", response.body)
        parts = split_pair(pair)
        if parts is None:
            continue  # neither 3+3 letters nor BASE:QUOTE: no way to tell base from quote
        base, quote_asset = asset_name(parts[0]), asset_name(parts[1])
        products.append(Product(NAME, f"{base}-{quote_asset}", f"t{pair}", base, quote_asset))
    return sorted(products, key=lambda p: (p.symbol, p.exchange_symbol))
