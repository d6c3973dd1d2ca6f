"""Coinbase Exchange public trades: GET /products/{product_id}/trades.

API: https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproducttrades
Pagination: https://docs.cdp.coinbase.com/exchange/rest-api/pagination

Cursor: trade ids, both exclusive. Pages are newest first.
* `after=X` -> trades with trade_id < X (older). Walking back in time repeats `after=<oldest id>`
  (the `CB-AFTER` header holds the same value).
* `before=X` -> trades with trade_id > X (newer). `cursor_after(watermark)` is `before=<id>`.
  The docs do not say whether `before` returns the trades just above X or the newest ones; a
  page whose oldest id is not X+1 means a gap landing should fill by walking `after` down.
* No cursor -> the newest trades; `Page.newer` is None then.

Records follow ddl/raw_coinbase_trades.sql: trade_id, product_id, price, size, time (int
microseconds UTC), side (the MAKER side exactly as sent; unify inverts it).
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
    require_choice,
    require_positive,
    require_trade_id,
    rfc3339_to_ns,
)
from schemahub_lib.connectors.responses import (
    decode_json,
    field_of,
    id_cursors,
    ids_of,
    malformed,
    parse_rows,
)
from schemahub_lib.http import HttpClient, HttpResponse, RateLimit

NAME = "coinbase"


class CoinbaseConnector:
    """Coinbase Exchange `/products/{id}/trades`, paged by trade id (`after`/`before`)."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = "https://api.exchange.coinbase.com"
    trades_path: ClassVar[str] = "/products/{product}/trades"
    products_path: ClassVar[str] = "/products"
    raw_table: ClassVar[str] = "raw_coinbase_trades"
    id_column: ClassVar[str] = "trade_id"
    symbol_column: ClassVar[str] = "product_id"
    time_column: ClassVar[str] = "time"
    # Docs: default and max 1000. Pages of 100 (the pre-2022 maximum) must work too.
    max_page_limit: ClassVar[int] = 1000
    # The ids a cursor admits (landing/contiguity.py checks every page against it).
    cursor_bounds: ClassVar[dict[str, str]] = {"after": "below", "before": "above"}
    # Public endpoints: 10 requests/s per IP, bursts to 15 (lazy-filled token bucket).
    requests_per_second: ClassVar[float] = 10.0
    burst: ClassVar[float] = 15.0
    rate_scope: ClassVar[RateScope] = "ip"
    history_s: ClassVar[float | None] = None
    walks_back: ClassVar[bool] = True
    pages_by_time: ClassVar[bool] = False
    trusts_newer: ClassVar[bool] = False  # `before` may serve the newest trades (module doc)
    dense_ids: ClassVar[bool] = True
    # The built-in seed: markets landed when no seed file says otherwise.
    default_products: ClassVar[tuple[Product, ...]] = (
        Product(NAME, "BTC-USD", "BTC-USD", "BTC", "USD"),
        Product(NAME, "ETH-USD", "ETH-USD", "ETH", "USD"),
        Product(NAME, "SOL-USD", "SOL-USD", "SOL", "USD"),
    )

    def __init__(self, client: HttpClient, *, page_limit: int | None = None) -> None:
        self.client = client
        self.page_limit = checked_page_limit(NAME, page_limit, self.max_page_limit)

    @classmethod
    def pacing(cls, configured: float | None = None) -> RateLimit:
        """Pace slightly under the documented limit; a small client burst leaves the server's
        burst for network jitter. `configured` (requests/s) overrides; <= 0 means unpaced."""
        if configured is not None:
            return RateLimit(configured if 0 < configured < float("inf") else None, burst=cls.burst / 3)
        return RateLimit(cls.requests_per_second * 0.95, burst=cls.burst / 3)

    def fetch_page(self, product: str, cursor: Cursor | None = None) -> Page:
        """One request. `product` is the Coinbase product id, e.g. BTC-USD."""
        params: dict[str, str | int] = {"limit": self.page_limit}
        if cursor is not None:
            if cursor.param not in ("after", "before") or not cursor.value.isdigit():
                raise ValueError(f"coinbase cursor must be after=<id> or before=<id>, got {cursor}")
            params[cursor.param] = cursor.value
        path = self.trades_path.format(product=quote(product, safe=""))
        return self.client.get(path, params, lambda r: parse_page(r, product=product, cursor=cursor))

    def cursor_after(self, trade_id: int, time_ns: int, last_cursor: str | None) -> Cursor:
        """`before=<trade_id>`: trades with a larger id, i.e. strictly after the watermark."""
        return Cursor("before", str(trade_id))

    def older_than(self, trade_id: int) -> Cursor | None:
        """`after=<trade_id>`: the trades just below it; ids start at 1."""
        return Cursor("after", str(trade_id)) if trade_id > 1 else None

    def from_time(self, time_ns: int, seen_through_id: int | None = None) -> Cursor:
        raise cannot(NAME, "page from a time", "its cursors are trade ids (`after`/`before`)")

    def list_products(self) -> list[Product]:
        return self.client.get(self.products_path, None, parse_products)


def parse_trade(obj: Any, payload: str, product: str, now: int) -> RawTrade:
    """One trade object and its exact text -> RawTrade; raises RecordError with the reason."""
    if type(obj) is not dict:
        raise RecordError("trade is not a JSON object")
    trade_id = require_trade_id(obj.get("trade_id"), "trade_id", minimum=1)
    time_ns = rfc3339_to_ns(obj.get("time"), "time", now)
    record = {
        "trade_id": trade_id,
        "product_id": product,
        "price": require_positive(obj.get("price"), "price"),
        "size": require_positive(obj.get("size"), "size"),
        "time": time_ns // 1000,
        "side": require_choice(obj.get("side"), "side", ("buy", "sell")),
    }
    return RawTrade(trade_id, time_ns, record, payload)


def parse_trades(
    body: bytes, *, product: str, url: str, now: int | None = None
) -> tuple[list[RawTrade], list[Reject]]:
    """A trades body -> (trades ascending by id, rejects). Raises MalformedPageError."""
    rows = decode_json(NAME, url, body, loads_items)
    return parse_rows(
        NAME,
        url,
        body,
        rows,
        lambda obj, text, t: parse_trade(obj, text, product, t),
        field_of("trade_id"),
        now,
    )


def parse_page(
    response: HttpResponse, *, product: str, cursor: Cursor | None, now: int | None = None
) -> Page:
    """A trades response -> Page with `older`/`newer` cursors (see the module docstring)."""
    trades, rejects = parse_trades(response.body, product=product, url=response.url, now=now)
    ids = ids_of(trades, rejects)
    if not ids:
        # Every row lost its id: fall back to the documented headers (oldest/newest id of page).
        headers = (response.headers.get("CB-AFTER", ""), response.headers.get("CB-BEFORE", ""))
        ids = [int(h) for h in headers if h.isdigit()]
    older, newer = id_cursors(ids, cursor)
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
    """GET /products -> tradable products (status online, trading not disabled)."""
    data = decode_json(NAME, response.url, response.body, loads_exact)
    if not isinstance(data, list):
        raise malformed(NAME, response.url, "expected a JSON array of products", response.body)
    products = []
    for item in data:
        if not isinstance(item, dict):
            raise malformed(NAME, response.url, "a product is not a JSON object", response.body)
        # Fields come and go across API versions (status, trading_disabled): absent means usable.
        if item.get("status", "online") != "online" or item.get("trading_disabled") is True:
            continue
        pid, base_ccy, quote_ccy = item.get("id"), item.get("base_currency"), item.get("quote_currency")
        if not (isinstance(pid, str) and isinstance(base_ccy, str) and isinstance(quote_ccy, str)):
            raise malformed(
                NAME, response.url, f"product without id/base_currency/quote_currency: {item}", response.body
            )
        base, quote_asset = base_ccy.upper(), quote_ccy.upper()
        products.append(Product(NAME, f"{base}-{quote_asset}", pid, base, quote_asset))
    return sorted(products, key=lambda p: p.symbol)
