"""OKX public REST: /api/v5/market/history-trades, /api/v5/market/trades, /api/v5/public/instruments.

https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-trades-history
Every answer is `{"code": "0", "msg": "", "data": [...]}`; errors carry another `code`
(50011 with HTTP 429 when throttled, 51001 for an unknown instrument, 51000 for a bad
parameter). Trades come newest first. history-trades pages by tradeId (`type=1`, the
default) or by timestamp (`type=2`, `after` only); `after` is exclusive and older, `before`
is exclusive and newer, and `before` alone returns the latest trades above it, not the ones
just above it (so a client cannot trust it to continue a walk upwards).
"""

from __future__ import annotations

import re

from schemahub_lib.sim.blocks import Block
from schemahub_lib.sim.catalog import ProductSpec, price_texts, products_of, size_texts
from schemahub_lib.sim.market import TradeStream
from schemahub_lib.sim.pages import PageEdits, page_body
from schemahub_lib.sim.scenario import Scenario
from schemahub_lib.sim.wire import JSON_UTF8, Request, Response, json_response, parse_int

PAGE_MAX = 100
TRADES_MAX = 500  # /market/trades: the latest up to 500
ENDPOINTS = {
    "/api/v5/market/history-trades": "history-trades",
    "/api/v5/market/trades": "trades",
    "/api/v5/public/instruments": "instruments",
}
MS = 1_000_000


def okx_error(status: int, code: str, msg: str) -> Response:
    return json_response(status, {"code": code, "msg": msg, "data": []})


class OkxRenderer:
    """Trade objects in the documented key order, newest first; decimals without padding."""

    venue = "okx"
    descending = True

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec

    def fragments(self, block: Block) -> list[str]:
        prices = price_texts(self.spec, block.price_ticks)
        sizes = size_texts(self.spec, block.size_steps)
        sides = ["buy" if b else "sell" for b in block.taker_buy.tolist()]  # the taker side
        times = (block.time_ns // MS).tolist()
        inst = self.spec.symbol
        return [
            f'{{"instId":"{inst}","side":"{s}","sz":"{z}","source":"0","px":"{p}","tradeId":"{i}","ts":"{t}"}}'
            for i, s, z, p, t in zip(block.ids.tolist(), sides, sizes, prices, times, strict=True)
        ]

    def corrupt(self, block: Block, i: int, variant: str) -> str:
        one = block.one(i)
        text = self.fragments(one)[0]
        price = f'"px":"{price_texts(self.spec, one.price_ticks)[0]}"'
        if variant == "price_text":
            return text.replace(price, '"px":"abc"')
        if variant == "price_zero":
            return text.replace(price, '"px":"0"')
        if variant == "price_negative":
            return text.replace(price, price.replace('"px":"', '"px":"-'))
        if variant == "missing_id":
            return text.replace(f',"tradeId":"{block.ids[i]}"', "")
        if variant == "missing_field":
            return re.sub(r'"sz":"[^"]*",', "", text, count=1)
        # time_unit: seconds where milliseconds belong
        return text.replace(f'"ts":"{int(one.time_ns[0]) // MS}"', f'"ts":"{int(one.time_ns[0]) // 10**9}"')


def instrument_json(spec: ProductSpec) -> dict[str, object]:
    """Keys and value shapes of the recorded instruments answer (tests/fixtures/exchanges/okx)."""
    return {
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": spec.base,
        "category": "1",
        "ctMult": "",
        "ctType": "",
        "ctVal": "",
        "ctValCcy": "",
        "expTime": "",
        "instFamily": "",
        "instId": spec.symbol,
        "instType": "SPOT",
        "lever": "10",
        "listTime": "1548133413000",
        "lotSz": f"{10.0**-spec.size_decimals:.{spec.size_decimals}f}",
        "maxIcebergSz": "9999999999.0000000000000000",
        "maxLmtAmt": "20000000",
        "maxLmtSz": "9999999999",
        "maxMktAmt": "1000000",
        "maxMktSz": "1000000",
        "maxStopSz": "1000000",
        "maxTriggerSz": "9999999999.0000000000000000",
        "maxTwapSz": "9999999999.0000000000000000",
        "minSz": "0.00001",
        "optType": "",
        "quoteCcy": spec.quote,
        "ruleType": "normal",
        "settleCcy": "",
        "state": spec.status,
        "stk": "",
        "tickSz": f"{10.0**-spec.price_decimals:.{spec.price_decimals}f}",
        "uly": "",
    }


class OkxVenue:
    """Request handlers for the OKX public paths."""

    name = "okx"

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.renderers = {p.symbol: OkxRenderer(p) for p in products_of("okx")}

    def endpoint(self, path: str) -> str | None:
        return ENDPOINTS.get(path.rstrip("/"))

    def product_name(self, request: Request) -> str | None:
        return request.query.get("instId")

    def handle(self, request: Request, endpoint: str, edits: PageEdits | None) -> Response:
        if endpoint == "instruments":
            kind = request.query.get("instType")
            if kind is None:
                return okx_error(400, "50014", "Parameter instType can not be empty.")
            specs = products_of("okx") if kind == "SPOT" else ()
            return json_response(200, {"code": "0", "msg": "", "data": [instrument_json(s) for s in specs]})
        inst = request.query.get("instId")
        if not inst:
            return okx_error(400, "50014", "Parameter instId can not be empty.")
        spec = self.scenario.product("okx", inst)
        if spec is None:
            return okx_error(200, "51001", "Instrument ID does not exist")
        stream = self.scenario.streams[("okx", spec.symbol)]
        if endpoint == "trades":
            return self._latest(request, stream, edits)
        return self._history(request, stream, edits)

    def _latest(self, request: Request, stream: TradeStream, edits: PageEdits | None) -> Response:
        limit = parse_int(request.query.get("limit", "100"))
        if limit is None or not 1 <= limit <= TRADES_MAX:
            return okx_error(400, "51000", "Parameter limit error")
        end = stream.end_seq(self.scenario.now_ns())
        return self._page(stream, max(end - limit, 0), end, edits)

    def _history(self, request: Request, stream: TradeStream, edits: PageEdits | None) -> Response:
        q = request.query
        limit = parse_int(q.get("limit", str(PAGE_MAX)))
        if limit is None or not 1 <= limit <= PAGE_MAX:
            return okx_error(400, "51000", "Parameter limit error")
        kind = q.get("type", "1")
        if kind not in ("1", "2"):
            return okx_error(400, "51000", "Parameter type error")
        after, before = q.get("after"), q.get("before")
        now = self.scenario.now_ns()
        end = stream.end_seq(now)
        last_block = stream.block_of_time(now)
        shift = edits.shift if edits else 0
        hi, lo_floor = end, 0
        if after is not None:
            value = parse_int(after)
            if value is None or value < 0:
                return okx_error(400, "51000", "Parameter after error")
            if kind == "1":  # ids < after
                hi = min(stream.seq_at_id(value, last_block) + shift, end)
            else:  # ts < after (milliseconds)
                hi = min(stream.seq_at_time(value * MS, inclusive=True) + shift, end)
        if before is not None:
            value = parse_int(before)
            if value is None or value < 0 or kind == "2":
                return okx_error(400, "51000", "Parameter before error")
            lo_floor = min(stream.seq_at_id(value + 1, last_block), end)
        # Newest first: the `limit` newest trades inside the bounds, also for `before` alone.
        lo = max(hi - limit, lo_floor)
        return self._page(stream, lo, max(hi, lo), edits)

    def _page(self, stream: TradeStream, lo: int, hi: int, edits: PageEdits | None) -> Response:
        page = page_body(stream.pieces(lo, hi), self.renderers[stream.spec.symbol], edits)
        body = b'{"code":"0","msg":"","data":[' + page.text + b"]}"
        return Response(200, body, JSON_UTF8)

    def throttled(self, retry_after: float | None) -> Response:
        # The recorded 429 body (nautilus_trader test data): msg before code, no data.
        return Response(429, b'{"msg":"Too Many Requests","code":"50011"}', JSON_UTF8)

    def banned(self, retry_after: float | None) -> Response:
        return self.throttled(retry_after)

    def server_error(self, status: int | None) -> Response:
        return okx_error(status or 503, "50001", "Service temporarily unavailable. Please try again later.")
