"""Connector benchmarks: fetch + parse speed, and pacing against the simulator's real limits.

Both run `schemahub sim serve` in its own process and drive the real connectors: `load_connector`,
`fetch_page`, `HttpClient` (pacer, retries, ban checks) and the parse functions, over HTTP on
loopback. Nothing durable is written: bans go to a `MemoryBanStore` and pacers to a private
`PacerRegistry`, so a bench run leaves no state that another run (or a real job) would honour.

* fetch + parse: one thread per exchange walks one product's history (Coinbase and Binance
  older by trade id, Kraken newer by `since`) with pacing off and the simulator's limits off.
  Trades/s per exchange; the SPEC has no budget for this alone (the landing budget covers fetch,
  parse and write), so it is shown for information.
* pacing: the simulator enforces the documented limits (Coinbase 10 requests/s per IP with
  bursts to 15, HTTP 429; Binance 6000 request weight per wall-clock minute, 429 then 418 bans;
  Kraken Trades 1 call/s per IP and pair, HTTP 200 `EGeneral:Too many requests`). Worker
  threads share the exchange's pacer as backfill's workers do (Kraken's pacer is per pair, so
  two workers share each pair's), each walking its own slice of the history. Coinbase's and
  Kraken's rate is the client's request count over a window that opens after a warm-up, so the
  pacer's initial burst (Coinbase 5 requests, Kraken 1) is not counted: it is the sustained
  rate, held against the sustained limit. Binance counts weight per wall-clock minute, so its
  figure is the weight sent in whole wall-clock minutes after the warm-up (its 250-weight burst
  is spent before them), cross-checked with the peak `X-MBX-USED-WEIGHT-1M` the server
  reported. Refusals are counted on both sides: the simulator's /_sim/stats (429/418 statuses
  and limiter refusals, which include Kraken's in-band ones) and the clients' throttled and
  retry counters.

`SCHEMAHUB_BENCH_PACING_MINUTES` sets how many whole Binance minutes are measured (default 1;
the pacing part then takes 65-125 s, depending on where in a minute it starts).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.result import Result
from schemahub_lib.connectors import Connector, Cursor, Page, load_connector
from schemahub_lib.http import HttpCounters, MemoryBanStore, PacerRegistry, new_session
from schemahub_lib.settings import load_settings
from schemahub_lib.sim.testing import SimProcess

EXCHANGES = ("coinbase", "binance", "kraken")
# fetch + parse: one product per exchange, fast enough that the walk needs little history.
FAST_PRODUCTS = {"coinbase": "BTC-USD", "binance": "BTCUSDT", "kraken": "XBTUSD"}
FAST_RATE = 200  # trades/s of those products
FAST_TRADES = 500_000  # per exchange
# pacing: every tradable product, each worker on its own slice of one product's history.
PACED_PRODUCTS = {
    "coinbase": ("BTC-USD", "ETH-USD", "SOL-USD"),
    "binance": ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
    "kraken": ("XBTUSD", "ETHUSD", "XBTUSDT", "XDGUSD"),
}
PACED_WORKERS = {"coinbase": 4, "binance": 4, "kraken": 8}
PACED_RATE = 50  # trades/s of every product: a long history, so slices rarely wrap
WARM_UP_S = 5.0
# The documented sustained limits, in the units the pacer spends (Binance: request weight).
LIMIT_PER_S = {"coinbase": 10.0, "binance": 6000 / 60, "kraken": 1.0}  # Kraken: per pair
LIMIT_TEXT = {
    "coinbase": "10 requests/s per IP",
    "binance": "6000 weight/min per IP",
    "kraken": "1 Trades call/s per IP and pair",
}
WEIGHT = {"coinbase": 1, "binance": 25, "kraken": 1}  # units per trades request
SHARE_BUDGET = 0.90
USED_HEADER = "x-mbx-used-weight-1m"


@dataclass
class Walker:
    """One worker: pages through one product from `start`, back to `start` at the end."""

    connector: Connector
    product: str
    start: Cursor | None
    forward: bool  # Kraken pages newer (`since`), the others older
    counters: HttpCounters
    trades: int = 0
    pages: int = 0
    error: str = ""
    peak_used: int = 0  # the highest X-MBX-USED-WEIGHT-1M seen (Binance's own count)
    cursor: Cursor | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.cursor = self.start

    def step(self) -> None:
        page: Page = self.connector.fetch_page(self.product, self.cursor)
        self.trades += len(page.trades)
        self.pages += 1
        used = next((v for k, v in page.headers.items() if k.lower() == USED_HEADER), "")
        self.peak_used = max(self.peak_used, int(used) if used.isdigit() else 0)
        following = page.newer if self.forward else page.older
        self.cursor = following if following is not None else self.start

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.step()
        except Exception as exc:  # reported in the figure's note; the other workers go on
            self.error = f"{type(exc).__name__}: {exc}"


def _connector(exchange: str, urls: dict[str, str], paced: bool, **kw: Any) -> Connector:
    """A connector as landing builds one; `kw`: session, counters, pacers, ban_store, retry."""
    rate_limits = {} if paced else dict.fromkeys(EXCHANGES, 0)
    settings = load_settings(env={}, exchange_urls=urls, rate_limits=rate_limits)
    return load_connector(exchange, settings, **kw)


def _starts(connector: Connector, product: str, slices: int, info: dict[str, Any]) -> list[Cursor]:
    """`slices` start cursors spread evenly over the product's history, newest first."""
    newest = connector.fetch_page(product)
    if connector.name == "kraken":
        origin, top = int(info["history_start_ns"]), max(t.time_ns for t in newest.trades)
        return [Cursor("since", str(origin + (top - origin) * i // slices)) for i in range(slices)]
    (spec,) = [p for p in info["products"][connector.name] if p["symbol"] == product]
    first, top = int(spec["first_id"]), max(t.trade_id for t in newest.trades)
    param = "after" if connector.name == "coinbase" else "fromId"
    return [Cursor(param, str(top - (top - first) * i // slices)) for i in range(slices)]


def _fetch_parse(sim: SimProcess, info: dict[str, Any]) -> list[Result]:
    results = []
    for exchange in EXCHANGES:
        counters = HttpCounters()
        connector = _connector(
            exchange,
            sim.urls,
            False,
            session=new_session(),
            counters=counters,
            pacers=PacerRegistry(),
            ban_store=MemoryBanStore(),
        )
        product = FAST_PRODUCTS[exchange]
        start = _starts(connector, product, 1, info)[0] if exchange == "kraken" else None
        walker = Walker(connector, product, start, exchange == "kraken", counters)
        walker.step()  # connection up, first blocks generated
        walker.trades = walker.pages = 0
        started = time.perf_counter()
        while walker.trades < FAST_TRADES:
            walker.step()
        seconds = time.perf_counter() - started
        results.append(
            Result(
                f"{exchange} fetch + parse from the unthrottled simulator, 1 thread",
                walker.trades / seconds,
                "trades/s",
                note=f"{walker.trades:,} trades in {walker.pages} pages, {seconds:.1f}s; "
                f"{counters.snapshot()['retries']:.0f} retries; simulator in its own process",
            )
        )
    return results


def _totals(walkers: list[Walker]) -> dict[str, float]:
    out = dict.fromkeys(HttpCounters.FIELDS, 0.0)
    for w in walkers:
        for k, v in w.counters.snapshot().items():
            out[k] += v
    return out


def _refusals(stats: dict[str, Any], exchange: str) -> tuple[int, int, int]:
    """(429s, 418s, limiter refusals) the simulator answered for `exchange`."""
    by_status: dict[str, int] = {}
    for statuses in stats["requests"].get(exchange, {}).values():
        for status, n in statuses.items():
            by_status[status] = by_status.get(status, 0) + n
    return by_status.get("429", 0), by_status.get("418", 0), int(stats["refused"].get(exchange, 0))


def _pacing(sim: SimProcess, info: dict[str, Any], minutes: int) -> list[Result]:
    # One session, pacer registry and ban store shared by every worker: backfill's arrangement.
    # All three are private to this run and in memory, so a ban (there should be none) dies with it.
    shared = {"session": new_session(), "pacers": PacerRegistry(), "ban_store": MemoryBanStore()}
    walkers: dict[str, list[Walker]] = {}
    for exchange in EXCHANGES:
        products = PACED_PRODUCTS[exchange]
        per_product = PACED_WORKERS[exchange] // len(products) or 1
        extra = PACED_WORKERS[exchange] - per_product * len(products)
        walkers[exchange] = []
        for i, product in enumerate(products):
            slices = per_product + (1 if i < extra else 0)
            probe = _connector(exchange, sim.urls, True, **shared)
            for start in _starts(probe, product, slices, info):
                counters = HttpCounters()
                connector = _connector(exchange, sim.urls, True, counters=counters, **shared)
                walkers[exchange].append(Walker(connector, product, start, exchange == "kraken", counters))
    everyone = [w for ws in walkers.values() for w in ws]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in everyone]
    for t in threads:
        t.start()
    time.sleep(WARM_UP_S)
    # Binance counts weight per wall-clock minute, so its figure is taken over whole minutes:
    # marks at the warm-up's end, at the next minute and `minutes` minutes after that.
    opened = _mark(walkers)
    boundary = math.ceil(opened[0] / 60) * 60
    marks = [_mark(walkers, until=boundary + 60 * m) for m in range(minutes + 1)]
    stop.set()
    for t in threads:
        t.join(timeout=30)
    stats = sim.admin("GET", "stats")
    results = []
    for exchange in EXCHANGES:
        first = marks[0] if exchange == "binance" else opened
        seconds = marks[-1][0] - first[0]
        requests = marks[-1][1][exchange] - first[1][exchange]
        pairs = len(PACED_PRODUCTS[exchange]) if exchange == "kraken" else 1
        allowed = LIMIT_PER_S[exchange] * pairs
        achieved = requests * WEIGHT[exchange] / seconds
        share = achieved / allowed
        ws = walkers[exchange]
        whole = _totals(ws)
        s429, s418, refused = _refusals(stats, exchange)
        errors = [w.error for w in ws if w.error]
        clean = s429 == s418 == refused == 0 and whole["throttled"] == 0 and not errors
        unit = "weight" if exchange == "binance" else "requests"
        span = f"{minutes} whole minute(s)" if exchange == "binance" else f"{seconds:.0f}s"
        note = (
            f"{achieved:.2f} {unit}/s of {allowed:g} ({LIMIT_TEXT[exchange]}"
            f"{f' x {pairs} pairs' if pairs > 1 else ''}) over {span}, {len(ws)} workers; "
            f"simulator: {s429} x 429, {s418} x 418, {refused} refused; "
            f"client: {whole['throttled']:.0f} throttled, {whole['retries']:.0f} retries"
        )
        if exchange == "binance":
            note += f"; X-MBX-USED-WEIGHT-1M peaked at {max(w.peak_used for w in ws)}"
        if errors:
            note += f"; {len(errors)} worker(s) stopped: {errors[0][:200]}"
        results.append(
            Result(
                f"{exchange} pacing against the simulator's real limits",
                100 * share,
                "% of the allowed rate",
                budget=f">= {SHARE_BUDGET:.0%} of the allowed rate, zero 429/418",
                ok=share >= SHARE_BUDGET and clean,
                note=note,
            )
        )
    return results


def _mark(walkers: dict[str, list[Walker]], until: float | None = None) -> tuple[float, dict[str, float]]:
    """(wall-clock time, requests sent so far per exchange), at `until` if given."""
    if until is not None:
        time.sleep(max(0.0, until - time.time()))
    return time.time(), {x: _totals(ws)["requests"] for x, ws in walkers.items()}


def _sim(limits: str, rate: Callable[[str], int], history: str) -> SimProcess:
    flags = ["--clock", "manual", "--history", history, "--rate-limits", limits, "--spike-at", "none"]
    for exchange in EXCHANGES:
        for product in PACED_PRODUCTS[exchange]:
            flags += ["--product-rate", f"{exchange}:{product}={rate(product)}"]
    return SimProcess(*flags)


def run(workdir: Path) -> list[Result]:
    minutes = int(os.environ.get("SCHEMAHUB_BENCH_PACING_MINUTES", "1"))
    fast = set(FAST_PRODUCTS.values())
    results = []
    with _sim("off", lambda p: FAST_RATE if p in fast else 1, "1h") as sim:
        results += _fetch_parse(sim, sim.admin("GET", "info"))
    with _sim("real", lambda p: PACED_RATE, "3h") as sim:
        results += _pacing(sim, sim.admin("GET", "info"), minutes)
    return results
