"""Faults on request: rules that bend the next, the K-th or a random share of matching requests.

A rule names an exchange, optionally an endpoint and a product, a kind, and a schedule:
`skip` matching requests pass untouched, then up to `count` fire (`None`: no end), each with
probability `rate` drawn from a generator seeded by the simulator seed and the rule id, so a
run is reproducible. Rules are set in-process (`FaultBook.add`) or over HTTP
(`POST /_sim/faults`). What faults hid or corrupted is recorded for ground truth.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.catalog import EXCHANGES
from schemahub_lib.sim.pages import PageEdits
from schemahub_lib.sim.wire import Response

# Kinds that answer instead of the venue / that bend the venue's answer / that edit the page.
ANSWER_KINDS = ("rate_limit", "ban", "server_error", "html", "disconnect")
DELIVERY_KINDS = ("timeout", "truncated", "repeat")
PAGE_KINDS = ("overlap", "drop", "invalid")
KINDS = ANSWER_KINDS + DELIVERY_KINDS + PAGE_KINDS
INVALID_VARIANTS = (
    *("price_text", "price_zero", "price_negative", "missing_id", "time_unit"),
    *("missing_field", "duplicate_id", "id_overflow"),
)

TRADE_ENDPOINTS = {
    "coinbase": ("trades",),
    "binance": ("trades", "historicalTrades", "aggTrades"),
    "kraken": ("Trades",),
    "okx": ("history-trades", "trades"),
    "bitfinex": ("trades",),
}

CLOUDFLARE_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class ErrorVoice(Protocol):
    """How a venue words throttling and server errors."""

    def throttled(self, retry_after: float | None) -> Response: ...

    def banned(self, retry_after: float | None) -> Response: ...

    def server_error(self, status: int | None) -> Response: ...


@dataclass
class FaultRule:
    """One fault rule.

    Kinds and the parameters they read:
      rate_limit    the venue's throttle answer: Coinbase 429, Binance 429 -1003, Kraken HTTP 200
                    EGeneral:Too many requests; `retry_after` seconds (Binance default 60; Coinbase
                    sends Retry-After only when set; Kraken never).
      ban           Binance only: 418 "IP banned until <ms>"; `retry_after` (default 120).
      server_error  Coinbase/Binance HTTP `status` (default 500) with their JSON error body;
                    Kraken {"error":["EService:Unavailable"]} in HTTP 200 unless `status` is set.
      html          a Cloudflare-style HTML page with HTTP `status` (default 502).
      disconnect    close the connection without answering.
      timeout       answer normally after `delay_s` (default 30), past any sane client timeout.
      truncated     send the first `fraction` (default 0.5) of the body; `mode` "json" keeps an
                    honest Content-Length (invalid JSON), "short_read" declares the full length
                    and closes early.
      repeat        serve the previous answer for the same endpoint and product again.
      overlap       start the page `shift` trades (default 10) earlier than the cursor says.
      drop          silently omit `drop` existing trades (default 1) from the middle of the page.
      invalid       corrupt the page's middle trade: `variant` price_text, price_zero,
                    price_negative, missing_id, time_unit (ms<->µs/s confusion),
                    missing_field (one other field gone), duplicate_id (served twice, the
                    second copy one price tick higher) or id_overflow (an id past 2**63 - 1).
    Matching: `exchange` ("*" for any), `endpoint` (None: the venue's trade-list endpoints,
    "*": any, else a name such as "historicalTrades"), `product` (any accepted spelling).
    Schedule: the first `skip` matching requests pass, then up to `count` fire (None: no end),
    each with probability `rate`. "The request K" is skip=K-1, count=1; "the next N" count=N.
    """

    kind: str
    exchange: str  # an exchange name or "*"
    endpoint: str | None = None  # None: the venue's trade-list endpoints; "*": any endpoint
    product: str | None = None  # venue symbol in any accepted spelling; None: any
    rate: float = 1.0
    skip: int = 0
    count: int | None = 1
    status: int | None = None  # server_error / html status
    retry_after: float | None = None  # rate_limit / ban, seconds
    delay_s: float = 30.0  # timeout
    fraction: float = 0.5  # truncated: share of the body sent
    mode: str = "json"  # truncated: "json" (short body, honest length) or "short_read"
    shift: int = 10  # overlap: trades the page starts early by
    drop: int = 1  # drop: trades swallowed
    variant: str = "price_text"  # invalid: which corruption
    id: int = 0
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        names = {f.name for f in dataclasses.fields(cls)} - {"id", "seen", "fired"}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"fault rule: unknown keys {unknown}; valid: {sorted(names)}")
        if "kind" not in data or "exchange" not in data:
            raise ConfigError(f"fault rule needs 'kind' and 'exchange', got {data!r}")
        rule = cls(**data)
        rule.validate()
        return rule

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"fault kind {self.kind!r} unknown; valid: {', '.join(KINDS)}")
        if self.exchange != "*" and self.exchange not in EXCHANGES:
            known = ", ".join(sorted(EXCHANGES))
            raise ConfigError(f"fault rule: unknown exchange {self.exchange!r}; known: *, {known}")
        if self.kind == "ban" and self.exchange != "binance":
            raise ConfigError("fault kind 'ban' is Binance's HTTP 418; set exchange to 'binance'")
        if self.kind == "invalid" and self.variant not in INVALID_VARIANTS:
            raise ConfigError(f"invalid variant {self.variant!r}; valid: {', '.join(INVALID_VARIANTS)}")
        if self.kind == "truncated" and self.mode not in ("json", "short_read"):
            raise ConfigError(f"truncated mode {self.mode!r}; valid: json, short_read")
        if not 0 < self.rate <= 1 or self.skip < 0 or (self.count is not None and self.count < 0):
            raise ConfigError(
                f"fault schedule out of range: rate={self.rate} skip={self.skip} count={self.count}"
            )

    def matches(self, exchange: str, endpoint: str, names: set[str]) -> bool:
        if self.exchange not in ("*", exchange):
            return False
        if self.endpoint is None:
            if endpoint not in TRADE_ENDPOINTS[exchange]:
                return False
        elif self.endpoint != "*" and self.endpoint.lower() != endpoint.lower():
            return False
        return self.product is None or self.product.upper() in names

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Casualties:
    """Trades a fault hid from a page or served corrupted, per (exchange, venue symbol).

    `hidden`: every trade a fault swallowed; `unseen`: those of them no answer has delivered
    intact since the serve that first swallowed them (a client could not have them since)."""

    hidden: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    unseen: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    corrupted: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)


class FaultBook:
    """The active fault rules and what they did. Thread-safe."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rules: list[FaultRule] = []
        self._rngs: dict[int, random.Random] = {}
        self._next_id = 1
        self._lock = threading.Lock()
        self.casualties = Casualties()
        self._last: dict[tuple[str, str, str], Response] = {}

    def add(self, rule: FaultRule | dict[str, Any]) -> FaultRule:
        """Activate a rule (a `FaultRule` or its dict form); returns it with its id set."""
        if isinstance(rule, dict):
            rule = FaultRule.from_dict(rule)
        else:
            rule.validate()
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
            self._rngs[rule.id] = random.Random(f"{self.seed}:{rule.id}")
        return rule

    def clear(self) -> None:
        """Remove every rule and forget casualties and remembered pages."""
        with self._lock:
            self._rules.clear()
            self.casualties = Casualties()
            self._last.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, exchange: str, endpoint: str, names: set[str]) -> FaultRule | None:
        """The rule that fires for this request, if any (the first in insertion order)."""
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(exchange, endpoint, names):
                    continue
                rule.seen += 1
                if chosen is not None or rule.seen <= rule.skip:
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.rate < 1 and self._rngs[rule.id].random() >= rule.rate:
                    continue
                rule.fired += 1
                chosen = rule
        return chosen

    def record(self, exchange: str, symbol: str, edits: PageEdits, *, delivered: bool = True) -> None:
        """What one served page hid, corrupted and (`delivered`: it went out whole and on time)
        delivered intact."""
        with self._lock:
            key = (exchange, symbol)
            unseen = self.casualties.unseen.setdefault(key, set())
            if delivered and unseen and edits.served:
                unseen -= {i for i in unseen if any(a <= i <= b for a, b in edits.served)}
            if edits.hidden_ids:
                hidden = self.casualties.hidden.setdefault(key, set())
                unseen.update(i for i in edits.hidden_ids if i not in hidden)  # first swallowed now
                hidden.update(edits.hidden_ids)
            for trade_id in edits.corrupted_ids:
                self.casualties.corrupted.setdefault(key, {})[trade_id] = edits.invalid or ""

    def remember(self, key: tuple[str, str, str], response: Response) -> None:
        self._last[key] = response

    def previous(self, key: tuple[str, str, str]) -> Response | None:
        return self._last.get(key)

    def hidden(self, exchange: str, symbol: str) -> set[int]:
        """Trades a fault swallowed from a page that no answer delivered intact since."""
        with self._lock:
            return set(self.casualties.unseen.get((exchange, symbol), ()))

    def dropped(self, exchange: str, symbol: str) -> set[int]:
        """Trades a fault swallowed from some page, delivered by another or not."""
        with self._lock:
            return set(self.casualties.hidden.get((exchange, symbol), ()))

    def corrupted(self, exchange: str, symbol: str) -> dict[int, str]:
        with self._lock:
            return dict(self.casualties.corrupted.get((exchange, symbol), {}))


def answer(rule: FaultRule, voice: ErrorVoice) -> Response:
    """The response of an answering fault, worded as the venue words it."""
    if rule.kind == "rate_limit":
        return voice.throttled(rule.retry_after)
    if rule.kind == "ban":
        return voice.banned(rule.retry_after)
    if rule.kind == "server_error":
        return voice.server_error(rule.status)
    if rule.kind == "html":
        return Response(rule.status or 502, CLOUDFLARE_502.encode(), "text/html")
    return Response(0, b"", disconnect=True)


def page_edits(rule: FaultRule | None) -> PageEdits | None:
    if rule is None or rule.kind not in PAGE_KINDS:
        return None
    if rule.kind == "overlap":
        return PageEdits(shift=rule.shift)
    if rule.kind == "drop":
        return PageEdits(drop=rule.drop)
    return PageEdits(invalid=rule.variant)


def deliver(rule: FaultRule, response: Response) -> Response:
    """Bend how a venue's response goes out: late or cut short."""
    if rule.kind == "timeout":
        response.delay_s = rule.delay_s
    elif rule.kind == "truncated":
        full = len(response.body)
        response.body = response.body[: max(1, int(full * rule.fraction))]
        if rule.mode == "short_read":
            response.declared_length = full
    return response
