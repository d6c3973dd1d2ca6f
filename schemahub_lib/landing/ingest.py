"""The scheduled micro-batch: land every trade after each stream's watermark.

Per stream (see stream.py and backward.py for the walks):

* No watermark (cold start): land the last `cold_start_minutes` (default 90) and no further:
  newest-first down to `now - window` where the connector walks back by id, forward from it
  where it pages by time.
  An interrupted cold start is finished first.
* A watermark: land everything after it, however old (a warning says when the catch-up is
  longer than the cold-start window). Where the connector trusts its newer cursor the walk
  pages forward from it; otherwise it walks newest-first down to it. `max_catch_up_minutes`
  caps it on purpose: the skipped ids are recorded in the stream state, and audit reports them.
* `skip_checkpoint`: do not resume from an old watermark: same as capping the catch-up at the
  cold-start window. Trades already landed are never landed again.
* `before_id`/`after_id` bound the trade ids landed this run (`after_id` above the watermark
  skips the ids between on purpose, like a cap).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from schemahub_lib.connectors.base import Page
from schemahub_lib.errors import ConfigError
from schemahub_lib.landing.backward import walk_down, walk_up
from schemahub_lib.landing.context import LandingContext, iso, pid_alive, select_products
from schemahub_lib.landing.execute import LandingReport, error_text, finish, run_streams
from schemahub_lib.landing.forward import cursor_proof, walk_forward
from schemahub_lib.landing.options import IngestOptions
from schemahub_lib.landing.plan import plan_ingest
from schemahub_lib.landing.runs import ALL, RunLog, RunRow, options_json, repair_interrupted
from schemahub_lib.landing.stream import StreamInterrupted, StreamRun, StreamSkipped, StreamStopped
from schemahub_lib.landing.watermarks import WatermarkLog
from schemahub_lib.landing.writer import raw_table_name
from schemahub_lib.logs import log_event
from schemahub_lib.settings import Settings

NS_PER_MIN = 60 * 10**9
_log = logging.getLogger("schemahub")


IngestReport = LandingReport


@dataclass(frozen=True)
class Follow:
    """Keep every stream's micro-batch going until `stop` is set (`schemahub explore --live`).

    Each stream walks from its watermark to the newest trade every `poll_s` seconds, with its
    changes held in memory and committed once per `flush_seconds` (StreamRun `hold`), so the
    raw tables get one commit per stream per interval. `on_page(stream_run, page)` sees every
    page fetched: the live board reads the trades landing fetched, never fetching them again.

    A walk fails on what would fail the stream without `Follow` (errors its retries did not
    recover from: the HTTP retries in http.py, the contradiction re-asks in contiguity.py, the
    commit retries in retry.py; errors they absorbed never reach here). Without `on_error` the
    stream fails at once. With it, `on_error` is told (the board shows the outage), what the
    stream holds is committed, its state is read back from the table and the next walk starts
    at the watermark again (see `follow_stream`). Honest endings:

    * still failing when following stops: the stream is `failed` with its last error, worded as
      without `Follow`, plus how many walks failed since when; the run exits 1;
    * a later walk landed everything from the watermark to the newest trade: contiguity is
      proven again, so the stream ends `ok`, its error field noting each outage it recovered
      from ("recovered at T: N walk(s) failed from T0, the first with: ...").

    A walk still going when `stop` is set ends before its next page (StreamInterrupted), as on
    a fetch error: what it holds is landed, a complete range, and the next run resumes at the
    watermark (a rate-limited catch-up would otherwise outlast the stop). Not having reached
    the newest trade, the stream ends `interrupted` (not a failure: the run exits 0), or
    `failed` when its outage was still open.

    Either way `schemahub_runs` gets a `failed` row for the stream when an outage starts and an
    `ok` row when it ends, so `schemahub status` shows it while following goes on.
    """

    poll_s: float
    stop: threading.Event
    on_page: Callable[[StreamRun, Page], None] | None = None
    on_error: Callable[[StreamRun, Exception], None] | None = None  # a failed walk; the next goes on


@dataclass
class Outage:
    """Consecutive failed walks of one followed stream."""

    first: str  # the first walk's error, as the report words it
    since_ns: int
    last: Exception
    last_ns: int
    walks: int = 1

    def ended(self, now_ns: int) -> str:
        return (
            f"recovered at {iso(now_ns)}: {self.walks} walk(s) failed from {iso(self.since_ns)}, "
            f"the first with: {self.first}"
        )

    def unrecovered(self) -> Exception:
        """The last error, with a note saying how long the stream has been failing."""
        note = (
            f"{self.walks} walk(s) failed while following, from {iso(self.since_ns)} to "
            f"{iso(self.last_ns)}; what landed before is complete, up to the watermark"
        )
        if error_text(self.last) != self.first:
            note += f"; the first failed with: {self.first}"
        self.last.add_note(note)
        return self.last


RecordRow = Callable[[StreamRun, str, str], None]


def follow_stream(
    run: StreamRun, follow: Follow, options: IngestOptions, window: float, record: RecordRow
) -> None:
    """One stream's walks, every `follow.poll_s` until `follow.stop` (see `Follow`).
    `record(run, status, error)` appends the stream's row to `schemahub_runs`."""
    outage: Outage | None = None
    recovered: list[str] = []
    run.interrupt = follow.stop  # a walk in progress when following stops ends at its next page
    while not follow.stop.is_set():
        started = time.monotonic()
        try:
            ingest_stream(run, options, time.time_ns(), window)
        except (StreamStopped, StreamSkipped):
            raise  # another run moved the stream: stop following it
        except StreamInterrupted as stop:  # what it walked is landed; the next run goes on from there
            if outage is not None:
                break  # still failing: the stream ends failed, below
            text = (
                f"following stopped at {iso(time.time_ns())} in the middle of a walk, before the newest "
                "trade; what landed is contiguous and the next run resumes at the watermark"
            )
            raise StreamInterrupted("; ".join([text, *recovered])) from stop
        except Exception as exc:  # what would fail the stream without Follow
            if follow.on_error is None:
                raise
            follow.on_error(run, exc)
            now_ns = time.time_ns()
            if outage is None:
                outage = Outage(error_text(exc), now_ns, exc, now_ns)
                log_event("ingest.follow_failed", exchange=run.exchange, product=run.product.symbol,
                          error=outage.first)  # fmt: skip
                record(
                    run,
                    "failed",
                    f"{outage.first}; following goes on, walking again every {follow.poll_s:g} s",
                )
            else:
                outage.last, outage.last_ns, outage.walks = exc, now_ns, outage.walks + 1
            resume_at_watermark(run)
        else:
            if outage is not None:  # this walk landed everything from the watermark on
                note = outage.ended(time.time_ns())
                log_event(
                    "ingest.follow_recovered", exchange=run.exchange, product=run.product.symbol, note=note
                )
                recovered.append(note)
                run.stats.detail = "; ".join(recovered)
                record(run, "ok", note)
                outage = None
        if time.monotonic() - run.held_since() >= options.flush_seconds:
            run.release()  # quiet streams too commit once per interval
        follow.stop.wait(max(0.0, follow.poll_s - (time.monotonic() - started)))
    if outage is not None:
        raise outage.unrecovered()


def resume_at_watermark(run: StreamRun) -> None:
    """After a failed walk: commit what the stream holds (complete ranges), then take its state
    from the table, so the next walk starts at the watermark whatever the failure left in
    memory (a commit that failed leaves `state` ahead of the table: walking on from there
    would leave a gap)."""
    try:
        run.release()
        run.drain()
    except StreamStopped:
        raise
    except Exception as exc:  # what was held is not landed; the next walk fetches it again
        log_event("ingest.follow_commit_failed", exchange=run.exchange, product=run.product.symbol,
                  error=error_text(exc))  # fmt: skip
    run.state = run.committer.load_state().get(run.product.symbol)


def ingest_stream(run: StreamRun, options: IngestOptions, now_ns: int, window_min: float) -> None:
    """One stream's micro-batch (see the module docstring)."""
    state, exchange, connector = run.state, run.exchange, run.connector
    before, after = options.before_id, options.after_id
    # A forward walk stops at the run's "now": on a live market every page may hold a trade or
    # two newer than the last (a slow rate limit, Bitfinex's 15 a minute, never sees an empty
    # one); what trades after `now_ns` is the next run's.
    until = now_ns + 1
    start = connector.older_than(before) if before is not None and connector.walks_back else None
    # Finish what a killed or failed run left half done, then go on as usual.
    if state.down is not None and state.down.owner == "ingest":
        walk_down(run, owner="ingest", floor_ns=state.down.floor_ns)
    if run.state.up is not None:
        walk_up(run, floor_id=None, floor_ns=None, start=None)
        if run.state.up is not None:
            return  # stopped early again; the next run resumes it
    state = run.state
    if not state.has_block:
        floor_ns = now_ns - int(window_min * NS_PER_MIN)
        if connector.walks_back:
            if after is not None:
                walk_down(run, owner="ingest", floor_ns=None, floor_id=after, start=start)
            else:
                walk_down(run, owner="ingest", floor_ns=floor_ns, start=start)
        elif after is not None:
            raise ConfigError(f"{exchange} pages by time; --after TRADE_ID needs a watermark to start from")
        else:
            walk_forward(
                run, connector.from_time(floor_ns), floor_ns=floor_ns, stop_id=before, stop_ns=until,
                history=None if before is not None else cursor_proof(floor_ns),
            )  # fmt: skip
        return
    assert state.last is not None
    if before is not None and before <= state.last.trade_id + 1:
        return  # everything below `before` is landed
    lag_min = (now_ns - state.last.time_ns) / NS_PER_MIN
    cap = options.max_catch_up_minutes
    if options.skip_checkpoint:
        cap = min(cap, window_min) if cap is not None else window_min
    capped = cap is not None and lag_min > cap
    if lag_min > window_min and not capped:
        line = {
            "ts": round(time.time(), 3), "event": "ingest.long_catch_up", "level": "warning",
            "exchange": exchange, "product": run.product.symbol, "behind_minutes": round(lag_min, 1),
            "watermark": state.last.trade_id, "watermark_time": iso(state.last.time_ns),
            "note": "fetching everything after the watermark; pass --max-catch-up MINUTES to cap it",
        }  # fmt: skip
        _log.warning(json.dumps(line, separators=(",", ":")))  # log_event's shape, at WARNING
    cap_ns = now_ns - int(cap * NS_PER_MIN) if capped and cap is not None else None
    skip_to = after if after is not None and after > state.last.trade_id else None
    # An untrusted newer cursor (or a capped catch-up that can page back) walks down from the
    # newest trade to the watermark instead.
    if not connector.trusts_newer or (capped and connector.walks_back):
        floor_id = skip_to if skip_to is not None else state.last.trade_id
        walk_up(run, floor_id=floor_id, floor_ns=cap_ns, start=start)
    elif cap_ns is not None:
        walk_forward(run, connector.from_time(cap_ns), stop_id=before, stop_ns=until, gap=True)
    elif skip_to is not None:
        if connector.pages_by_time:  # no cursor reaches a trade id on a venue paged by time
            raise ConfigError(
                f"{exchange} pages by time: --after {skip_to} above the watermark {state.last.trade_id} "
                "cannot be reached by id; use --max-catch-up MINUTES to skip ahead"
            )
        walk_forward(run, connector.cursor_after(skip_to, 0, None), stop_id=before, stop_ns=until, gap=True)
    else:
        last = state.last
        cursor = connector.cursor_after(last.trade_id, last.time_ns, state.cursor)
        walk_forward(run, cursor, stop_id=before, stop_ns=until)


def run_ingest(settings: Settings, options: IngestOptions, follow: Follow | None = None) -> IngestReport:
    """Land new trades for the chosen streams; one raw snapshot per flush per stream.
    `follow`: keep landing until it says stop (see `Follow`); workers must cover the streams.

    Returns a report; `report.exit_code` is 1 when a stream failed (others still landed).
    """
    if options.workers < 1 or options.flush_trades < 1 or options.flush_seconds <= 0:
        raise ConfigError("--workers and --flush-trades must be >= 1 and --flush-seconds > 0")
    products = select_products(settings, options.seed_path, options.exchanges, options.products)
    window = (
        options.cold_start_minutes if options.cold_start_minutes is not None else settings.cold_start_minutes
    )
    if window <= 0:
        raise ConfigError(f"the cold-start window must be positive minutes, got {window}")
    now_ns = options.as_of_ns if options.as_of_ns is not None else time.time_ns()
    if options.dry_run:
        report = IngestReport("dry-run", dry_run=True)
        report.plan = plan_ingest(settings, products, options, now_ns, window)
        return report
    ctx = LandingContext(settings, "ingest", options.http_timeout_s)
    exchanges = sorted({p.exchange for p in products})
    ctx.ensure_tables(exchanges)
    started = time.monotonic()
    runs = RunLog(ctx.catalog, settings)
    started_us, pid = time.time_ns() // 1000, os.getpid()
    runs.append(
        [
            RunRow(
                ctx.run_id, "ingest", ALL, ALL, "running", started_us, pid=pid, options=options_json(options)
            )
        ]
    )
    repair_interrupted(runs, ctx.catalog, settings, [raw_table_name(e) for e in exchanges], pid_alive)
    for exchange in exchanges:
        WatermarkLog(ctx.catalog, settings).repair(exchange, ctx.committer(exchange).load_state(), ctx.run_id)
    log_event("ingest.start", run_id=ctx.run_id, streams=[f"{p.exchange}:{p.symbol}" for p in products],
              as_of=iso(now_ns), cold_start_minutes=window)  # fmt: skip

    def record(run: StreamRun, status: str, error: str) -> None:
        """A followed stream's outage starts or ends: say so in `schemahub_runs` now."""
        stats, now_us = run.stats, time.time_ns() // 1000
        row = RunRow(ctx.run_id, ctx.kind, run.exchange, run.product.symbol, status, started_us,
                     pages=stats.pages, trades=stats.trades, rejects=stats.rejects, commits=stats.commits,
                     error=error, finished_at_us=now_us, pid=pid)  # fmt: skip
        try:
            runs.append([row])
        except Exception as exc:  # the run's last rows say it again when following ends
            log_event("ingest.follow_record_failed", exchange=run.exchange, product=run.product.symbol,
                      status=status, error=error_text(exc))  # fmt: skip

    def body(run: StreamRun) -> None:
        if follow is None:
            ingest_stream(run, options, now_ns, window)
        else:
            follow_stream(run, follow, options, window, record)

    if follow is not None and options.workers < len(products):
        raise ConfigError(f"following {len(products)} streams needs as many workers, got {options.workers}")
    results = run_streams(
        ctx,
        products,
        body,
        workers=options.workers,
        flush_trades=options.flush_trades,
        flush_seconds=options.flush_seconds,
        page_limit=options.limit,
        now_ns=now_ns,
        on_page=None if follow is None else follow.on_page,
        hold=follow is not None,
    )
    report = IngestReport(ctx.run_id, results)
    finish(ctx, runs, report.streams, started, started_us, pid)
    return report
