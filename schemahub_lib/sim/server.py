"""The HTTP server: one loopback port serving every venue under a path prefix.

    http://127.0.0.1:P/coinbase/products/BTC-USD/trades
    http://127.0.0.1:P/binance/api/v3/historicalTrades?symbol=BTCUSDT&fromId=...
    http://127.0.0.1:P/kraken/0/public/Trades?pair=XBTUSD&since=...
    http://127.0.0.1:P/okx/api/v5/market/history-trades?instId=BTC-USDT&after=...
    http://127.0.0.1:P/bitfinex/v2/trades/tBTCUSD/hist?start=...&sort=1
    http://127.0.0.1:P/_sim/...   (admin API, see admin.py)

A request passes the venue's rate limiter, then the fault rules, then the venue handler.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, urlsplit

from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.admin import AdminApi
from schemahub_lib.sim.binance import WEIGHTS, BinanceVenue
from schemahub_lib.sim.bitfinex import BitfinexVenue, bitfinex_error
from schemahub_lib.sim.catalog import EXCHANGES, ProductSpec
from schemahub_lib.sim.clock import Clock
from schemahub_lib.sim.coinbase import CoinbaseVenue
from schemahub_lib.sim.config import LimitConfig, LimitMode, SimConfig
from schemahub_lib.sim.faults import ANSWER_KINDS, DELIVERY_KINDS, FaultBook, answer, deliver, page_edits
from schemahub_lib.sim.httpd import HttpServer
from schemahub_lib.sim.kraken import KrakenVenue
from schemahub_lib.sim.okx import OkxVenue
from schemahub_lib.sim.pages import PageEdits
from schemahub_lib.sim.ratelimit import Limits
from schemahub_lib.sim.scenario import Scenario, lookup_names
from schemahub_lib.sim.truth import Truth, load_truth
from schemahub_lib.sim.wire import Request, Response, json_response


class Venue(Protocol):
    name: str

    def endpoint(self, path: str) -> str | None: ...

    def product_name(self, request: Request) -> str | None: ...

    def handle(self, request: Request, endpoint: str, edits: PageEdits | None) -> Response: ...

    def throttled(self, retry_after: float | None) -> Response: ...

    def banned(self, retry_after: float | None) -> Response: ...

    def server_error(self, status: int | None) -> Response: ...


class Stats:
    """Requests per (exchange, endpoint, status); `refused` counts rate-limiter refusals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[tuple[str, str, int]] = Counter()
            self.refused: Counter[str] = Counter()

    def record(self, exchange: str, endpoint: str, status: int, refused: bool) -> None:
        with self._lock:
            self.requests[(exchange, endpoint, status)] += 1
            if refused:
                self.refused[exchange] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {"requests": {}, "refused": dict(self.refused)}
            for (exchange, endpoint, status), n in self.requests.items():
                out["requests"].setdefault(exchange, {}).setdefault(endpoint, {})[str(status)] = n
            out["total"] = sum(self.requests.values())
            return out


def _not_found(venue: str) -> Response:
    if venue == "coinbase":
        return json_response(404, {"message": "NotFound"})
    if venue == "kraken":
        return json_response(200, {"error": ["EGeneral:Unknown method"]})
    if venue == "okx":
        return json_response(404, {"msg": "Not Found", "code": 404})  # a number here, as recorded
    if venue == "bitfinex":
        return bitfinex_error(10020, "path: invalid", 404)
    return Response(404, b"<html><body><h2>404 Not found</h2></body></html>", "text/html")


class SimServer:
    """The exchange simulator: build, `start()`, point connectors at `urls`, `stop()`.

    Options are `SimConfig` fields (`seed=`, `history_s=`, `limits=LimitConfig(...)` or a mode
    string "off"/"real"). `clock`, `faults` and `truth()` drive and inspect it in-process.
    """

    def __init__(
        self, config: SimConfig | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        if isinstance(options.get("limits"), str):
            options["limits"] = LimitConfig(mode=cast(LimitMode, options["limits"]))
        config = SimConfig(**options) if config is None else dataclasses.replace(config, **options)
        self.config = config
        self.scenario = Scenario(config, clock)
        self.limits = Limits(config.limits)
        self.faults = FaultBook(config.seed)
        self.stats = Stats()
        self.admin = AdminApi(self)
        self.venues: dict[str, Venue] = {
            "coinbase": CoinbaseVenue(self.scenario, self.limits),
            "binance": BinanceVenue(self.scenario, self.limits),
            "kraken": KrakenVenue(self.scenario),
            "okx": OkxVenue(self.scenario),
            "bitfinex": BitfinexVenue(self.scenario),
        }
        self.stopping = threading.Event()
        self._http: HttpServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> dict[str, str]:
        """Bind and serve in a background thread; returns each exchange's base URL."""
        self.stopping.clear()
        self._http = HttpServer((self.config.host, self.config.port), self)
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="schemahub-sim", daemon=True
        )
        self._thread.start()
        return self.urls

    def stop(self) -> None:
        """Stop serving and drop open connections."""
        self.stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.close_connections()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http = self._thread = None

    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return int(self._http.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        """Base URL per exchange, e.g. {"coinbase": "http://127.0.0.1:P/coinbase", ...}."""
        return {x: f"{self.root_url}/{x}" for x in EXCHANGES}

    @property
    def admin_url(self) -> str:
        return f"{self.root_url}/_sim"

    def env(self) -> dict[str, str]:
        """SCHEMAHUB_<EXCHANGE>_URL variables pointing a subprocess at this simulator."""
        return {f"SCHEMAHUB_{x.upper()}_URL": url for x, url in self.urls.items()}

    # ---- in-process controls ---------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self.scenario.clock

    def truth(self, exchange: str, product: str, **bounds: int | None) -> Truth:
        """Ground truth for one product; bounds: start_ns, end_ns, from_id, to_id (inclusive)."""
        return load_truth(self.scenario, self.faults, exchange, product, **bounds)

    def set_limits(self, limits: LimitConfig | str) -> None:
        """Switch rate limiting at run time ("off", "real", or a full LimitConfig)."""
        if isinstance(limits, str):
            if limits not in ("real", "off", "scale"):
                raise ConfigError(f"limits mode {limits!r}; valid: real, off, scale")
            limits = LimitConfig(mode=cast(LimitMode, limits))
        self.limits.configure(limits)

    # ---- request path ------------------------------------------------------------------------

    def dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], client: str, body: bytes
    ) -> Response:
        split = urlsplit(raw_path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        prefix, _, rest = split.path.lstrip("/").partition("/")
        request = Request(method, "/" + rest, query, headers, client, body)
        if prefix == "_sim":
            return self.admin.handle(rest, request)
        venue = self.venues.get(prefix)
        if venue is None:
            return json_response(
                404,
                {"error": f"unknown prefix /{prefix}; use {', '.join('/' + x for x in self.venues)}, /_sim"},
            )
        endpoint = venue.endpoint(request.path)
        if endpoint is None or method != "GET":
            return _not_found(venue.name)
        spec_name = venue.product_name(request)
        spec = self.scenario.product(venue.name, spec_name) if spec_name else None
        refusal, extra = self._throttle(venue, endpoint, request, spec)
        response = refusal or self._respond(venue, endpoint, request, spec)
        response.headers.extend(extra)
        self.stats.record(venue.name, endpoint, response.status, refusal is not None)
        return response

    def _throttle(
        self, venue: Venue, endpoint: str, request: Request, spec: ProductSpec | None
    ) -> tuple[Response | None, list[tuple[str, str]]]:
        if venue.name == "coinbase":
            wait = self.limits.coinbase(request.client)
            if wait > 0:
                return venue.throttled(wait if self.limits.config.coinbase_retry_after else None), []
        elif venue.name == "binance":
            verdict = self.limits.binance(request.client, WEIGHTS[endpoint])
            # Every Binance answer reports the weight used in the current window.
            headers = [("X-MBX-USED-WEIGHT", str(verdict.used)), ("X-MBX-USED-WEIGHT-1M", str(verdict.used))]
            if verdict.status == 429:
                return venue.throttled(verdict.retry_after_s), headers
            if verdict.status == 418:
                assert isinstance(venue, BinanceVenue)
                return venue.banned(verdict.retry_after_s, verdict.banned_until_ms), headers
            return None, headers
        elif venue.name == "kraken":
            # Kraken limits Trades per IP and pair, everything else per IP.
            pair = spec.key if spec is not None and endpoint == "Trades" else "*"
            if self.limits.kraken(request.client, pair):
                return venue.throttled(None), []
        elif venue.name == "okx":
            if self.limits.okx(request.client, endpoint) > 0:
                return venue.throttled(None), []
        elif venue.name == "bitfinex" and endpoint == "trades" and self.limits.bitfinex(request.client):
            return venue.throttled(None), []
        return None, []

    def _respond(self, venue: Venue, endpoint: str, request: Request, spec: ProductSpec | None) -> Response:
        names = lookup_names(spec) if spec is not None else set()
        rule = self.faults.pick(venue.name, endpoint, names)
        key = (venue.name, endpoint, spec.symbol if spec is not None else "")
        if rule is not None and rule.kind in ANSWER_KINDS:
            return answer(rule, venue)
        if rule is not None and rule.kind == "repeat":
            previous = self.faults.previous(key)
            if previous is not None:
                return dataclasses.replace(previous, headers=list(previous.headers))
        edits = page_edits(rule) or PageEdits()
        response = venue.handle(request, endpoint, edits)
        if spec is not None and endpoint != "aggTrades":  # an aggregate is no trade delivered
            whole = response.status == 200 and (rule is None or rule.kind not in DELIVERY_KINDS)
            self.faults.record(venue.name, spec.symbol, edits, delivered=whole)
        if rule is None and response.status == 200:
            self.faults.remember(key, dataclasses.replace(response, headers=list(response.headers)))
        if rule is not None and rule.kind in DELIVERY_KINDS:
            response = deliver(rule, response)
        return response
