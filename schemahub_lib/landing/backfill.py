"""Backfill: walk each stream's history below what is landed, down to `--since` or the start.

* An exchange whose connector walks back by id walks newest-first below the stream's lowest
  landed trade (its low-water mark); with nothing landed it starts from the newest trade (or
  below `--until`), which also sets the watermark ingest continues from.
* One that pages by time only goes forward: from `--since` (default: the start of its
  history) up to the lowest landed trade; with nothing landed, forward from `--since` to the
  newest trade (or `--until`).
* `--since` older than what the exchange serves (the connector's `history_s`, OKX's three
  months) is refused: an empty answer there would read as the start of history.
* Memory stays bounded: each stream flushes every `flush_trades` trades or `flush_seconds`,
  each flush one raw snapshot carrying the walk's progress. A killed backfill resumes with
  `--resume` from the last flush; without it an unfinished walk is an error, so two
  backfills with different bounds are never mixed.
* `workers` streams run at once; streams of one exchange share its pacer.
"""

from __future__ import annotations

import os
import sys
import time

from pyiceberg.expressions import BooleanExpression

from schemahub_lib.errors import ConfigError, StreamFailedError
from schemahub_lib.landing.backward import walk_down
from schemahub_lib.landing.context import LandingContext, iso, pid_alive, select_products
from schemahub_lib.landing.execute import LandingReport, finish, run_streams
from schemahub_lib.landing.filters import all_of, eq, ge, isin
from schemahub_lib.landing.forward import cursor_proof, walk_below, walk_forward
from schemahub_lib.landing.options import BackfillOptions
from schemahub_lib.landing.plan import plan_backfill
from schemahub_lib.landing.progress import Progress
from schemahub_lib.landing.runs import ALL, RunLog, RunRow, options_json, repair_interrupted
from schemahub_lib.landing.state import StreamState
from schemahub_lib.landing.stream import StreamRun, StreamSkipped
from schemahub_lib.landing.watermarks import WatermarkLog
from schemahub_lib.landing.writer import raw_table_name
from schemahub_lib.logs import log_event
from schemahub_lib.settings import Settings

BackfillReport = LandingReport


def backfill_stream(run: StreamRun, options: BackfillOptions) -> None:
    state, exchange = run.state, run.exchange
    since = options.since_ns
    if state.down is not None and state.down.owner == "ingest":
        raise StreamSkipped(
            "an ingest cold start is still walking this stream; run ingest to finish it first"
        )
    unfinished = state.below is not None or (state.down is not None and state.down.owner == "backfill")
    if unfinished and not options.resume:
        raise ConfigError(
            f"{exchange} {run.product.symbol} has an unfinished backfill ({state.describe()}); "
            "pass --resume to continue it"
        )
    if unfinished and since is None:  # resume with the bounds it started with
        since = (
            state.down.floor_ns if state.down is not None else (state.below.since_ns if state.below else None)
        )
    since = within_reach(run, since)
    history = state.history
    if (
        not unfinished
        and history is not None
        and history.complete
        and (history.since_ns is None or (since is not None and history.since_ns <= since))
    ):
        doubt = unproven(state)
        if doubt is None:
            check_lowest_landed(run)
            raise StreamSkipped(
                f"already backfilled to {iso(history.since_ns) or 'the start of history'} ({history.proof})"
            )
        log_event("backfill.unproven_history", exchange=exchange, product=run.product.symbol, reason=doubt,
                  note="walking below the lowest landed trade again")  # fmt: skip
    if state.has_block and options.until_ns is not None:
        log_event("backfill.until_ignored", exchange=exchange, product=run.product.symbol,
                  note="the stream has landed trades; backfill continues below them")  # fmt: skip
    if run.connector.walks_back:
        ceiling = None if state.has_block else options.until_ns
        walk_down(run, owner="backfill", floor_ns=since, ceiling_ns=ceiling)
    elif state.has_block:
        walk_below(run, since)
    else:
        start = run.connector.from_time(since or 0)
        walk_forward(run, start, stop_ns=options.until_ns, history=cursor_proof(since))


# How far inside an exchange's served history a clamped start stays: the edge moves while we walk.
REACH_MARGIN_NS = 86_400 * 10**9


def within_reach(run: StreamRun, since: int | None) -> int | None:
    """`since`, moved up to what the exchange still serves (`history_s`) when it is older or
    unbounded: beyond it an empty answer would read as the start of the exchange's history.
    "Now" is the exchange's: its newest trade (the stream's, or one request for it)."""
    depth = run.connector.history_s
    if depth is None:
        return since
    if run.state.last is not None:
        newest: int | None = run.state.last.time_ns
    else:
        trades = run.connector.fetch_page(run.product.exchange_symbol, None).trades
        newest = trades[-1].time_ns if trades else None
    if newest is None:
        return since  # nothing served: nothing to walk either
    oldest = newest - int(depth * 10**9) + REACH_MARGIN_NS
    if since is not None and since >= oldest:
        return since
    log_event("backfill.since_clamped", exchange=run.exchange, product=run.product.symbol,
              asked=iso(since) or "the start of history", since=iso(oldest),
              note=f"{run.exchange} serves only the last {depth / 86_400:g} days of trades")  # fmt: skip
    return oldest


def unproven(state: StreamState) -> str | None:
    """Why a "backfilled to" record cannot be trusted against the lowest trade landed, or None."""
    history, first = state.history, state.first
    if history is None or first is None:
        return "nothing landed"
    if history.proof is None:
        return "the record holds no evidence that nothing is missing below the lowest landed trade"
    before = history.before
    if before is not None and not (before.trade_id < first.trade_id and before.time_ns <= first.time_ns):
        return f"its evidence, trade {before.trade_id}, is not below the lowest landed trade {first.trade_id}"
    if before is not None and history.since_ns is not None and before.time_ns >= history.since_ns:
        return f"its evidence, trade {before.trade_id}, is not older than the start {iso(history.since_ns)}"
    return None


def check_lowest_landed(run: StreamRun) -> None:
    """The "backfilled to" record's evidence is about the stream's lowest landed trade, so raw
    must hold that trade. Rows gone from raw since (a delete, a restored table) leave raw's
    lowest trade without evidence: the stream fails and names the missing ids for
    `schemahub repair`, which refetches a missing head."""
    first, last = run.state.first, run.state.last
    if first is None or landed_ids(run, eq(run.connector.id_column, first.trade_id)):
        return
    above = landed_ids(run, ge(run.connector.id_column, first.trade_id))
    lowest = min(above) if above else None
    found = f"its lowest is {lowest}" if lowest is not None else "none of the stream's trades from it up"
    end = lowest - 1 if lowest is not None else (last.trade_id if last is not None else first.trade_id)
    raise StreamFailedError(
        f"{run.exchange} {run.product.symbol}: the 'backfilled to' record says trade {first.trade_id} "
        f"({iso(first.time_ns)}) is the lowest landed, but {raw_table_name(run.exchange)} holds "
        f"{found}: ids {first.trade_id}..{end} are missing from raw; "
        f"run `schemahub repair --exchange {run.exchange}` to refetch them"
    )


def landed_ids(run: StreamRun, condition: BooleanExpression) -> list[int]:
    """The stream's trade ids in raw that meet `condition` (a scan pruned by file statistics)."""
    names = {run.product.exchange_symbol, *run.product.aliases}
    rows = (
        run.committer.load_table()
        .scan(
            row_filter=all_of(isin(run.connector.symbol_column, sorted(names)), condition),
            selected_fields=(run.connector.id_column,),
        )
        .to_arrow()
    )
    return [int(i) for i in rows.column(0).to_pylist()]


def stream_span(run: StreamRun, options: BackfillOptions, now_ns: int) -> tuple[int, int] | None:
    """The trade-time span the stream walks, for the ETA."""
    state = run.state
    since = options.since_ns
    if state.down is not None and since is None:
        since = state.down.floor_ns
    if since is None:
        return None
    if run.connector.walks_back:
        return ((state.first.time_ns if state.first else options.until_ns or now_ns), since)
    return (since, state.first.time_ns if state.first else options.until_ns or now_ns)


def run_backfill(settings: Settings, options: BackfillOptions) -> BackfillReport:
    """Walk history for the chosen streams; one raw snapshot per flush per stream.

    Returns a report; `report.exit_code` is 1 when a stream failed (others still landed).
    """
    if options.workers < 1 or options.flush_trades < 1 or options.flush_seconds <= 0:
        raise ConfigError("--workers and --flush-trades must be >= 1 and --flush-seconds > 0")
    if options.since_ns is not None and options.until_ns is not None and options.since_ns >= options.until_ns:
        raise ConfigError(f"--since {iso(options.since_ns)} is not before --until {iso(options.until_ns)}")
    products = select_products(settings, options.seed_path, options.exchanges, options.products)
    if options.dry_run:
        return BackfillReport("dry-run", plan=plan_backfill(settings, products, options), dry_run=True)
    ctx = LandingContext(settings, "backfill", options.http_timeout_s)
    exchanges = sorted({p.exchange for p in products})
    ctx.ensure_tables(exchanges)
    started, now_ns = time.monotonic(), time.time_ns()
    runs = RunLog(ctx.catalog, settings)
    started_us, pid = now_ns // 1000, os.getpid()
    runs.append(
        [
            RunRow(
                ctx.run_id,
                "backfill",
                ALL,
                ALL,
                "running",
                started_us,
                pid=pid,
                options=options_json(options),
            )
        ]
    )
    repair_interrupted(runs, ctx.catalog, settings, [raw_table_name(e) for e in exchanges], pid_alive)
    for exchange in exchanges:
        WatermarkLog(ctx.catalog, settings).repair(exchange, ctx.committer(exchange).load_state(), ctx.run_id)
    log_event("backfill.start", run_id=ctx.run_id, streams=[f"{p.exchange}:{p.symbol}" for p in products],
              since=iso(options.since_ns), until=iso(options.until_ns), workers=options.workers)  # fmt: skip
    progress = Progress(
        "backfill",
        bars=options.progress,
        lines=options.progress_lines,
        plan=lambda product: plan_backfill(settings, [product], options)[0],  # the bars' totals
    )
    try:
        results = run_streams(
            ctx,
            products,
            lambda run: backfill_stream(run, options),
            workers=options.workers,
            flush_trades=options.flush_trades,
            flush_seconds=options.flush_seconds,
            page_limit=options.limit,
            now_ns=now_ns,
            progress=progress,
            span=lambda run: stream_span(run, options, now_ns),
        )
    finally:
        progress.close()
    report = BackfillReport(ctx.run_id, results)
    finish(ctx, runs, report.streams, started, started_us, pid)
    if sys.stderr.isatty():
        print(f"backfill {ctx.run_id}: {report.trades:,} trades landed", file=sys.stderr)
    return report
