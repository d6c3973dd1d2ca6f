"""`schemahub repair`: refetch the ids an audit found missing, land them, unify, audit again.

1. A raw-layer audit (not recorded) lists the gaps that alarm: `open` (lost inside a landed
   range) and `skipped` (left out by a capped catch-up). Pending and unfillable gaps are left.
2. Gaps are refetched (refetch.py) in pieces of at most `chunk_ids`, as the exchange's
   connector pages: by id, or by time from the trade just before the gap (the audit's
   `after_ts`) where it pages by time. Trades found
   are committed to raw through landing's committer (kind `repair`): same Parquet layout and
   run metadata, the stream's watermark untouched, and skipped ranges that are now resolved
   dropped from the stream state in the same snapshot.
3. Ids the exchange answered around twice (once walking the range, once aimed at them) were
   never issued: they become `unfillable` rows in schemahub_coverage, so audits stop alarming.
   Everything else stays open: a failed request, a time-paged gap without a time before it,
   a gap on an exchange whose ids are not consecutive (`dense_ids` false: no evidence), and
   a count shortfall there (audit's count proof: trades missing, ids unknown), which repair
   cannot locate: it says so in `notes`, and the final audit fails on it.
   Trades repair commits count into the stream's `landed` only beyond raw's shortfall against
   it (commit.py): those restore trades landing counted; the rest were never counted.
   A head or tail gap (audit's edges.py: ids landing's state promises at a stream's end) is
   refetched like any gap; where ids are not consecutive it is refetched by time without
   marks, and resolved when the promised end trade (the first, or the watermark) is back.
4. Unify runs (unless `unify=False`; with nothing new it commits nothing), then a full audit,
   recorded; its result is repair's exit code.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.connectors.base import Product
from schemahub_lib.errors import ConfigError, SchemaHubError
from schemahub_lib.http import HttpCounters
from schemahub_lib.logs import log_event
from schemahub_lib.metrics import load_metrics_sink, metric, run_metrics
from schemahub_lib.ops import coverage
from schemahub_lib.ops.audit import AuditOptions, run_audit
from schemahub_lib.ops.auditreport import AuditReport
from schemahub_lib.ops.refetch import (
    Refetched,
    confirm_absent,
    ranges_of,
    refetch_range,
    time_before,
)
from schemahub_lib.ops.sparkutil import ops_spark
from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class RepairOptions:
    exchanges: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    chunk_ids: int = 100_000  # ids refetched and committed at a time
    unify: bool = True
    dry_run: bool = False  # list what would be refetched; no requests, no writes


@dataclass
class GapRepair:
    exchange: str
    symbol: str
    first_id: int
    last_id: int
    status: str  # the audit's: open or skipped
    after_ns: int | None = None  # time of the trade just before the gap, integer ns (µs precision)
    edge: str | None = None  # head or tail: ids landing's state promises at a stream's end
    filled: list[coverage.Range] = field(default_factory=list)
    unfillable: list[coverage.Range] = field(default_factory=list)
    unresolved: list[coverage.Range] = field(default_factory=list)
    rejected: int = 0
    note: str = ""


@dataclass
class RepairReport:
    run_id: str
    gaps: list[GapRepair]
    dry_run: bool = False
    unify: str = "skipped"
    # Count shortfalls repair cannot locate by id (Bitfinex): left unresolved, with what to do.
    notes: list[str] = field(default_factory=list)
    audit: AuditReport | None = None
    duration_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return self.audit.exit_code if self.audit is not None else 0

    def totals(self) -> dict[str, int]:
        size = lambda rs: sum(b - a + 1 for a, b in rs)  # noqa: E731
        return {
            "gaps": len(self.gaps),
            "filled_ids": sum(size(g.filled) for g in self.gaps),
            "unfillable_ids": sum(size(g.unfillable) for g in self.gaps),
            "unresolved_ids": sum(size(g.unresolved) for g in self.gaps),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "totals": self.totals(),
            "gaps": [asdict(g) for g in self.gaps],
            "notes": self.notes,
            "unify": self.unify,
            "audit": self.audit.as_dict() if self.audit is not None else None,
            "duration_s": round(self.duration_s, 3),
        }


def run_repair(
    settings: Settings, spark: SparkSession | None = None, options: RepairOptions | None = None
) -> RepairReport:
    from schemahub_lib.landing.context import LandingContext

    options = options or RepairOptions()
    if options.chunk_ids < 1:
        raise ConfigError(f"repair: chunk size must be positive, got {options.chunk_ids}")
    started = time.monotonic()
    spark = ops_spark(settings, spark, app_name="schemahub-repair")
    window = AuditOptions(exchanges=options.exchanges, since=options.since, until=options.until)
    before = run_audit(settings, spark, dataclasses.replace(window, layers=("raw",), record=False))
    ctx = LandingContext(settings, "repair")
    report = RepairReport(ctx.run_id, [], options.dry_run)
    ok = False
    try:
        by_stream: dict[tuple[str, str], list[GapRepair]] = {}
        for s in before.streams:
            if s.count_short and not s.dense:
                report.notes.append(_count_note(s))
            for g in s.open_gaps:
                after_ns = _ns(g.after_ts)
                repair = GapRepair(s.exchange, s.symbol, g.first_id, g.last_id, g.status, after_ns, g.edge)
                report.gaps.append(repair)
                connector = CONNECTORS.get(s.exchange)
                if connector is None or (not connector.dense_ids and g.edge is None):
                    repair.unresolved, repair.note = (
                        [(g.first_id, g.last_id)],
                        f"{s.exchange} trade ids are not consecutive: an id gap is no missing trade",
                    )
                elif connector.pages_by_time and after_ns is None:
                    repair.unresolved, repair.note = (
                        [(g.first_id, g.last_id)],
                        f"{s.exchange} pages by time and the trade before the gap has none",
                    )
                elif not options.dry_run:
                    by_stream.setdefault((s.exchange, s.symbol), []).append(repair)
        sources = {(s.exchange, s.symbol): s.source_symbol or s.symbol for s in before.streams}
        for key, gaps in by_stream.items():
            _repair_stream(ctx, key, sources[key], gaps, options)
        if not options.dry_run:
            # Unify even when nothing landed now: an earlier repair may have stopped before its
            # unify; with nothing new, unify commits nothing.
            if options.unify:
                report.unify = _unify(settings, spark)
            report.audit = run_audit(settings, spark, window)
        ok = True
    finally:
        report.duration_s = time.monotonic() - started
        for done in report.gaps:
            log_event("repair.gap", run_id=report.run_id, **asdict(done))
        for (exchange, symbol), gaps in _group(report.gaps).items():
            size = RepairReport(report.run_id, gaps).totals()
            log_event("repair.stream", run_id=report.run_id, exchange=exchange, symbol=symbol, **size)
        log_event("repair.summary", run_id=report.run_id, ok=ok, unify=report.unify, **report.totals())
        sink = load_metrics_sink(settings)
        landed = sum(b - a + 1 for g in report.gaps for a, b in g.filled)
        landed_metrics = [metric("TradesLanded", landed)] if report.gaps else []
        sink.put(run_metrics("repair", report.duration_s, ok) + landed_metrics)
    return report


def _repair_stream(
    ctx: Any, key: tuple[str, str], source: str, gaps: list[GapRepair], options: RepairOptions
) -> int:
    """Refetch and confirm one stream's gaps, mark what was never issued, commit what was found.

    Work is flushed every `chunk_ids` ids: marks first (one coverage append), then the trades
    (one raw commit), so a crash between them leaves at most marks for ids still missing, which
    the next repair proves again.
    """
    exchange, symbol = key
    base, _, quote = symbol.partition("-")
    connector = ctx.connector(exchange, HttpCounters())
    flush = _Flush(ctx, Product(exchange, symbol, source, base, quote))
    dense = CONNECTORS[exchange].dense_ids
    for gap in gaps:
        after_ns = gap.after_ns
        step = options.chunk_ids if dense else gap.last_id - gap.first_id + 1
        for a in range(gap.first_id, gap.last_id + 1, step):
            piece = (a, min(gap.last_id, a + step - 1))
            try:
                if dense:
                    got = _refetch(connector, exchange, source, piece, after_ns)
                else:  # ids shared across products: an id answered around proves nothing
                    got = refetch_range(connector, exchange, source, piece, after_ns)
                    got.proven = []
            except SchemaHubError as exc:
                gap.unresolved.append(piece)
                gap.note = f"refetch failed: {str(exc)[:200]}"
                continue
            gap.filled += ranges_of(list(got.trades))
            gap.unfillable += got.proven
            gap.rejected += len(got.rejects)
            after_ns = time_before(got, piece[1] + 1, after_ns)  # where the next piece starts
            if dense:
                handled = coverage.merge(gap.filled + gap.unfillable + ranges_of(sorted(got.rejected_ids)))
                gap.unresolved += coverage.split(piece, handled)[1]
            elif _promised(gap) not in got.trades:
                gap.unresolved.append(piece)
                gap.note = f"the exchange did not serve trade {_promised(gap)}, which landing's state holds"
            flush.add(gap, got)
            if flush.ids >= options.chunk_ids:
                flush.commit()
    flush.commit()
    return flush.landed


class _Flush:
    """Trades, rejects and marks of one stream waiting for their commit."""

    def __init__(self, ctx: Any, product: Product) -> None:
        self.ctx, self.product = ctx, product
        self.committer = ctx.committer(product.exchange)
        self.trades: dict[int, Any] = {}
        self.rejects: list[Any] = []
        self.marks: list[tuple[GapRepair, coverage.Range]] = []
        self.resolved: list[coverage.Range] = []
        self.pending: list[GapRepair] = []
        self.ids = 0
        self.landed = 0

    def add(self, gap: GapRepair, got: Refetched) -> None:
        self.trades.update(got.trades)
        self.rejects += got.rejects
        self.marks += [(gap, r) for r in got.proven]
        self.resolved += ranges_of(list(got.trades)) + got.proven + ranges_of(sorted(got.rejected_ids))
        self.pending.append(gap)
        self.ids += len(got.trades) + sum(b - a + 1 for a, b in got.proven)

    def commit(self) -> None:
        from schemahub_lib.landing.commit import Change
        from schemahub_lib.landing.writer import RejectRow

        if not (self.trades or self.rejects or self.marks):
            return
        coverage.append_rows(
            self.ctx.catalog, self.ctx.settings, [_mark_row(self.ctx.run_id, g, r) for g, r in self.marks]
        )
        p = self.product
        state = self.committer.load_state().get(p.symbol)
        resolved = coverage.merge(self.resolved)
        # A skipped range every id of which is now landed, rejected or proven absent is done.
        skipped = tuple(r for r in state.skipped if coverage.split(r, resolved)[1])
        touches = frozenset({"skipped"}) if skipped != state.skipped else frozenset()
        rejects = [
            RejectRow(p.exchange, p.symbol, r.trade_id, r.reason, r.payload, url) for r, url in self.rejects
        ]
        trades = [self.trades[i] for i in sorted(self.trades)]
        arrow = self.committer.builder().page(trades) if trades else None
        target = state.replace(skipped=skipped)
        change = Change(
            p.symbol, state, target, touches, arrow=arrow, rejects=rejects, refill=p.exchange_symbol
        )
        outcome = self.committer.commit(change)
        if outcome.status not in ("committed", "noop"):
            for gap in self.pending:
                gap.note = f"commit {outcome.status}: {outcome.detail}"
                gap.unresolved = coverage.merge(gap.unresolved + gap.filled)
                gap.filled = []
        self.landed += outcome.landed
        # `resolved` stays: a skipped range may span several flushes.
        self.trades, self.rejects, self.marks, self.pending, self.ids = {}, [], [], [], 0


def _refetch(
    connector: Any, exchange: str, product: str, piece: coverage.Range, after_ns: int | None
) -> Refetched:
    """Walk the range, then ask again aimed at each absent sub-range.

    `after_ns` (time-paged): at or below the time of the trade just before `piece`. On return
    `proven` holds only the ranges absent from both answers (never issued).
    """
    got = refetch_range(connector, exchange, product, piece, after_ns)
    confirmed: list[coverage.Range] = []
    for candidate in got.absent(piece):
        again = confirm_absent(
            connector, exchange, product, candidate, time_before(got, candidate[0], after_ns)
        )
        got.trades.update(again.trades)
        got.rejects += again.rejects
        confirmed += again.absent(candidate)
    got.proven = confirmed
    return got


def _count_note(s: Any) -> str:
    return (
        f"{s.exchange} {s.symbol}: raw holds {s.rows:,} of the {s.landed:,} trades landing committed; "
        f"their ids are not consecutive on {s.exchange}, so which {s.count_short:,} are missing is "
        "unknown and repair cannot refetch them by id. Left unresolved: restore them from an earlier "
        "raw snapshot (Iceberg time travel) or re-land the stream's time range."
    )


def _promised(gap: GapRepair) -> int:
    """The trade an edge gap must bring back: the promised first (head) or the watermark (tail)."""
    return gap.first_id if gap.edge == "head" else gap.last_id


def _mark_row(run_id: str, gap: GapRepair, r: coverage.Range) -> dict[str, Any]:
    paged = "time-paged" if CONNECTORS[gap.exchange].pages_by_time else "id-paged"
    proof = {"audit_status": gap.status, "how": f"absent from two {paged} answers of the exchange"}
    return {
        "audit_id": run_id,
        "kind": coverage.UNFILLABLE,
        "layer": "exchange",
        "exchange": gap.exchange,
        "symbol": gap.symbol,
        "first_id": r[0],
        "last_id": r[1],
        "expected": r[1] - r[0] + 1,
        "seen": 0,
        "status": coverage.UNFILLABLE,
        "detail": json.dumps(proof),
    }


def _ns(ts: datetime | None) -> int | None:
    """A trade time as integer ns since the epoch, without a float on the way."""
    if ts is None:
        return None
    return (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def _unify(settings: Settings, spark: SparkSession) -> str:
    try:
        from schemahub_lib.unify import run_unify
    except ImportError:
        return "not available: run `schemahub unify`"
    run_unify(settings, spark=spark)
    return "ran"


def _group(gaps: list[GapRepair]) -> dict[tuple[str, str], list[GapRepair]]:
    out: dict[tuple[str, str], list[GapRepair]] = {}
    for g in gaps:
        out.setdefault((g.exchange, g.symbol), []).append(g)
    return out
