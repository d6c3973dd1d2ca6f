"""Binance Spot public trades: GET /api/v3/trades and /api/v3/historicalTrades.

API: https://developers.binance.com/docs/binance-spot-api-docs/rest-api
(market data endpoints; limits and the 418 ban under "LIMITS").

Cursor: `fromId`, a trade id, inclusive, ascending (`historicalTrades`).
* `fromId=F` -> trades with id >= F, oldest first. `cursor_after(watermark)` is `fromId=<id+1>`;
  the next newer page is `fromId=<max id + 1>`.
* Older history: there is no "before" parameter, so the older cursor is
  `fromId=<min id - page_limit>` (ids are dense per symbol); None once id 0 is reached.
* No cursor -> GET /api/v3/trades, the most recent trades; `Page.newer` is None then.

Pacing is by request weight (6000 per minute per IP; trades and historicalTrades weigh 25,
exchangeInfo 20) and re-synced from the `X-MBX-USED-WEIGHT-1M` header on every response.
429/418 carry Retry-After; a 418 is a ban recorded in the client's BanStore (see http.py).

Records follow ddl/raw_binance_trades.sql: id, symbol, price, qty, quote_qty, time (int
microseconds UTC, from epoch milliseconds), is_buyer_maker (true: the taker sold), is_best_match.
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
from schemahub_lib.connectors.exactjson import loads_exact, loads_items
from schemahub_lib.connectors.records import (
    RecordError,
    epoch_ms_to_ns,
    require_bool,
    require_positive,
    require_trade_id,
)
from schemahub_lib.connectors.responses import decode_json, field_of, ids_of, malformed, parse_rows
from schemahub_lib.errors import TerminalExchangeError
from schemahub_lib.http import HttpClient, HttpResponse, RateLimit

NAME = "binance"


class BinanceConnector:
    """Binance Spot trades, paged forward by `fromId`, paced by request weight."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = "https://api.binance.com"
    recent_path: ClassVar[str] = "/api/v3/trades"
    history_path: ClassVar[str] = "/api/v3/historicalTrades"
    products_path: ClassVar[str] = "/api/v3/exchangeInfo"
    raw_table: ClassVar[str] = "raw_binance_trades"
    id_column: ClassVar[str] = "id"
    symbol_column: ClassVar[str] = "symbol"
    time_column: ClassVar[str] = "time"
    max_page_limit: ClassVar[int] = 1000  # default 500, max 1000
    # The ids a cursor admits (landing/contiguity.py checks every page against it).
    cursor_bounds: ClassVar[dict[str, str]] = {"fromId": "from"}
    # REQUEST_WEIGHT 6000/min since 2023-08-25 (was 1200); weights per the endpoint docs.
    weight_per_minute: ClassVar[int] = 6000
    weights: ClassVar[dict[str, int]] = {recent_path: 25, history_path: 25, products_path: 20}
    weight_header: ClassVar[str] = "X-MBX-USED-WEIGHT-1M"
    # In trade requests: 6000 weight/min / 60 s / 25 weight = 4 requests/s.
    requests_per_second: ClassVar[float] = weight_per_minute / 60 / 25
    rate_scope: ClassVar[RateScope] = "ip"
    history_s: ClassVar[float | None] = None
    walks_back: ClassVar[bool] = True  # fromId below the lowest id (ids are dense)
    pages_by_time: ClassVar[bool] = False  # historicalTrades takes no time (aggTrades would)
    trusts_newer: ClassVar[bool] = True
    dense_ids: ClassVar[bool] = True
    # The built-in seed: markets landed when no seed file says otherwise.
    default_products: ClassVar[tuple[Product, ...]] = (
        Product(NAME, "BTC-USDT", "BTCUSDT", "BTC", "USDT"),
        Product(NAME, "ETH-USDT", "ETHUSDT", "ETH", "USDT"),
        Product(NAME, "SOL-USDT", "SOLUSDT", "SOL", "USDT"),
    )

    def __init__(self, client: HttpClient, *, page_limit: int | None = None) -> None:
        self.client = client
        self.page_limit = checked_page_limit(NAME, page_limit, self.max_page_limit)

    @classmethod
    def pacing(cls, configured: float | None = None) -> RateLimit:
        """Pace request weight at 95% of the limit. `configured` is in trade requests/s
        (x25 weight); <= 0 means unpaced. A burst of 250 weight keeps any 60 s window under
        6000 even when the server counts in fixed minutes."""
        per_second: float | None = cls.requests_per_second * 0.95 * 25
        if configured is not None:
            per_second = configured * 25 if 0 < configured < float("inf") else None
        if per_second is None:
            return RateLimit(None)
        return RateLimit(
            per_second, burst=250.0, used_header=cls.weight_header, window_limit=cls.weight_per_minute
        )

    def fetch_page(self, product: str, cursor: Cursor | None = None) -> Page:
        """One request. `product` is the Binance symbol, e.g. BTCUSDT."""
        params: dict[str, str | int] = {"symbol": product, "limit": self.page_limit}
        path = self.recent_path
        if cursor is not None:
            if cursor.param != "fromId" or not cursor.value.isdigit():
                raise ValueError(f"binance cursor must be fromId=<id>, got {cursor}")
            path = self.history_path
            params["fromId"] = cursor.value
        return self.client.get(
            path,
            params,
            lambda r: parse_page(r, product=product, cursor=cursor, page_limit=self.page_limit),
            cost=self.weights[path],
        )

    def cursor_after(self, trade_id: int, time_ns: int, last_cursor: str | None) -> Cursor:
        """`fromId=<trade_id + 1>`: fromId is inclusive."""
        return Cursor("fromId", str(trade_id + 1))

    def older_than(self, trade_id: int) -> Cursor | None:
        """`fromId=<trade_id - page_limit>`: the page that ends just below `trade_id`."""
        return older_cursor(trade_id, self.page_limit, None)

    def from_time(self, time_ns: int, seen_through_id: int | None = None) -> Cursor:
        raise cannot(NAME, "page from a time", "historicalTrades pages by trade id (`fromId`)")

    def list_products(self) -> list[Product]:
        return self.client.get(
            self.products_path, None, parse_products, cost=self.weights[self.products_path]
        )


def parse_trade(obj: Any, payload: str, symbol: str, now: int) -> RawTrade:
    """One trade object and its exact text -> RawTrade; raises RecordError with the reason."""
    if type(obj) is not dict:
        raise RecordError("trade is not a JSON object")
    trade_id = require_trade_id(obj.get("id"), "id")
    time_ns = epoch_ms_to_ns(obj.get("time"), "time", now)
    quote_qty = obj.get("quoteQty")
    best = obj.get("isBestMatch")
    record = {
        "id": trade_id,
        "symbol": symbol,
        "price": require_positive(obj.get("price"), "price"),
        "qty": require_positive(obj.get("qty"), "qty"),
        "quote_qty": None if quote_qty is None else require_positive(quote_qty, "quoteQty"),
        "time": time_ns // 1000,
        "is_buyer_maker": require_bool(obj.get("isBuyerMaker"), "isBuyerMaker"),
        "is_best_match": None if best is None else require_bool(best, "isBestMatch"),
    }
    return RawTrade(trade_id, time_ns, record, payload)


def parse_trades(
    body: bytes, *, symbol: str, url: str, now: int | None = None
) -> tuple[list[RawTrade], list[Reject]]:
    """A trades/historicalTrades body -> (trades ascending by id, rejects)."""
    data = decode_json(NAME, url, body, loads_items)
    if isinstance(data, dict) and "code" in data and "msg" in data:
        # Binance errors are {code, msg}; on a 2xx this is not a page and a retry will not fix it.
        raise TerminalExchangeError(NAME, url, f"error {data['code']}: {data['msg']}", body=body)
    return parse_rows(
        NAME, url, body, data, lambda obj, text, t: parse_trade(obj, text, symbol, t), field_of("id"), now
    )


def older_cursor(min_id: int, page_limit: int, cursor: Cursor | None) -> Cursor | None:
    """fromId for the page just below `min_id`; None when no id below it can exist."""
    start = max(0, min_id - page_limit)
    if min_id <= 0 or (cursor is not None and start >= int(cursor.value)):
        return None
    return Cursor("fromId", str(start))


def parse_page(
    response: HttpResponse,
    *,
    product: str,
    cursor: Cursor | None,
    page_limit: int = BinanceConnector.max_page_limit,
    now: int | None = None,
) -> Page:
    """A trades response -> Page with `older`/`newer` cursors (see the module docstring)."""
    trades, rejects = parse_trades(response.body, symbol=product, url=response.url, now=now)
    ids = ids_of(trades, rejects)
    older: Cursor | None
    newer: Cursor | None
    if ids:
        older = older_cursor(min(ids), page_limit, cursor)
        newer = None if cursor is None else Cursor("fromId", str(max(ids) + 1))
    elif cursor is None:
        older = newer = None
    else:
        # Nothing at or after fromId yet: the newest trade is below it.
        older, newer = older_cursor(int(cursor.value), page_limit, None), None
    return Page(
        exchange=NAME,
        product=product,
        url=response.url,
        trades=tuple(trades),
        older=older,
        newer=newer,
        rejects=tuple(rejects),
        headers=dict(response.headers),
    )


def parse_products(response: HttpResponse) -> list[Product]:
    """GET /api/v3/exchangeInfo -> symbols with status TRADING, split by baseAsset/quoteAsset."""
    data = decode_json(NAME, response.url, response.body, loads_exact)
    symbols = data.get("symbols") if isinstance(data, dict) else None
    if not isinstance(symbols, list):
        raise malformed(NAME, response.url, "expected an object with a 'symbols' array", response.body)
    products = []
    for item in symbols:
        if not isinstance(item, dict):
            raise malformed(NAME, response.url, "a symbol is not a JSON object", response.body)
        if item.get("status") != "TRADING":
            continue  # delisted symbols stay listed with status BREAK
        symbol, base, quote = item.get("symbol"), item.get("baseAsset"), item.get("quoteAsset")
        if not (isinstance(symbol, str) and isinstance(base, str) and isinstance(quote, str)):
            raise malformed(
                NAME,
                response.url,
                f"symbol without symbol/baseAsset/quoteAsset: {item.get('symbol')!r}",
                response.body,
            )
        # BTCUSDT has no separator; only baseAsset/quoteAsset split it reliably.
        products.append(Product(NAME, f"{base}-{quote}", symbol, base, quote))
    return sorted(products, key=lambda p: p.symbol)
