"""The explorer's ASGI app: routes requests to the read side and the tested functions.

Handlers parse and whitelist the request (a market must be one `trades_unified` holds, times
must parse, a snapshot must exist), call plain functions, and return JSON. Bad input is a 4xx
with `{"error": message}`; an unexpected failure is a 500 with the error's type only, logged
here with its traceback, never sent. Static files come only from this package's `static/`.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from schemahub_lib.errors import SchemaHubError
from schemahub_lib.explore import events, replay
from schemahub_lib.explore.source import ExploreError, MarketKey, Source, load_source
from schemahub_lib.explore.stats import collect_stats
from schemahub_lib.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGES = {"/": "index.html", "/stats": "stats.html", "/live": "live.html"}
log = logging.getLogger(__name__)


class Explorer:
    """The state behind the routes: one read source and a small cache keyed by snapshot."""

    def __init__(self, settings: Settings, source: Source | None = None, live: Any = None) -> None:
        self.settings = settings
        self.source = source or load_source(settings)
        self.live = live
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        snapshots = self.source.snapshots()
        current = snapshots[-1]["snapshot_id"] if snapshots else None
        full = (*key, current)
        with self._lock:
            if full in self._cache:
                return self._cache[full]
        value = compute()
        with self._lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[full] = value
        return value

    def markets(self, as_of: int | None) -> dict[MarketKey, int]:
        self.source.check_snapshot(as_of)
        return self._cached(("markets", as_of), lambda: self.source.market_counts(as_of))  # type: ignore[no-any-return]

    def catalog(self, as_of: int | None) -> dict[str, Any]:
        counts = self.markets(as_of)
        assets: dict[str, list[dict[str, Any]]] = {}
        for m, n in sorted(counts.items(), key=lambda kv: (kv[0].base, kv[0].exchange, kv[0].symbol)):
            assets.setdefault(m.base, []).append(
                {"market": m.name, "exchange": m.exchange, "symbol": m.symbol, "quote": m.quote, "rows": n}
            )
        return {"assets": assets, "snapshots": self.source.snapshots()}

    def warm(self) -> threading.Thread:
        """Compute the markets and every asset's events of the current snapshot in the
        background, so the first page load finds them cached."""

        def run() -> None:
            try:
                for asset in self.catalog(None)["assets"]:
                    self.events(asset, None)
            except SchemaHubError as exc:  # no table yet: the page says so when opened
                log.info("explore: nothing to warm: %s", exc)
            except Exception:
                log.warning("explore: warming the cache failed", exc_info=True)

        thread = threading.Thread(target=run, name="explore-warm", daemon=True)
        thread.start()
        return thread

    def pick(self, asset: str | None, names: str | None, as_of: int | None) -> list[MarketKey]:
        """The requested markets, each checked against what the table holds (the whitelist)."""
        counts = self.markets(as_of)
        if not counts:
            raise ExploreError("trades_unified is empty: nothing to replay yet", 404)
        bases = sorted({m.base for m in counts})
        if not asset or asset.upper() not in bases:
            raise ExploreError(f"unknown asset {asset!r}; the table holds: {', '.join(bases)}", 404)
        of_asset = [m for m in counts if m.base == asset.upper()]
        if not names:
            return sorted(of_asset, key=lambda m: m.name)
        known = {m.name: m for m in of_asset}
        picked = []
        for name in names.split(","):
            if name not in known:
                raise ExploreError(
                    f"unknown market {name!r} for {asset}; known: {', '.join(sorted(known))}", 404
                )
            picked.append(known[name])
        return picked

    def events(self, asset: str | None, as_of: int | None) -> list[dict[str, Any]]:
        markets = self.pick(asset, None, as_of)

        def compute() -> list[dict[str, Any]]:
            binned = self.source.bin_ranges(markets, events.BIN_S, as_of)
            return [e.as_dict() for e in events.rank_bins(binned)]

        return self._cached(("events", tuple(markets), as_of), compute)  # type: ignore[no-any-return]

    def window_trades(self, q: dict[str, str]) -> tuple[replay.Window, dict[MarketKey, Any]]:
        as_of = parse_snapshot(q.get("as_of"))
        markets = self.pick(q.get("asset"), q.get("markets"), as_of)
        window = replay.clamp_window(parse_time(q.get("start"), "start"), parse_time(q.get("end"), "end"))
        trades = self.source.trades(markets, window.start_ns, window.end_ns, as_of)
        if not any(len(t.t_ns) for t in trades.values()):
            first, last = self.source.span(markets[0].base, as_of)
            raise ExploreError(
                f"no trades of {', '.join(m.name for m in markets)} between "
                f"{_iso(window.start_ns)} and {_iso(window.end_ns)}; pick a time inside the data: "
                f"{markets[0].base} trades span {_text(first)} to {_text(last)}",
                404,
            )
        return window, trades

    def replay(self, q: dict[str, str]) -> dict[str, Any]:
        window, trades = self.window_trades(q)
        ledger = self.source.coverage_gaps(list(trades))
        return replay.build_replay(trades, window, ledger)

    def lead_lag(self, q: dict[str, str]) -> dict[str, Any]:
        _, trades = self.window_trades(q)
        return replay.lead_lag(trades)


def parse_time(value: str | None, name: str) -> int:
    """ISO 8601 (naive = UTC) or epoch milliseconds -> ns."""
    if not value:
        raise ExploreError(f"missing {name}: expected ISO 8601 (2026-01-05T12:00:00Z) or epoch ms")
    text = value.strip()
    try:
        if text.lstrip("-").isdigit():
            return int(text) * 1_000_000
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ExploreError(f"{name}: cannot read {value[:40]!r}; expected ISO 8601 or epoch ms") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1e9)


def parse_snapshot(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ExploreError(f"as_of: {value[:40]!r} is not a snapshot id") from None


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: Any) -> str:
    return (
        value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(value, datetime)
        else str(value)
    )


def build_app(explorer: Explorer) -> Starlette:
    """The Starlette app over one `Explorer`."""

    def api(compute: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            q = dict(request.query_params)
            return JSONResponse(await run_in_threadpool(compute, q))

        return endpoint

    def page(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-store"})

        return endpoint

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes: list[BaseRoute] = [Route(path, page(name)) for path, name in PAGES.items()]
    routes.append(Route("/favicon.ico", no_icon))
    routes += [
        Route("/api/markets", api(lambda q: explorer.catalog(parse_snapshot(q.get("as_of"))))),
        Route("/api/events", api(lambda q: explorer.events(q.get("asset"), parse_snapshot(q.get("as_of"))))),
        Route("/api/replay", api(explorer.replay)),
        Route("/api/leadlag", api(explorer.lead_lag)),
        Route("/api/stats", api(lambda q: collect_stats(explorer.settings, explorer.source))),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if explorer.live is not None:
        routes += explorer.live.routes()
    else:

        async def live_off(request: Request) -> Response:
            message = "the live detector is off: start the explorer with `schemahub explore --live`"
            return JSONResponse({"error": message}, status_code=404)

        routes += [Route("/api/live", live_off), Route("/api/live/stream", live_off)]

    async def explore_error(request: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, ExploreError) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("explore: %s failed", request.url.path, exc_info=exc)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, 500)

    return Starlette(
        routes=routes,
        exception_handlers={SchemaHubError: explore_error, HTTPException: http_error, Exception: unexpected},
    )
