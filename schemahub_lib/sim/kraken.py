"""Kraken Spot public REST: /0/public/Trades, /0/public/AssetPairs, /0/public/Time.

https://docs.kraken.com/api/docs/rest-api/get-recent-trades/
Every answer, errors included, is HTTP 200 with {"error": [...]} (a successful one has
"error": [] and a "result").
"""

from __future__ import annotations

import email.utils
import re
from decimal import Decimal

import numpy as np

from schemahub_lib.sim.blocks import Block
from schemahub_lib.sim.catalog import ProductSpec, price_width, products_of
from schemahub_lib.sim.pages import PageEdits, fixed_point, page_body
from schemahub_lib.sim.scenario import Scenario, kraken_short
from schemahub_lib.sim.wire import JSON_UTF8, Request, Response, json_response, parse_int

PAGE_MAX = 1000
ENDPOINTS = ("Trades", "AssetPairs", "Time")
_NUMBER = re.compile(r"[0-9]{1,25}(\.[0-9]{1,12})?")
_FEES = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18]]
_FEES_MAKER = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12], [250000, 0.1], [500000, 0.08]]


def kraken_error(*messages: str) -> Response:
    # Kraken reports every failure in-band with HTTP 200 and no "result".
    return json_response(200, {"error": list(messages)})


def float_seconds(time_ns: np.ndarray) -> list[str]:
    """Times as the JSON doubles Kraken sends (~7 decimals; exact ns only in `last`)."""
    seconds = (time_ns // 10**9) + (time_ns % 10**9) / 1e9
    return [repr(x) for x in seconds.tolist()]


def since_ns(text: str) -> int | None:
    """`since` as integer ns: 19-digit ns, or (below 1e12) Unix seconds, or None if malformed."""
    if not _NUMBER.fullmatch(text):
        return None
    value = Decimal(text)
    if value < Decimal(10**12):
        # Seconds: the fraction is ignored (a fractional-seconds query returned trades from
        # before the stamp in the recorded eugenelo capture).
        return int(value) * 10**9
    return int(value)


class KrakenRenderer:
    """Trades rows [price, volume, time, b/s, m/l, misc, trade_id], oldest first."""

    venue = "kraken"
    descending = False

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec
        self.price_width = price_width(spec)

    def fragments(self, block: Block) -> list[str]:
        prices = fixed_point(block.price_ticks, self.spec.price_decimals, self.price_width)
        volumes = fixed_point(block.size_steps, self.spec.size_decimals, 8)
        times = float_seconds(block.time_ns)
        sides = ["b" if b else "s" for b in block.taker_buy.tolist()]  # taker side
        kinds = ["m" if m else "l" for m in block.market_order.tolist()]  # taker order type
        return [
            f'["{p}","{v}",{t},"{s}","{k}","",{i}]'
            for p, v, t, s, k, i in zip(prices, volumes, times, sides, kinds, block.ids.tolist(), strict=True)
        ]

    def corrupt(self, block: Block, i: int, variant: str) -> str:
        one = block.one(i)
        text = self.fragments(one)[0]
        price = f'"{fixed_point(one.price_ticks, self.spec.price_decimals, self.price_width)[0]}"'
        if variant == "price_text":
            return text.replace(price, '"abc"', 1)
        if variant == "price_zero":
            return text.replace(price, '"0.00000"', 1)
        if variant == "price_negative":
            return text.replace(price, '"-' + price[1:], 1)
        if variant == "missing_id":
            return text[: text.rindex(",")] + "]"  # a 6-element row
        if variant == "missing_field":
            kind = "m" if one.market_order[0] else "l"
            return text.replace(f',"{kind}",', ",", 1)  # the order type gone: 6 elements, id last
        # time_unit: milliseconds where seconds belong
        return text.replace(float_seconds(one.time_ns)[0], repr(int(one.time_ns[0]) / 1e6), 1)


def pair_json(spec: ProductSpec) -> dict[str, object]:
    return {
        "altname": spec.symbol,
        "wsname": f"{kraken_short(spec.venue_base)}/{kraken_short(spec.venue_quote)}",
        "aclass_base": "currency",
        "base": spec.venue_base,
        "aclass_quote": "currency",
        "quote": spec.venue_quote,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": spec.price_decimals,
        "lot_decimals": spec.size_decimals,
        "lot_multiplier": 1,
        "leverage_buy": [2, 3, 4, 5],
        "leverage_sell": [2, 3, 4, 5],
        "fees": _FEES,
        "fees_maker": _FEES_MAKER,
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": "0.00005" if spec.base == "BTC" else "0.002",
        "costmin": "0.5",
        "tick_size": f"{10.0**-spec.price_decimals:.{spec.price_decimals}f}",
        "status": "online",
        "long_position_limit": 250,
        "short_position_limit": 200,
    }


class KrakenVenue:
    """Request handlers for the Kraken Spot public paths."""

    name = "kraken"

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.renderers = {p.symbol: KrakenRenderer(p) for p in products_of("kraken")}

    def endpoint(self, path: str) -> str | None:
        head, _, name = path.rstrip("/").rpartition("/")
        return name if head == "/0/public" and name in ENDPOINTS else None

    def product_name(self, request: Request) -> str | None:
        return request.query.get("pair")

    def handle(self, request: Request, endpoint: str, edits: PageEdits | None) -> Response:
        now = self.scenario.now_ns()
        if endpoint == "Time":
            seconds = now // 10**9
            rfc1123 = email.utils.formatdate(seconds, usegmt=False).replace("-0000", "+0000")
            return json_response(200, {"error": [], "result": {"unixtime": seconds, "rfc1123": rfc1123}})
        if endpoint == "AssetPairs":
            return self._asset_pairs(request)
        pair = request.query.get("pair")
        if not pair:
            return kraken_error("EGeneral:Invalid arguments")
        spec = self.scenario.product("kraken", pair)
        if spec is None:
            return kraken_error("EQuery:Unknown asset pair")
        stream = self.scenario.streams[("kraken", spec.symbol)]
        count = parse_int(request.query.get("count", str(PAGE_MAX)))
        if count is None or count < 1:
            return kraken_error("EGeneral:Invalid arguments")
        count = min(count, PAGE_MAX)
        end = stream.end_seq(now)
        since_text = request.query.get("since")
        since = None if since_text is None else since_ns(since_text)
        if since_text is not None and since is None:
            return kraken_error("EGeneral:Invalid arguments")
        if since is None:
            lo = max(end - count, 0)  # no since: the most recent trades
        else:
            inclusive = self.scenario.config.kraken_since_inclusive
            lo = min(stream.seq_at_time(since, inclusive=inclusive), end)
        lo = max(lo - (edits.shift if edits else 0), 0)
        page = page_body(stream.pieces(lo, min(lo + count, end)), self.renderers[spec.symbol], edits)
        # `last` is the exact ns time of the last row, the cursor for the next call.
        last = str(int(page.last[0].time_ns[page.last[1]])) if page.last else str(since or now)
        body = b'{"error":[],"result":{"%s":[%s],"last":"%s"}}' % (
            spec.key.encode(),
            page.text,
            last.encode(),
        )
        return Response(200, body, JSON_UTF8)

    def _asset_pairs(self, request: Request) -> Response:
        specs = list(products_of("kraken"))
        if request.query.get("pair"):
            wanted = [self.scenario.product("kraken", p.strip()) for p in request.query["pair"].split(",")]
            if any(w is None for w in wanted):
                return kraken_error("EQuery:Unknown asset pair")
            specs = [w for w in wanted if w is not None]
        return json_response(200, {"error": [], "result": {s.key: pair_json(s) for s in specs}})

    def throttled(self, retry_after: float | None) -> Response:
        return kraken_error("EGeneral:Too many requests")

    def banned(self, retry_after: float | None) -> Response:
        return self.throttled(retry_after)

    def server_error(self, status: int | None) -> Response:
        # Engine trouble arrives in-band; a status only when a fault asks for an edge error.
        response = kraken_error("EService:Unavailable")
        response.status = status or 200
        return response
