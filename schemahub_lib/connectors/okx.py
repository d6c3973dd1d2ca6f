"""OKX spot public trades: GET /api/v5/market/history-trades.

API: https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-trades-history
Instruments: https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments
Errors: https://www.okx.com/docs-v5/en/#error-code-rest-api

Contract (docs, checked 2026-07 copy): `instId` (e.g. BTC-USDT), `type` (1: page by tradeId,
the default; 2: by timestamp), `after` (records earlier than the tradeId), `before` (records
newer than the tradeId; "the latest data will be returned when using before individually"),
`limit` (max and default 100). Trades of "the last 3 months" only. Rate limit: 20 requests
per 2 seconds per IP. Answers are `{"code": "0", "msg": "", "data": [...]}`, newest first;
`code` other than "0" is an error (50011: rate limited, HTTP 429).

Cursor: trade ids, both exclusive, always with `type=1`. Pages are newest first.
* `after=X` -> trades with tradeId < X (older). Walking back repeats `after=<oldest id>`.
* `before=X` -> trades with tradeId > X (newer), but the docs do not promise the ones just
  above X, so `trusts_newer` is false: landing walks down from the newest trade instead.
  `cursor_after(watermark)` is `before=<id>`.
* No cursor -> the newest trades; `Page.newer` is None then.

Records follow ddl/raw_okx_trades.sql: trade_id (tradeId, a decimal string, as BIGINT), inst_id,
px, sz (base currency for spot), side (the TAKER side, buy/sell), ts (int microseconds UTC, from
epoch milliseconds), source ("0" normal order, "1" Enhanced Liquidity Program; absent in older
answers).
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
    require_choice,
    require_positive,
    require_trade_id,
    short,
)
from schemahub_lib.connectors.responses import (
    decode_json,
    field_of,
    id_cursors,
    ids_of,
    malformed,
    parse_rows,
)
from schemahub_lib.errors import RateLimitedError, TerminalExchangeError, TransientExchangeError
from schemahub_lib.http import HttpClient, HttpResponse, RateLimit

NAME = "okx"
RATE_LIMITED = "50011"
# "Service temporarily unavailable", "Endpoint request timeout", "System is busy".
TRANSIENT_CODES = frozenset({"50001", "50004", "50013"})
DAY_S = 86_400.0


class OkxConnector:
    """OKX spot `/api/v5/market/history-trades`, paged backwards by trade id (`after`)."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = "https://www.okx.com"
    trades_path: ClassVar[str] = "/api/v5/market/history-trades"
    products_path: ClassVar[str] = "/api/v5/public/instruments"
    raw_table: ClassVar[str] = "raw_okx_trades"
    id_column: ClassVar[str] = "trade_id"
    symbol_column: ClassVar[str] = "inst_id"
    time_column: ClassVar[str] = "ts"
    max_page_limit: ClassVar[int] = 100  # default and maximum
    # The ids a cursor admits (landing/contiguity.py checks every page against it).
    cursor_bounds: ClassVar[dict[str, str]] = {"after": "below", "before": "above"}
    # 20 requests per 2 seconds per IP.
    requests_per_second: ClassVar[float] = 10.0
    rate_scope: ClassVar[RateScope] = "ip"
    history_s: ClassVar[float | None] = 90 * DAY_S  # "the last 3 months"
    walks_back: ClassVar[bool] = True
    pages_by_time: ClassVar[bool] = False  # type=2 pages backwards from a time, never forwards
    trusts_newer: ClassVar[bool] = False  # `before` alone serves the latest trades
    dense_ids: ClassVar[bool] = True  # tradeId counts per instrument
    # The built-in seed: markets landed when no seed file says otherwise.
    default_products: ClassVar[tuple[Product, ...]] = (
        Product(NAME, "BTC-USDT", "BTC-USDT", "BTC", "USDT"),
        Product(NAME, "ETH-USDT", "ETH-USDT", "ETH", "USDT"),
        Product(NAME, "SOL-USDT", "SOL-USDT", "SOL", "USDT"),
    )

    def __init__(self, client: HttpClient, *, page_limit: int | None = None) -> None:
        self.client = client
        self.page_limit = checked_page_limit(NAME, page_limit, self.max_page_limit)

    @classmethod
    def pacing(cls, configured: float | None = None) -> RateLimit:
        """95% of 10 requests/s with a burst of 2: the server counts in 2-second windows of 20.
        `configured` (requests/s) overrides; <= 0 means unpaced."""
        if configured is not None:
            return RateLimit(configured if 0 < configured < float("inf") else None, burst=2.0)
        return RateLimit(cls.requests_per_second * 0.95, burst=2.0)

    def fetch_page(self, product: str, cursor: Cursor | None = None) -> Page:
        """One request. `product` is the instrument id, e.g. BTC-USDT."""
        params: dict[str, str | int] = {"instId": product, "type": "1", "limit": self.page_limit}
        if cursor is not None:
            if cursor.param not in ("after", "before") or not cursor.value.isdigit():
                raise ValueError(f"okx cursor must be after=<id> or before=<id>, got {cursor}")
            params[cursor.param] = cursor.value
        return self.client.get(
            self.trades_path, params, lambda r: parse_page(r, product=product, cursor=cursor)
        )

    def cursor_after(self, trade_id: int, time_ns: int, last_cursor: str | None) -> Cursor:
        """`before=<trade_id>`: trades with a larger id, i.e. strictly after the watermark."""
        return Cursor("before", str(trade_id))

    def older_than(self, trade_id: int) -> Cursor | None:
        """`after=<trade_id>`: the trades just below it."""
        return Cursor("after", str(trade_id)) if trade_id > 1 else None

    def from_time(self, time_ns: int, seen_through_id: int | None = None) -> Cursor:
        raise cannot(NAME, "page forward from a time", "it pages by trade id (`after`/`before`)")

    def list_products(self) -> list[Product]:
        return self.client.get(self.products_path, {"instType": "SPOT"}, parse_instruments)


def parse_trade(obj: Any, payload: str, product: str, now: int) -> RawTrade:
    """One trade object and its exact text -> RawTrade; raises RecordError with the reason."""
    if type(obj) is not dict:
        raise RecordError("trade is not a JSON object")
    trade_id = require_trade_id(obj.get("tradeId"), "tradeId", minimum=1)
    inst_id = obj.get("instId")
    if inst_id != product:
        raise RecordError(f"instId {short(inst_id)} is not the instrument asked for ({product})")
    ts = obj.get("ts")
    # `ts` is epoch milliseconds as a decimal string.
    time_ns = epoch_ms_to_ns(int(ts) if type(ts) is str and ts.isascii() and ts.isdigit() else ts, "ts", now)
    source = obj.get("source")
    if source is not None and type(source) is not str:
        raise RecordError(f"source {short(source)} is not a string")
    record = {
        "trade_id": trade_id,
        "inst_id": inst_id,
        "px": require_positive(obj.get("px"), "px"),
        "sz": require_positive(obj.get("sz"), "sz"),
        "side": require_choice(obj.get("side"), "side", ("buy", "sell")),
        "ts": time_ns // 1000,
        "source": source,
    }
    return RawTrade(trade_id, time_ns, record, payload)


def _loads_data(body: bytes) -> Any:
    return loads_items(body, depth=1)


def raise_for_code(data: Any, url: str, body: bytes) -> None:
    """OKX reports errors as `{"code": "<non-zero>", "msg": ...}`, often with HTTP 200."""
    if not isinstance(data, dict):
        raise malformed(NAME, url, "expected a JSON object with 'code' and 'data'", body)
    code = data.get("code")
    if code == "0":
        return
    msg = data.get("msg")
    reason = f"error {short(code)}: {short(msg, 120)}"
    if code == RATE_LIMITED:
        raise RateLimitedError(NAME, url, reason, body=body)
    if code in TRANSIENT_CODES:
        raise TransientExchangeError(NAME, url, reason, body=body)
    if code is None:
        raise malformed(NAME, url, "no 'code' in the answer", body)
    raise TerminalExchangeError(NAME, url, reason, body=body)


def parse_trades(
    body: bytes, *, product: str, url: str, now: int | None = None
) -> tuple[list[RawTrade], list[Reject]]:
    """A history-trades body -> (trades ascending by id, rejects)."""
    data = decode_json(NAME, url, body, _loads_data)
    raise_for_code(data, url, body)
    return parse_rows(
        NAME,
        url,
        body,
        data.get("data"),
        lambda obj, text, t: parse_trade(obj, text, product, t),
        field_of("tradeId"),
        now,
    )


def parse_page(
    response: HttpResponse, *, product: str, cursor: Cursor | None, now: int | None = None
) -> Page:
    """A history-trades response -> Page with `older`/`newer` cursors (module docstring)."""
    trades, rejects = parse_trades(response.body, product=product, url=response.url, now=now)
    ids = ids_of(trades, rejects)
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


def parse_instruments(response: HttpResponse) -> list[Product]:
    """GET /api/v5/public/instruments?instType=SPOT -> live spot instruments."""
    data = decode_json(NAME, response.url, response.body, loads_exact)
    raise_for_code(data, response.url, response.body)
    items = data.get("data")
    if not isinstance(items, list):
        raise malformed(NAME, response.url, "expected a 'data' array of instruments", response.body)
    products = []
    for item in items:
        if not isinstance(item, dict):
            raise malformed(NAME, response.url, "an instrument is not a JSON object", response.body)
        if item.get("instType", "SPOT") != "SPOT" or item.get("state", "live") != "live":
            continue  # `state` is live, suspend, preopen or test
        inst, base, quote = item.get("instId"), item.get("baseCcy"), item.get("quoteCcy")
        if not (isinstance(inst, str) and isinstance(base, str) and isinstance(quote, str)):
            raise malformed(
                NAME,
                response.url,
                f"instrument without instId/baseCcy/quoteCcy: {short(inst)}",
                response.body,
            )
        products.append(Product(NAME, f"{base}-{quote}", inst, base, quote))
    return sorted(products, key=lambda p: p.symbol)
