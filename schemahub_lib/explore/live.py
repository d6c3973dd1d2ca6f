"""`schemahub explore --live`: poll every venue of the seed, land what comes in, stream a board.

Three loops, in threads:

- one poller per exchange asks each seed market for its newest page of trades (the same
  connectors, HTTP client and process-wide pacers as landing, so the exchange's rate limit
  holds across pollers and lander), and keeps the last trade and the last few minutes of
  trades per market;
- the lander runs the normal micro-batch (`landing.ingest.run_ingest`: watermarks, exactly
  once) every `flush_s` seconds, so raw tables get one commit per stream per interval, not one
  per poll;
- the board loop recomputes the discrepancy board (`discrepancy.board`) twice a second, turns
  flags into episodes and appends every ended episode to `schemahub_discrepancies`;
- the lead-lag loop measures lead-lag per asset on the recent trades every few seconds
  (`leadlag.estimate_lead_lag`), or says why it cannot (too few trades yet).

The page subscribes to `/api/live/stream` (server-sent events) and draws each board it gets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import Product, load_connector
from schemahub_lib.explore.discrepancy import Episode, EpisodeTracker, Quote, board
from schemahub_lib.explore.leadlag import MIN_TRADES, estimate_lead_lag
from schemahub_lib.http import RetryPolicy
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables

EPISODES_TABLE = "schemahub_discrepancies"
RECENT_S = 300  # trades kept per market for lead-lag
LEADLAG_EVERY_S = 5.0
BOARD_EVERY_S = 0.5
log = logging.getLogger(__name__)


class Monitor:
    """The live detector over the seed's markets (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        products: list[Product],
        *,
        threshold_bps: float,
        stale_s: float,
        poll_s: float = 1.0,
        flush_s: float = 30.0,
        cold_start_minutes: float = 5.0,
        seed_path: str | None = None,
    ) -> None:
        self.settings = settings
        self.products = products
        self.threshold_bps = threshold_bps
        self.stale_s = stale_s
        self.poll_s = poll_s
        self.flush_s = flush_s
        self.cold_start_minutes = cold_start_minutes
        self.seed_path = seed_path
        self.price_column = price_columns(settings)
        self.tracker = EpisodeTracker(threshold_bps)
        self.quotes: dict[str, Quote] = {
            f"{p.exchange}:{p.symbol}": Quote(p.exchange, p.symbol, None, None, None) for p in products
        }
        self.recent: dict[str, dict[int, tuple[int, float]]] = defaultdict(dict)
        self.leaders: dict[str, str] = {
            p.base: f"lead-lag: first measurement {LEADLAG_EVERY_S:.0f} s after start" for p in products
        }
        self.rows: list[dict[str, Any]] = []
        self.episodes: list[dict[str, Any]] = []  # the latest written, newest first
        self.version = 0
        self.landed: dict[str, Any] = {"runs": 0, "trades": 0, "last_error": None}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        init_tables(load_catalog(self.settings), self.settings)
        by_exchange: dict[str, list[Product]] = defaultdict(list)
        for p in self.products:
            by_exchange[p.exchange].append(p)
        targets: list[tuple[str, Any, tuple[Any, ...]]] = [
            (f"poll-{x}", self._poll_loop, (x, ps)) for x, ps in sorted(by_exchange.items())
        ]
        targets += [
            ("land", self._land_loop, ()),
            ("board", self._board_loop, ()),
            ("leadlag", self._leadlag_loop, ()),
        ]
        for name, fn, args in targets:
            t = threading.Thread(target=fn, args=args, name=f"explore-live-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        self._write(self.tracker.close_all(time.time_ns()))

    # ---- loops ----------------------------------------------------------------------------

    def _poll_loop(self, exchange: str, products: list[Product]) -> None:
        retry = RetryPolicy(max_attempts=2, base_delay_s=0.2, max_delay_s=1.0, max_retry_after_s=5.0)
        connector = load_connector(exchange, self.settings, retry=retry)
        column = self.price_column[exchange]
        while not self._stop.is_set():
            started = time.monotonic()
            for p in products:
                if self._stop.is_set():
                    return
                key = f"{p.exchange}:{p.symbol}"
                try:
                    page = connector.fetch_page(p.exchange_symbol, None)
                except Exception as exc:
                    with self._lock:
                        self.quotes[key] = _with_error(self.quotes[key], f"{type(exc).__name__}: {exc}"[:200])
                    continue
                self._take(key, p, [(t.trade_id, t.time_ns, float(t.record[column])) for t in page.trades])
            self._stop.wait(max(0.0, self.poll_s - (time.monotonic() - started)))

    def _take(self, key: str, product: Product, trades: list[tuple[int, int, float]]) -> None:
        now = time.time_ns()
        with self._lock:
            old = self.quotes[key]
            recent = self.recent[key]
            for trade_id, t_ns, price in trades:
                recent[trade_id] = (t_ns, price)
            cutoff = now - RECENT_S * 1_000_000_000
            for trade_id in [i for i, (t, _) in recent.items() if t < cutoff]:
                del recent[trade_id]
            newest = max(trades, key=lambda t: (t[1], t[0]), default=None)
            if newest is not None and (old.trade_ns is None or newest[1] >= old.trade_ns):
                self.quotes[key] = Quote(product.exchange, product.symbol, newest[2], newest[1], now)
            else:
                self.quotes[key] = Quote(product.exchange, product.symbol, old.price, old.trade_ns, now)

    def _land_loop(self) -> None:
        from schemahub_lib.landing.ingest import IngestOptions, run_ingest

        options = IngestOptions(
            workers=2,
            cold_start_minutes=self.cold_start_minutes,
            seed_path=self.seed_path,
            flush_seconds=self.flush_s,
        )
        while not self._stop.is_set():
            try:
                report = run_ingest(self.settings, options)
                self.landed["runs"] += 1
                self.landed["trades"] += report.trades
                self.landed["last_error"] = None
            except Exception as exc:
                log.warning("explore --live: landing failed: %s", exc)
                self.landed["last_error"] = str(exc)[:300]
            self._stop.wait(self.flush_s)

    def _board_loop(self) -> None:
        while not self._stop.is_set():
            now = time.time_ns()
            with self._lock:
                quotes = list(self.quotes.values())
                leaders = dict(self.leaders)
            rows = board(quotes, now, threshold_bps=self.threshold_bps, stale_s=self.stale_s, leaders=leaders)
            ended = self.tracker.update(rows, now)
            with self._lock:
                self.rows = rows
                self.version += 1
            self._write(ended)
            self._stop.wait(BOARD_EVERY_S)

    def _leadlag_loop(self) -> None:
        """Lead-lag per asset every LEADLAG_EVERY_S, apart from the board: it may take a while."""
        while not self._stop.wait(LEADLAG_EVERY_S):
            try:
                self._measure_lead_lag()
            except Exception as exc:  # the page says so instead of waiting forever
                log.warning("explore --live: lead-lag failed", exc_info=True)
                with self._lock:
                    for base in {p.base for p in self.products}:
                        self.leaders[base] = f"lead-lag failed: {type(exc).__name__}: {exc}"[:200]

    def _measure_lead_lag(self) -> None:
        """Each asset's busiest market against each other one, over the last RECENT_S seconds;
        the text says why when there is no answer (too few trades, no lead)."""
        with self._lock:
            recent = {k: sorted(v.values()) for k, v in self.recent.items()}
        by_base: dict[str, list[str]] = defaultdict(list)
        for p in self.products:
            by_base[p.base].append(f"{p.exchange}:{p.symbol}")
        found = {}
        for base, keys in by_base.items():
            ranked = sorted(keys, key=lambda k: -len(recent.get(k, ())))
            texts = []
            for other in ranked[1:]:
                a, b = recent.get(ranked[0], []), recent.get(other, [])
                name_a, name_b = _venue(ranked[0], keys), _venue(other, keys)
                r = estimate_lead_lag(
                    name_a,
                    np.array([t for t, _ in a], dtype=np.int64),
                    np.array([p for _, p in a]),
                    name_b,
                    np.array([t for t, _ in b], dtype=np.int64),
                    np.array([p for _, p in b]),
                )
                if r is None:
                    texts.append(
                        f"{name_a} vs {name_b}: too few trades in the last {RECENT_S} s "
                        f"({len(a)} and {len(b)}; {MIN_TRADES} each needed)"
                    )
                else:
                    texts.append(r.text())
            found[base] = "; ".join(texts) if texts else f"lead-lag: {base} has one market only"
        with self._lock:
            self.leaders.update(found)

    def _write(self, episodes: list[Episode]) -> None:
        if not episodes:
            return
        catalog = load_catalog(self.settings)
        table = catalog.load_table(self.settings.table_id(EPISODES_TABLE))
        schema = table.schema().as_arrow()
        rows = [e.row() for e in episodes]
        table.append(pa.Table.from_pylist(rows, schema=schema))
        with self._lock:
            self.episodes = (rows + self.episodes)[:50]

    # ---- HTTP -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": self.version,
                "updated_ns": time.time_ns(),
                "threshold_bps": self.threshold_bps,
                "stale_s": self.stale_s,
                "rows": self.rows,
                "episodes": [
                    {
                        **e,
                        "start_ts": e["start_ts"].isoformat(),
                        "end_ts": e["end_ts"].isoformat(),
                        "recorded_at": e["recorded_at"].isoformat(),
                    }
                    for e in self.episodes
                ],
                "landed": dict(self.landed),
            }

    def routes(self) -> list[BaseRoute]:
        async def current(request: Request) -> Response:
            return JSONResponse(self.snapshot())

        async def stream(request: Request) -> Response:
            async def events() -> Any:
                seen = -1
                while not self._stop.is_set():
                    if await request.is_disconnected():
                        return
                    if self.version != seen:
                        snap = self.snapshot()
                        seen = snap["version"]
                        yield f"data: {json.dumps(snap)}\n\n"
                    await asyncio.sleep(0.2)

            return StreamingResponse(
                events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
            )

        return [Route("/api/live", current), Route("/api/live/stream", stream)]


def _venue(key: str, keys: list[str]) -> str:
    """`coinbase`, or `coinbase:BTC-USD` when the exchange has two markets of the asset."""
    exchange = key.split(":")[0]
    return exchange if sum(k.split(":")[0] == exchange for k in keys) == 1 else key


def _with_error(q: Quote, error: str) -> Quote:
    return Quote(q.exchange, q.symbol, q.price, q.trade_ns, q.answered_ns, error)


def price_columns(settings: Settings) -> dict[str, str]:
    """exchange -> the raw column its mapping turns into the unified `price`."""
    from schemahub_lib.mapping.loader import load_mappings

    out = {}
    for spec in load_mappings(settings.mappings_dir, ddl_dir=settings.ddl_dir):
        source = spec.rule("price").source
        if source is not None:
            out[spec.exchange] = source.name
    return out


def load_monitor(settings: Settings, *, threshold_bps: float, stale_s: float, **options: Any) -> Monitor:
    """A monitor over every market of the seed (`options.seed_path` or the settings' seed)."""
    from schemahub_lib.landing.context import select_products

    products = select_products(settings, options.get("seed_path"), (), ())
    return Monitor(settings, products, threshold_bps=threshold_bps, stale_s=stale_s, **options)
