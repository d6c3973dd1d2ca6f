"""`schemahub status`: where every stream stands and what shape every table is in.

JVM-free: PyIceberg reads snapshot summaries (landing's stream state, unify's record), the
runs table and table metadata; row counts per stream scan one or two columns batch by batch.

Per stream (exchange, product): the watermark (landed id ranges, newest landed trade), lag
(how far the newest landed trade is behind now, never negative), rows in raw and in
trades_unified, the last landing run and its result. Per table: snapshots, data files,
bytes, small files, manifests. Unify: when it last committed and how many raw commits it
has not consumed yet.

Trouble, which makes `schemahub status` exit 1: a stream whose last landing run failed, or
stream state that could not be read. Streams in trouble are listed first.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from schemahub_lib.catalog import load_catalog
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.errors import SchemaHubError
from schemahub_lib.logs import log_event
from schemahub_lib.metrics import Metric, load_metrics_sink, metric
from schemahub_lib.ops import formats
from schemahub_lib.ops.retention import newest_with
from schemahub_lib.ops.tablestats import TableStats, table_stats
from schemahub_lib.settings import Settings
from schemahub_lib.timespec import lag_seconds, to_ns

RUNS_TABLE = "schemahub_runs"
RUNS_LOOKBACK = timedelta(days=14)


@dataclass
class StreamStatus:
    exchange: str
    product: str
    landed_ranges: list[tuple[int, int]] = field(default_factory=list)
    watermark_id: int | None = None
    newest_trade_ts: datetime | None = None
    lag_s: float | None = None
    in_progress: str | None = None  # an unfinished walk, if any
    skipped: list[tuple[int, int]] = field(default_factory=list)
    raw_rows: int | None = None
    unified_rows: int | None = None
    last_run_id: str | None = None
    last_run_kind: str | None = None
    last_run_status: str | None = None
    last_run_at: datetime | None = None
    last_run_trades: int | None = None
    last_run_error: str | None = None


@dataclass
class UnifyStatus:
    last_commit_at: datetime | None = None
    snapshot_id: int | None = None
    consumed: dict[str, int] = field(default_factory=dict)
    pending_commits: dict[str, int] = field(default_factory=dict)  # raw table -> appends not consumed


@dataclass
class StatusReport:
    generated_at: datetime
    streams: list[StreamStatus]
    tables: list[TableStats]
    unify: UnifyStatus
    errors: list[str] = field(default_factory=list)

    @property
    def failed_streams(self) -> list[StreamStatus]:
        return [s for s in self.streams if s.last_run_status == "failed"]

    @property
    def trouble(self) -> list[str]:
        """What makes the status exit 1, one line each; empty when all is well."""
        lines = [
            f"{s.exchange} {s.product}: last {s.last_run_kind} run {s.last_run_id} failed: {s.last_run_error}"
            for s in self.failed_streams
        ]
        return lines + [f"unreadable state: {e}" for e in self.errors]

    @property
    def exit_code(self) -> int:
        return 1 if self.trouble else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "trouble": self.trouble,
            "streams": [asdict(s) for s in self.streams],
            "tables": [t.as_dict() for t in self.tables],
            "unify": asdict(self.unify),
            "errors": self.errors,
        }


def run_status(settings: Settings, *, counts: bool = True, publish: bool = False) -> StatusReport:
    """Collect the status; `counts=False` skips the row counts (the only data scans)."""
    started = time.monotonic()
    catalog = load_catalog(settings, read_only=True)  # status never writes: works on a read-only catalog
    now = datetime.now(UTC)
    report = StatusReport(now, [], [], UnifyStatus())
    streams: dict[tuple[str, str], StreamStatus] = {}

    def stream(exchange: str, product: str) -> StreamStatus:
        return streams.setdefault((exchange, product), StreamStatus(exchange, product))

    for exchange, products in formats.seed_products(settings).items():
        for product in products:
            stream(exchange, product)
    for exchange, raw_name in formats.RAW_TABLES.items():
        ident = settings.table_id(raw_name)
        if not catalog.table_exists(ident):
            continue
        raw = catalog.load_table(ident)
        try:
            states = formats.stream_states(raw)
        except SchemaHubError as exc:
            report.errors.append(str(exc))
            states = {}
        for product, state in states.items():
            _apply_state(stream(exchange, product), state, now)
        if counts:
            symbols = formats.symbol_map(settings).get(exchange, {})
            for source, n in _count(raw, (formats.RAW_COLUMNS[exchange][1],)).items():
                stream(exchange, symbols.get(source[0], source[0])).raw_rows = n
    unified_ident = settings.table_id(formats.UNIFIED_TABLE)
    if catalog.table_exists(unified_ident):
        unified = catalog.load_table(unified_ident)
        if counts:
            for (exchange, symbol), n in _count(unified, ("exchange", "symbol")).items():
                stream(exchange.lower(), symbol).unified_rows = n
        report.unify = _unify_status(catalog, settings, unified)
    _apply_runs(catalog, settings, streams, now)
    for s in streams.values():
        if counts:
            s.raw_rows = s.raw_rows or 0
            s.unified_rows = s.unified_rows or 0
    # Trouble first: a person reads the top, a scheduler's alert shows the first lines.
    report.streams = sorted(
        streams.values(), key=lambda s: (s.last_run_status != "failed", s.exchange, s.product)
    )
    for name in load_table_defs(settings.ddl_dir):
        if catalog.table_exists(settings.table_id(name)):
            report.tables.append(table_stats(name, catalog.load_table(settings.table_id(name))))
    log_event(
        "status.summary",
        streams=len(report.streams),
        max_lag_s=max((s.lag_s for s in report.streams if s.lag_s is not None), default=None),
        failed_streams=sum(s.last_run_status == "failed" for s in report.streams),
        seconds=round(time.monotonic() - started, 3),
    )
    if publish:
        load_metrics_sink(settings).put(status_metrics(report))
    return report


def status_metrics(report: StatusReport) -> list[Metric]:
    worst: dict[str, float] = {}  # per exchange, its worst stream's lag (metrics.py)
    for s in report.streams:
        if s.lag_s is not None:
            worst[s.exchange] = max(worst.get(s.exchange, s.lag_s), s.lag_s)
    out = [metric("LagSeconds", lag, Exchange=exchange) for exchange, lag in sorted(worst.items())]
    for t in report.tables:
        out += [
            metric("DataFiles", t.data_files, Table=t.table),
            metric("SmallFiles", t.small_files, Table=t.table),
        ]
    return out


def _apply_state(s: StreamStatus, state: Any, now: datetime) -> None:
    s.landed_ranges = [tuple(r) for r in state.landed_ids()]  # type: ignore[misc]
    s.watermark_id = state.last.trade_id if state.last else None
    newest = [p.time_ns for p in (state.last, state.up.top if state.up else None) if p is not None]
    if state.below is not None:
        newest.append(state.below.last.time_ns)
    if newest:
        s.newest_trade_ts = datetime.fromtimestamp(max(newest) / 1e9, UTC)
        s.lag_s = lag_seconds(to_ns(now), max(newest))
    walks = [name for name in ("up", "down", "below") if getattr(state, name) is not None]
    s.in_progress = ",".join(walks) or None
    s.skipped = [tuple(r) for r in state.skipped]  # type: ignore[misc]


def _count(table: Any, columns: tuple[str, ...]) -> Counter[tuple[str, ...]]:
    """Rows per value of `columns`, one Arrow batch at a time."""
    totals: Counter[tuple[str, ...]] = Counter()
    if table.current_snapshot() is None:
        return totals
    for batch in table.scan(selected_fields=columns).to_arrow_batch_reader():
        if batch.num_rows == 0:
            continue
        grouped = pa.Table.from_batches([batch]).group_by(list(columns)).aggregate([([], "count_all")])
        keys = zip(*(grouped.column(c).to_pylist() for c in columns), strict=True)
        for key, n in zip(keys, grouped.column("count_all").to_pylist(), strict=True):
            totals[key] += n
    return totals


def _unify_status(catalog: Any, settings: Settings, unified: Any) -> UnifyStatus:
    record = newest_with(unified, formats.unify_record_present)
    if record is None:
        return UnifyStatus()
    props = record.summary.additional_properties if record.summary else {}
    out = UnifyStatus(
        datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
        record.snapshot_id,
        formats.unify_consumed(props),
    )
    for raw_name in formats.RAW_TABLES.values():
        ident = settings.table_id(raw_name)
        if catalog.table_exists(ident):
            out.pending_commits[raw_name] = formats.appends_after(
                catalog.load_table(ident), out.consumed.get(raw_name)
            )
    return out


def _apply_runs(
    catalog: Any, settings: Settings, streams: dict[tuple[str, str], StreamStatus], now: datetime
) -> None:
    ident = settings.table_id(RUNS_TABLE)
    if not catalog.table_exists(ident):
        return
    table = catalog.load_table(ident)
    if table.current_snapshot() is None:
        return
    since = (now - RUNS_LOOKBACK).isoformat()
    rows = table.scan(row_filter=f"started_at >= '{since}'").to_arrow().to_pylist()
    rows.sort(key=lambda r: (r["started_at"], r["finished_at"] or r["started_at"]))
    for r in rows:
        if r["exchange"] == "*" or r["status"] == "running":
            continue
        s = streams.setdefault((r["exchange"], r["product"]), StreamStatus(r["exchange"], r["product"]))
        s.last_run_id, s.last_run_kind, s.last_run_status = r["run_id"], r["kind"], r["status"]
        s.last_run_at, s.last_run_trades, s.last_run_error = r["finished_at"], r["trades"], r["error"]
