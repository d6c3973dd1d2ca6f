"""Coinbase Exchange public REST: GET /products, /products/{id}, /products/{id}/trades.

https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproducttrades
https://docs.cdp.coinbase.com/exchange/rest-api/pagination
"""

from __future__ import annotations

import re

import numpy as np

from schemahub_lib.sim.blocks import Block
from schemahub_lib.sim.catalog import ProductSpec, products_of
from schemahub_lib.sim.market import TradeStream
from schemahub_lib.sim.pages import PageEdits, fixed_point, page_body
from schemahub_lib.sim.ratelimit import Limits, retry_after_text
from schemahub_lib.sim.scenario import Scenario
from schemahub_lib.sim.wire import JSON_UTF8, Request, Response, json_response, parse_int

PAGE_MAX = 1000
NOT_FOUND = {"message": "NotFound"}


def rfc3339(time_ns: np.ndarray) -> list[str]:
    """RFC 3339 UTC with the fraction's trailing zeros trimmed (Go's RFC3339Nano), µs at most."""
    text = np.datetime_as_string(time_ns.astype("datetime64[ns]").astype("datetime64[us]"), unit="us")
    return [s.rstrip("0").rstrip(".") + "Z" for s in text.tolist()]


class CoinbaseRenderer:
    """Trade objects in the 2024 key order, newest first."""

    venue = "coinbase"
    descending = True  # /trades returns the latest trades first

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec

    def fragments(self, block: Block) -> list[str]:
        # `side` is the MAKER's side: a taker buy lifts a resting sell.
        sides = ["sell" if b else "buy" for b in block.taker_buy.tolist()]
        sizes = fixed_point(block.size_steps, self.spec.size_decimals, 8)
        prices = fixed_point(block.price_ticks, self.spec.price_decimals, 8)
        times = rfc3339(block.time_ns)
        return [
            f'{{"trade_id":{i},"side":"{s}","size":"{z}","price":"{p}","time":"{t}"}}'
            for i, s, z, p, t in zip(block.ids.tolist(), sides, sizes, prices, times, strict=True)
        ]

    def corrupt(self, block: Block, i: int, variant: str) -> str:
        one = block.one(i)
        text = self.fragments(one)[0]
        price = f'"price":"{fixed_point(one.price_ticks, self.spec.price_decimals, 8)[0]}"'
        if variant == "price_text":
            return text.replace(price, '"price":"n/a"')
        if variant == "price_zero":
            return text.replace(price, '"price":"0.00000000"')
        if variant == "price_negative":
            return text.replace(price, price.replace('"price":"', '"price":"-'))
        if variant == "missing_id":
            return text.replace(f'"trade_id":{block.ids[i]},', "")
        if variant == "missing_field":
            return re.sub(r'"size":"[^"]*",', "", text, count=1)
        # time_unit: epoch milliseconds where an RFC 3339 string belongs
        return text.replace(
            f'"time":"{rfc3339(one.time_ns)[0]}"', f'"time":"{int(block.time_ns[i]) // 10**6}"'
        )


def product_json(spec: ProductSpec) -> dict[str, object]:
    return {
        "id": spec.symbol,
        "base_currency": spec.base,
        "quote_currency": spec.quote,
        "quote_increment": f"{10.0**-spec.price_decimals:.{spec.price_decimals}f}",
        "base_increment": f"{10.0**-spec.size_decimals:.{spec.size_decimals}f}",
        "display_name": spec.symbol,
        "min_market_funds": "1",
        "margin_enabled": False,
        "post_only": False,
        "limit_only": False,
        "cancel_only": False,
        "status": spec.status,
        "status_message": "",
        "trading_disabled": False,
        "fx_stablecoin": False,
        "max_slippage_percentage": "0.02000000",
        "auction_mode": False,
        "high_bid_limit_percentage": "",
    }


class CoinbaseVenue:
    """Request handlers for the Coinbase Exchange paths."""

    name = "coinbase"

    def __init__(self, scenario: Scenario, limits: Limits) -> None:
        self.scenario = scenario
        self.limits = limits
        self.renderers = {p.symbol: CoinbaseRenderer(p) for p in products_of("coinbase")}

    def endpoint(self, path: str) -> str | None:
        parts = path.strip("/").split("/")
        if parts[0] != "products" or len(parts) > 3:
            return None
        if len(parts) == 3:
            return "trades" if parts[2] == "trades" else None
        return "product" if len(parts) == 2 else "products"

    def product_name(self, request: Request) -> str | None:
        parts = request.path.strip("/").split("/")
        return parts[1] if len(parts) >= 2 else None

    def handle(self, request: Request, endpoint: str, edits: PageEdits | None) -> Response:
        if endpoint == "products":
            return json_response(200, [product_json(p) for p in products_of("coinbase")])
        spec = self.scenario.product("coinbase", self.product_name(request) or "")
        if spec is None:
            return json_response(404, NOT_FOUND)
        if endpoint == "product":
            return json_response(200, product_json(spec))
        stream = self.scenario.streams[("coinbase", spec.symbol)]
        return self._trades(request, stream, edits)

    def _trades(self, request: Request, stream: TradeStream, edits: PageEdits | None) -> Response:
        q = request.query
        limit = parse_int(q.get("limit", str(PAGE_MAX)))
        if limit is None or limit < 1:
            return json_response(400, {"message": 'Invalid value for "limit"'})
        limit = min(limit, PAGE_MAX)
        after, before = q.get("after"), q.get("before")
        if after is not None and before is not None:
            return json_response(400, {"message": "cannot use both before and after"})
        shift = edits.shift if edits else 0
        now = self.scenario.now_ns()
        end = stream.end_seq(now)
        last_block = stream.block_of_time(now)
        if after is not None:
            cursor = parse_int(after)
            if cursor is None or cursor < 0:
                return json_response(400, {"message": 'Invalid value for "after"'})
            # after=X pages to OLDER trades: ids < X, newest first.
            hi = min(stream.seq_at_id(cursor, last_block) + shift, end)
            lo = max(hi - limit, 0)
        elif before is not None:
            cursor = parse_int(before)
            if cursor is None or cursor < 0:
                return json_response(400, {"message": 'Invalid value for "before"'})
            # before=X pages to NEWER trades: the `limit` ids just above X (not the latest ones).
            lo = max(min(stream.seq_at_id(cursor + 1, last_block), end) - shift, 0)
            hi = min(lo + limit, end)
        else:
            hi, lo = end, max(end - limit, 0)
        page = page_body(stream.pieces(lo, hi), self.renderers[stream.spec.symbol], edits)
        headers: list[tuple[str, str]] = []
        if page.count:
            # CB-BEFORE is the first (newest) item's id, CB-AFTER the last (oldest) item's id.
            headers = [("CB-BEFORE", str(page.first_id())), ("CB-AFTER", str(page.last_id()))]
        return Response(200, b"[" + page.text + b"]", JSON_UTF8, headers)

    def throttled(self, retry_after: float | None) -> Response:
        # Coinbase documents no Retry-After; send one only when a fault asks for it.
        headers = (
            []
            if retry_after is None
            else [("Retry-After", retry_after_text(retry_after, self.limits.scaled))]
        )
        return json_response(429, {"message": "Public rate limit exceeded"}, headers)

    def banned(self, retry_after: float | None) -> Response:
        return self.throttled(retry_after)

    def server_error(self, status: int | None) -> Response:
        return json_response(status or 500, {"message": "Internal server error"})
