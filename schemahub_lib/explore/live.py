"""`schemahub explore --live`: poll every venue of the seed, land what comes in, stream a board.

Three loops, in threads:

- landing is the one fetch path: the normal micro-batch (`landing.ingest.run_ingest`:
  connectors, pacers, watermarks, exactly once) following every seed stream (`Follow`): each
  stream walks from its watermark to the newest trade every `poll_s` seconds and commits what
  it walked once per `flush_s`, so raw tables get one commit per stream per interval. Every
  page it fetches is handed to the board (`_page`): the last trade and the last few minutes of
  trades per market; no market is fetched twice. A failed walk marks the market's quote with
  its error (`_error`) until a page comes again; a stream still failing when the monitor stops
  ends `failed` in landing's report, and `summary`/`exit_code` say so (`Follow` has the rules);
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
from schemahub_lib.connectors import Product
from schemahub_lib.explore.discrepancy import Episode, EpisodeTracker, Quote, board
from schemahub_lib.explore.leadlag import MIN_TRADES, estimate_lead_lag
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
        self.landed: dict[str, Any] = {
            "pages": 0, "trades": 0, "commits": 0, "held": 0, "flush_s": flush_s, "last_error": None
        }  # fmt: skip
        self.streams: dict[str, dict[str, int]] = {}
        self.reports: list[Any] = []  # landing's reports (IngestReport), one per run_ingest
        self.failures: list[str] = []  # landing runs that raised instead of reporting
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        init_tables(load_catalog(self.settings), self.settings)
        targets: list[tuple[str, Any, tuple[Any, ...]]] = [
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
            t.join(timeout=30)  # landing commits what it holds on its way out
            if t.name.endswith("-land") and t.is_alive():
                self.failures.append("landing did not end within 30 s of the stop: its runs are not recorded")
        self._write(self.tracker.close_all(time.time_ns()))

    @property
    def exit_code(self) -> int:
        """1 when a landing stream ended failed (see `landing.ingest.Follow`) or landing itself
        failed, as `schemahub ingest` exits; 0 otherwise."""
        return 1 if self.failures or any(r.failed for r in self.reports) else 0

    def summary(self) -> list[str]:
        """What landing did, stream by stream, for the terminal once the monitor stopped."""
        lines = []
        for report in self.reports:
            failed = len(report.failed)
            lines.append(
                f"schemahub explore --live: landing run {report.run_id}: {len(report.streams)} stream(s), "
                f"{failed} failed, {report.trades:,} trades landed"
            )
            for r in report.streams:
                lines.append(f"  {r.exchange:9} {r.product:10} {r.status:10} trades {r.trades:>9,}")
                if r.error:
                    lines.append(f"    {r.error}")
        lines += [f"schemahub explore --live: landing failed: {f}" for f in self.failures]
        return lines

    # ---- loops ----------------------------------------------------------------------------

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
        """The one fetch path: landing's micro-batch, following every stream (`Follow`). Each
        page it fetches feeds the board; its changes commit once per `flush_s`."""
        from schemahub_lib.landing.ingest import Follow, IngestOptions, run_ingest

        options = IngestOptions(
            workers=len(self.products),
            cold_start_minutes=self.cold_start_minutes,
            seed_path=self.seed_path,
            flush_seconds=self.flush_s,
        )
        follow = Follow(self.poll_s, self._stop, on_page=self._page, on_error=self._error)
        while not self._stop.is_set():
            try:
                report = run_ingest(self.settings, options, follow)
                self.reports.append(report)
                with self._lock:  # what the streams committed on their way out, held trades too
                    for r in report.streams:
                        self.streams[f"{r.exchange}:{r.product}"] = {
                            "trades": r.trades, "commits": r.commits, "held": 0
                        }  # fmt: skip
                    self.landed.update(
                        trades=sum(s["trades"] for s in self.streams.values()),
                        commits=sum(s["commits"] for s in self.streams.values()),
                        held=0,
                    )
                failed = "; ".join(f"{s.exchange}:{s.product}: {s.error}" for s in report.failed)
                self.landed["last_error"] = failed[:300] or None
            except Exception as exc:
                log.warning("explore --live: landing failed: %s", exc)
                self.failures.append(f"{type(exc).__name__}: {exc}")
                self.landed["last_error"] = str(exc)[:300]
            self._stop.wait(self.poll_s)  # a stream stopped (another run moved it): start again

    def _page(self, run: Any, page: Any) -> None:
        """A page landing fetched: its trades go to the board; the stream's landing figures too."""
        p = run.product
        key = f"{p.exchange}:{p.symbol}"
        column = self.price_column[p.exchange]
        self._take(key, p, [(t.trade_id, t.time_ns, float(t.record[column])) for t in page.trades])
        with self._lock:
            self.streams[key] = {"trades": run.stats.trades, "commits": run.stats.commits, "held": run.held}
            self.landed.update(
                trades=sum(s["trades"] for s in self.streams.values()),
                commits=sum(s["commits"] for s in self.streams.values()),
                held=sum(s["held"] for s in self.streams.values()),
                pages=self.landed["pages"] + 1,
            )

    def _error(self, run: Any, exc: Exception) -> None:
        key = f"{run.product.exchange}:{run.product.symbol}"
        with self._lock:
            self.quotes[key] = _with_error(self.quotes[key], f"{type(exc).__name__}: {exc}"[:200])

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
