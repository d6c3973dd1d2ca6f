"""Bitfinex public REST v2: /v2/trades/{symbol}/hist and /v2/conf/pub:list:pair:exchange.

https://docs.bitfinex.com/reference/rest-public-trades
Rows are `[ID, MTS, AMOUNT, PRICE]` as JSON numbers (AMOUNT negative when the taker sold).
`start`/`end` are inclusive epoch milliseconds, `limit` 1..10000 (default 125), `sort` 1
oldest first or -1 newest first (the default). One taker order fills several makers in the
same millisecond, so time paging meets many trades sharing one `start`. Errors are
`["error", code, "message"]` (HTTP 500); throttling is HTTP 429 `{"error":"ERR_RATE_LIMIT"}`.

Symbols are `t` + pair (tBTCUSD; tTESTBTC:TESTUSD for parts not three letters long), and
USDT is UST. Ids in the simulator count up per pair (the real ones are global across pairs:
`--id-gap-rate bitfinex=P` leaves gaps as the real ones have).
"""

from __future__ import annotations

import json

from schemahub_lib.sim.blocks import Block
from schemahub_lib.sim.catalog import ProductSpec, price_texts, products_of, size_texts
from schemahub_lib.sim.market import TradeStream
from schemahub_lib.sim.pages import PageEdits, page_body
from schemahub_lib.sim.scenario import Scenario
from schemahub_lib.sim.wire import JSON_UTF8, Request, Response, json_response, parse_int

PAGE_MAX = 10_000
DEFAULT_LIMIT = 125
MS = 1_000_000
TRADES_PREFIX, TRADES_SUFFIX = "/v2/trades/", "/hist"
PAIRS_PATH = "/v2/conf/pub:list:pair:exchange"


def bitfinex_error(code: int, message: str, status: int = 500) -> Response:
    return Response(status, json.dumps(["error", code, message]).encode(), JSON_UTF8)


class BitfinexRenderer:
    """`[ID, MTS, AMOUNT, PRICE]` rows, oldest first (the handler reverses for sort=-1)."""

    venue = "bitfinex"
    descending = False

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec

    def fragments(self, block: Block) -> list[str]:
        prices = price_texts(self.spec, block.price_ticks)
        sizes = size_texts(self.spec, block.size_steps)
        signs = ["" if b else "-" for b in block.taker_buy.tolist()]  # negative: the taker sold
        times = (block.time_ns // MS).tolist()
        return [
            f"[{i},{t},{s}{z},{p}]"
            for i, t, s, z, p in zip(block.ids.tolist(), times, signs, sizes, prices, strict=True)
        ]

    def corrupt(self, block: Block, i: int, variant: str) -> str:
        one = block.one(i)
        trade_id, ms = int(one.ids[0]), int(one.time_ns[0]) // MS
        sign = "" if bool(one.taker_buy[0]) else "-"
        size, price = size_texts(self.spec, one.size_steps)[0], price_texts(self.spec, one.price_ticks)[0]
        if variant == "price_text":
            price = '"abc"'
        elif variant == "price_zero":
            price = "0"
        elif variant == "price_negative":
            price = "-" + price
        elif variant == "missing_id":
            return f"[{ms},{sign}{size},{price}]"
        elif variant == "missing_field":
            return f"[{trade_id},{ms},{price}]"  # AMOUNT gone
        else:  # time_unit: seconds where milliseconds belong
            ms //= 1000
        return f"[{trade_id},{ms},{sign}{size},{price}]"


class BitfinexVenue:
    """Request handlers for the Bitfinex public v2 paths."""

    name = "bitfinex"

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.renderers = {p.symbol: BitfinexRenderer(p) for p in products_of("bitfinex")}

    def endpoint(self, path: str) -> str | None:
        if path.rstrip("/") == PAIRS_PATH:
            return "pairs"
        if path.startswith(TRADES_PREFIX) and path.endswith(TRADES_SUFFIX):
            return "trades"
        return None

    def product_name(self, request: Request) -> str | None:
        if not request.path.startswith(TRADES_PREFIX):
            return None
        return request.path[len(TRADES_PREFIX) : -len(TRADES_SUFFIX)] or None

    def handle(self, request: Request, endpoint: str, edits: PageEdits | None) -> Response:
        if endpoint == "pairs":
            pairs = [p.symbol[1:] for p in products_of("bitfinex")]
            return json_response(200, [pairs])
        symbol = self.product_name(request) or ""
        spec = self.scenario.product("bitfinex", symbol) if symbol.startswith("t") else None
        if spec is None:
            # Undocumented for this endpoint; a 4xx so clients treat it as final.
            return bitfinex_error(10020, "symbol: invalid", 400)
        return self._trades(request, self.scenario.streams[("bitfinex", spec.symbol)], edits)

    def _trades(self, request: Request, stream: TradeStream, edits: PageEdits | None) -> Response:
        q = request.query
        limit = parse_int(q.get("limit", str(DEFAULT_LIMIT)))
        if limit is None or not 1 <= limit <= PAGE_MAX:
            return bitfinex_error(10020, "limit: invalid")
        sort = q.get("sort", "-1")
        if sort not in ("1", "-1"):
            return bitfinex_error(10020, "sort: invalid")
        start, end = parse_int(q.get("start")), parse_int(q.get("end"))
        if (q.get("start") is not None and start is None) or (q.get("end") is not None and end is None):
            return bitfinex_error(10020, "time_interval: invalid")
        now = self.scenario.now_ns()
        lo, hi = 0, stream.end_seq(now)
        if start is not None:
            lo = min(stream.seq_at_time(start * MS, inclusive=True), hi)  # MTS >= start
        if end is not None:
            hi = min(stream.seq_at_time((end + 1) * MS, inclusive=True), hi)  # MTS <= end
        shift = edits.shift if edits else 0
        if sort == "1":
            lo = max(lo - shift, 0)
            a, b = lo, min(lo + limit, max(hi, lo))
        else:
            hi = min(hi + shift, stream.end_seq(now))
            a, b = max(hi - limit, lo), hi
        page = page_body(stream.pieces(a, max(a, b)), self.renderers[stream.spec.symbol], edits)
        text = page.text
        if sort == "-1" and text:
            text = b"],[".join(reversed(text[1:-1].split(b"],["))).join((b"[", b"]"))
        return Response(200, b"[" + text + b"]", JSON_UTF8)

    def throttled(self, retry_after: float | None) -> Response:
        return json_response(429, {"error": "ERR_RATE_LIMIT"})

    def banned(self, retry_after: float | None) -> Response:
        return self.throttled(retry_after)

    def server_error(self, status: int | None) -> Response:
        return bitfinex_error(20060, "maintenance", status or 500)
