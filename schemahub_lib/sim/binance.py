"""Binance Spot public REST: /api/v3/trades, historicalTrades, aggTrades, exchangeInfo, ping, time.

https://developers.binance.com/docs/binance-spot-api-docs/rest-api
"""

from __future__ import annotations

import json
import re
import time

import numpy as np

from schemahub_lib.sim.blocks import Block
from schemahub_lib.sim.catalog import ProductSpec, products_of
from schemahub_lib.sim.market import TradeStream
from schemahub_lib.sim.pages import PageEdits, fixed_point, page_body
from schemahub_lib.sim.ratelimit import Limits, retry_after_text
from schemahub_lib.sim.scenario import Scenario
from schemahub_lib.sim.wire import JSON_UTF8, Request, Response, json_response, parse_int

WEIGHTS = {"trades": 25, "historicalTrades": 25, "aggTrades": 4, "exchangeInfo": 20, "ping": 1, "time": 1}
DEFAULT_LIMIT, PAGE_MAX = 500, 1000
AGG_ID_OFFSET = 150_000_000  # aggregate ids run below trade ids, as on the real venue
INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
_ILLEGAL = "Illegal characters found in parameter '{}'; legal range is '{}'."


def _error(code: int, msg: str, status: int = 400) -> Response:
    return json_response(status, {"code": code, "msg": msg})


def _decimal8(ticks: np.ndarray, steps: np.ndarray, spec: ProductSpec) -> list[str]:
    """quoteQty = price * qty, exact, as an 8-decimal string."""
    decimals = spec.price_decimals + spec.size_decimals
    return fixed_point(ticks * steps * 10 ** (8 - decimals), 8, 8)


class BinanceRenderer:
    """`trades`/`historicalTrades` objects, oldest first."""

    venue = "binance"
    descending = False

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec

    def fragments(self, block: Block, time_unit_ns: int = 1_000_000) -> list[str]:
        prices = fixed_point(block.price_ticks, self.spec.price_decimals, 8)
        qtys = fixed_point(block.size_steps, self.spec.size_decimals, 8)
        quotes = _decimal8(block.price_ticks, block.size_steps, self.spec)
        # isBuyerMaker=true means the buyer rested on the book: the taker sold.
        makers = ["false" if b else "true" for b in block.taker_buy.tolist()]
        times = (block.time_ns // time_unit_ns).tolist()
        return [
            f'{{"id":{i},"price":"{p}","qty":"{q}","quoteQty":"{qq}","time":{t},'
            f'"isBuyerMaker":{m},"isBestMatch":true}}'
            for i, p, q, qq, t, m in zip(block.ids.tolist(), prices, qtys, quotes, times, makers, strict=True)
        ]

    def corrupt(self, block: Block, i: int, variant: str) -> str:
        one = block.one(i)
        if variant == "time_unit":
            return self.fragments(one, time_unit_ns=1_000)[0]  # microseconds where ms belong
        text = self.fragments(one)[0]
        price = f'"price":"{fixed_point(one.price_ticks, self.spec.price_decimals, 8)[0]}"'
        if variant == "missing_field":
            return re.sub(r'"qty":"[^"]*",', "", text, count=1)
        if variant == "price_text":
            return text.replace(price, '"price":"abc"')
        if variant == "price_zero":
            return text.replace(price, '"price":"0.00000000"')
        if variant == "price_negative":
            return text.replace(price, price.replace('"price":"', '"price":"-'))
        return text.replace(f'"id":{block.ids[i]},', "")  # missing_id


class BinanceAggRenderer:
    """`aggTrades` objects; every generated fill has its own price, so one trade per aggregate."""

    venue = "binance-agg"
    descending = False

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec

    def fragments(self, block: Block) -> list[str]:
        prices = fixed_point(block.price_ticks, self.spec.price_decimals, 8)
        qtys = fixed_point(block.size_steps, self.spec.size_decimals, 8)
        makers = ["false" if b else "true" for b in block.taker_buy.tolist()]
        times = (block.time_ns // 1_000_000).tolist()
        return [
            f'{{"a":{i - AGG_ID_OFFSET},"p":"{p}","q":"{q}","f":{i},"l":{i},"T":{t},"m":{m},"M":true}}'
            for i, p, q, t, m in zip(block.ids.tolist(), prices, qtys, times, makers, strict=True)
        ]

    def corrupt(self, block: Block, i: int, variant: str) -> str:
        text = self.fragments(block.one(i))[0]
        return text.replace('"p":"', '"p":"x') if variant.startswith("price") else text


def symbol_json(spec: ProductSpec) -> dict[str, object]:
    tick = f"{10.0**-spec.price_decimals:.8f}"
    step = f"{10.0**-spec.size_decimals:.8f}"
    return {
        "symbol": spec.symbol,
        "status": spec.status,
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": spec.tradable,
        "isMarginTradingAllowed": spec.tradable,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


class BinanceVenue:
    """Request handlers for the Binance Spot paths."""

    name = "binance"

    def __init__(self, scenario: Scenario, limits: Limits) -> None:
        self.scenario = scenario
        self.limits = limits
        self.renderers = {p.symbol: BinanceRenderer(p) for p in products_of("binance")}
        self.agg_renderers = {p.symbol: BinanceAggRenderer(p) for p in products_of("binance")}

    def endpoint(self, path: str) -> str | None:
        head, _, name = path.rstrip("/").rpartition("/")
        return name if head == "/api/v3" and name in WEIGHTS else None

    def product_name(self, request: Request) -> str | None:
        return request.query.get("symbol")

    def handle(self, request: Request, endpoint: str, edits: PageEdits | None) -> Response:
        now = self.scenario.now_ns()
        if endpoint == "ping":
            return json_response(200, {})
        if endpoint == "time":
            return json_response(200, {"serverTime": now // 1_000_000})
        if endpoint == "exchangeInfo":
            return self._exchange_info(request, now)
        symbol = request.query.get("symbol")
        if not symbol:
            return _error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if symbol != symbol.upper():
            # Binance does not fold case: lower-case symbols fail its parameter pattern.
            return _error(-1100, _ILLEGAL.format("symbol", "^[A-Z0-9-_.]{1,20}$"))
        stream = self.scenario.streams.get(("binance", symbol))
        if stream is None:
            return json_response(400, INVALID_SYMBOL)
        limit = parse_int(request.query.get("limit", str(DEFAULT_LIMIT)))
        if limit is None:
            return _error(-1100, _ILLEGAL.format("limit", "^[0-9]{1,20}$"))
        if limit < 1:
            return _error(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, PAGE_MAX)  # spot silently caps larger limits
        end = stream.end_seq(now)
        shift = edits.shift if edits else 0
        if endpoint == "aggTrades":
            return self._agg_trades(request, stream, end, limit, edits)
        from_id = request.query.get("fromId") if endpoint == "historicalTrades" else None
        if from_id is None:
            lo, hi = max(end - limit, 0), end
        else:
            first = parse_int(from_id)
            if first is None:
                return _error(-1100, _ILLEGAL.format("fromId", "^[0-9]{1,20}$"))
            # fromId is inclusive; pages ascend.
            lo = max(min(stream.seq_at_id(first, stream.block_of_time(now)), end) - shift, 0)
            hi = min(lo + limit, end)
        page = page_body(stream.pieces(lo, hi), self.renderers[symbol], edits)
        return Response(200, b"[" + page.text + b"]", JSON_UTF8)

    def _agg_trades(
        self, request: Request, stream: TradeStream, end: int, limit: int, edits: PageEdits | None
    ) -> Response:
        q = request.query
        values = {k: parse_int(q[k]) for k in ("fromId", "startTime", "endTime") if k in q}
        bad = next((k for k, v in values.items() if v is None), None)
        if bad:
            return _error(-1100, _ILLEGAL.format(bad, "^[0-9]{1,20}$"))
        now_block = stream.block_of_time(self.scenario.now_ns())
        stop = end
        if values.get("endTime") is not None:
            stop = min(end, stream.seq_at_time((values["endTime"] or 0) * 1_000_000 + 1_000_000))
        if values.get("fromId") is not None:
            lo = min(stream.seq_at_id((values["fromId"] or 0) + AGG_ID_OFFSET, now_block), end)
        elif values.get("startTime") is not None:
            lo = min(stream.seq_at_time((values["startTime"] or 0) * 1_000_000), end)
        else:
            lo = max(stop - limit, 0)
        lo = max(lo - (edits.shift if edits else 0), 0)
        page = page_body(
            stream.pieces(lo, min(lo + limit, stop)), self.agg_renderers[stream.spec.symbol], edits
        )
        return Response(200, b"[" + page.text + b"]", JSON_UTF8)

    def _exchange_info(self, request: Request, now_ns: int) -> Response:
        specs = list(products_of("binance"))
        wanted: list[str] = []
        if "symbol" in request.query:
            wanted = [request.query["symbol"]]
        elif "symbols" in request.query:
            try:
                wanted = [str(s) for s in json.loads(request.query["symbols"])]
            except (ValueError, TypeError):
                return _error(
                    -1100, _ILLEGAL.format("symbols", '^\\["[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}]$')
                )
        if wanted:
            by_name = {s.symbol: s for s in specs}
            if any(w not in by_name for w in wanted):
                return json_response(400, INVALID_SYMBOL)
            specs = [by_name[w] for w in wanted]
        elif "symbolStatus" in request.query:
            specs = [s for s in specs if s.status == request.query["symbolStatus"]]
        return json_response(
            200,
            {
                "timezone": "UTC",
                "serverTime": now_ns // 1_000_000,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": self.limits.config.binance_weight_limit,
                    },
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                    {
                        "rateLimitType": "RAW_REQUESTS",
                        "interval": "MINUTE",
                        "intervalNum": 5,
                        "limit": 300000,
                    },
                ],
                "exchangeFilters": [],
                "symbols": [symbol_json(s) for s in specs],
            },
        )

    def throttled(self, retry_after: float | None) -> Response:
        wait = 60.0 if retry_after is None else retry_after
        limit = self.limits.config.binance_weight_limit
        msg = (
            f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API."
        )
        return json_response(429, {"code": -1003, "msg": msg}, [("Retry-After", self._retry(wait))])

    def banned(self, retry_after: float | None, until_ms: int | None = None) -> Response:
        wait = 120.0 if retry_after is None else retry_after
        until = until_ms if until_ms is not None else int((time.time() + wait) * 1000)
        msg = (
            f"Way too much request weight used; IP banned until {until}. "
            "Please use WebSocket Streams for live updates to avoid bans."
        )
        return json_response(418, {"code": -1003, "msg": msg}, [("Retry-After", self._retry(wait))])

    def server_error(self, status: int | None) -> Response:
        return _error(-1000, "An unknown error occurred while processing the request.", status or 500)

    def _retry(self, seconds: float) -> str:
        return retry_after_text(seconds, self.limits.scaled)
