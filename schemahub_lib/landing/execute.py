"""Running a set of streams on worker threads, with one result and one log line per stream.

A stream that fails stops alone: its error is recorded, the others go on, and the run's exit
code says so. Streams of one exchange share that exchange's pacer (http.py), so `workers`
bounds concurrency, not the request rate.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from schemahub_lib.connectors.base import Product
from schemahub_lib.errors import SchemaHubError
from schemahub_lib.http import HttpCounters
from schemahub_lib.landing.context import LandingContext
from schemahub_lib.landing.progress import Progress
from schemahub_lib.landing.runs import ALL, RunLog, RunRow
from schemahub_lib.landing.stream import StreamInterrupted, StreamRun, StreamSkipped, StreamStopped
from schemahub_lib.logs import log_event
from schemahub_lib.metrics import (
    StreamFigures,
    landing_metrics,
    load_metrics_sink,
    run_metrics,
    worst_lag,
)
from schemahub_lib.timespec import lag_seconds

_log = logging.getLogger("schemahub")
# Parsing a page allocates a few thousand containers per worker that all die with the page.
# At Python's default young-generation threshold (700) they outlive collections, get promoted,
# and set off full collections of the whole heap (pyarrow, pyiceberg): ~1.4 s per 1M trades,
# measured. Above the live set of a few pages in flight, young collections find only garbage.
YOUNG_GC_THRESHOLD = 50_000


@dataclass
class StreamResult:
    """What one stream did in one run."""

    exchange: str
    product: str
    status: str  # ok | failed | conflict | superseded | skipped | interrupted (a followed walk)
    pages: int = 0
    trades: int = 0
    rejects: int = 0
    retries: int = 0
    requests: int = 0
    throttled: int = 0
    commits: int = 0
    seconds: float = 0.0
    lag_seconds: float | None = None
    first_trade_id: int | None = None
    last_trade_id: int | None = None
    error: str | None = None

    def to_run_row(self, ctx: LandingContext, started_us: int, finished_us: int, pid: int) -> RunRow:
        return RunRow(
            ctx.run_id, ctx.kind, self.exchange, self.product, self.status, started_us,
            pages=self.pages, trades=self.trades, rejects=self.rejects, retries=self.retries,
            commits=self.commits, seconds=self.seconds, lag_seconds=self.lag_seconds,
            first_trade_id=self.first_trade_id, last_trade_id=self.last_trade_id, error=self.error,
            finished_at_us=finished_us, pid=pid,
        )  # fmt: skip


StreamBody = Callable[[StreamRun], None]


@dataclass
class LandingReport:
    """What one ingest or backfill run did: its streams, or its plan on a dry run."""

    run_id: str
    streams: list[StreamResult] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def failed(self) -> list[StreamResult]:
        return [s for s in self.streams if s.status == "failed"]

    @property
    def trades(self) -> int:
        return sum(s.trades for s in self.streams)

    @property
    def rejects(self) -> int:
        return sum(s.rejects for s in self.streams)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def run_streams(
    ctx: LandingContext,
    products: Sequence[Product],
    body: StreamBody,
    *,
    workers: int,
    flush_trades: int,
    flush_seconds: float,
    page_limit: int | None,
    now_ns: int,
    progress: Progress | None = None,
    span: Callable[[StreamRun], tuple[int, int] | None] | None = None,
    on_page: Callable[[StreamRun, Any], None] | None = None,
    hold: bool = False,
) -> list[StreamResult]:
    """Run `body` for every product's stream, `workers` at a time; results in product order.

    A stream's lag is `status`'s: how far its newest landed trade is behind now (`now_ns`, moved
    on by the time the run has taken), never negative."""
    began = time.monotonic_ns()

    def one(product: Product) -> StreamResult:
        counters = HttpCounters()
        started = time.monotonic()
        key = f"{product.exchange}:{product.symbol}"
        result = StreamResult(product.exchange, product.symbol, "ok")
        run: StreamRun | None = None
        try:
            committer = ctx.committer(product.exchange)
            state = committer.load_state().get(product.symbol)
            run = StreamRun(
                product,
                ctx.connector(product.exchange, counters, page_limit),
                committer,
                state,
                flush_trades=flush_trades,
                flush_seconds=flush_seconds,
                on_progress=None if progress is None else lambda r, n: progress.update(key, n, r.position_ns),
                on_page=on_page,
                hold=hold,
            )
            if progress is not None:
                progress.start(key, span(run) if span else None, run)
            body(run)
        except StreamSkipped as skip:
            result.status, result.error = "skipped", str(skip)
        except StreamStopped as stop:
            result.status = stop.outcome.status
            result.error = stop.outcome.detail
        except StreamInterrupted as stop:  # following stopped mid-walk: landed what it walked
            result.status, result.error = "interrupted", str(stop)
        except Exception as exc:  # a bug in one stream must not stop the others
            if not isinstance(exc, SchemaHubError):
                _log.debug("stream %s failed", key, exc_info=True)
            result.status, result.error = "failed", error_text(exc)
        finally:
            if progress is not None and run is not None:
                progress.finish(key)
            if run is not None:
                try:
                    run.close()
                    run.committer.watermarks.flush(force=True)
                except Exception as exc:  # raw commits stand; the next run repairs the watermark log
                    result.status, result.error = "failed", f"finishing the stream failed: {exc}"
        http = counters.snapshot()
        result.seconds = round(time.monotonic() - started, 3)
        result.requests, result.retries, result.throttled = (
            int(http["requests"]),
            int(http["retries"]),
            int(http["throttled"]),
        )
        if run is not None:
            stats, state = run.stats, run.state
            result.pages, result.trades, result.rejects, result.commits = (
                stats.pages,
                stats.trades,
                stats.rejects,
                stats.commits,
            )
            if result.status == "ok" and stats.detail:
                result.error = stats.detail  # what the stream recovered from (ingest's `Follow`)
            result.first_trade_id = state.first.trade_id if state.first else None
            result.last_trade_id = state.last.trade_id if state.last else None
            if state.last is not None:
                result.lag_seconds = lag_seconds(now_ns + time.monotonic_ns() - began, state.last.time_ns)
        log_event(f"{ctx.kind}.stream", run_id=ctx.run_id, **asdict(result))
        return result

    with young_gc_threshold(YOUNG_GC_THRESHOLD):
        if workers <= 1 or len(products) <= 1:
            return [one(p) for p in products]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{ctx.kind}") as pool:
            return list(pool.map(one, products))


@contextlib.contextmanager
def young_gc_threshold(threshold: int) -> Iterator[None]:
    """Collect the young generation after `threshold` net allocations (at least); restored after."""
    before = gc.get_threshold()
    gc.set_threshold(max(threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def error_text(exc: BaseException) -> str:
    """A stream's error as its report and run row give it: ours as they word themselves (they
    name the exchange, URL and what came back), anything else with its type; notes appended."""
    notes = getattr(exc, "__notes__", None) or []
    text = "; ".join([str(exc), *notes])
    return text if isinstance(exc, SchemaHubError) else f"{type(exc).__name__}: {text}"


def finish(
    ctx: LandingContext, runs: RunLog, results: list[StreamResult], started: float, started_us: int, pid: int
) -> None:
    """Runs rows, metrics and the summary line every landing run ends with."""
    seconds = round(time.monotonic() - started, 3)
    failed = [r for r in results if r.status == "failed"]
    finished_us = time.time_ns() // 1000
    rows = [r.to_run_row(ctx, started_us, finished_us, pid) for r in results]
    rows.append(
        RunRow(ctx.run_id, ctx.kind, ALL, ALL, "failed" if failed else "ok", started_us,
               pages=sum(r.pages for r in results), trades=sum(r.trades for r in results),
               rejects=sum(r.rejects for r in results), retries=sum(r.retries for r in results),
               commits=sum(r.commits for r in results), seconds=seconds, finished_at_us=finished_us, pid=pid,
               error="; ".join(f"{r.exchange}:{r.product}: {r.error}" for r in failed) or None)
    )  # fmt: skip
    runs.append(rows)
    sink = load_metrics_sink(ctx.settings)
    figures = [StreamFigures(r.exchange, r.product, r.trades, r.rejects, r.lag_seconds) for r in results]
    sink.put([*landing_metrics(figures), *run_metrics(ctx.kind, seconds, not failed)])
    worst = worst_lag(figures)
    log_event(
        f"{ctx.kind}.summary", run_id=ctx.run_id, streams=len(results), failed=len(failed),
        conflicts=sum(r.status in ("conflict", "superseded") for r in results),
        trades=sum(r.trades for r in results), rejects=sum(r.rejects for r in results),
        pages=sum(r.pages for r in results), seconds=seconds,
        worst_stream=f"{worst.exchange}:{worst.symbol}" if worst else None,
        worst_lag_s=worst.lag_s if worst else None,
    )  # fmt: skip
    if failed:
        print(f"schemahub {ctx.kind}: {len(failed)} stream(s) failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r.exchange} {r.product}: {r.error}", file=sys.stderr)
