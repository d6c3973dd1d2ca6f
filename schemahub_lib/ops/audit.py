"""`schemahub audit`: trade-id continuity per (exchange, symbol) in raw and trades_unified.

For each stream and layer: first and last id, ids expected (the span less ids repair proved
were never issued) and seen, every open gap as an id range with the times of the trades either
side. For trades_unified also: duplicate keys (must be zero) and reconciliation, i.e. every
raw key unify has consumed is present in trades_unified. Raw is read as of the snapshot unify
last consumed, so rows landed since then are not counted as missing.

Each gap is classified with landing's stream state (coverage.classify): `open` inside a range
landing claims complete (trades were lost), `skipped` where a capped catch-up left ids out on
purpose, `pending` between landed ranges an unfinished walk has not reached, `unfillable`
where repair proved the exchange never issued the ids.

The count proof (raw): landing's state counts the trades it committed to each stream
(state.py `landed`); raw must hold exactly that many rows for the stream. Fewer is a finding
(`count_short`: trades missing, ids unknown; the only middle-of-range proof where ids are not
consecutive), more is one too (`count_over`). It is compared over the whole stream only, so
not when --since/--until is given; a state from before counts were kept has none to compare.

Findings (an open or skipped gap in either layer, a count mismatch, a duplicate or unreconciled
key, a unified trade_id that is not an integer) make `AuditReport.ok` false and the command exit 1.
Duplicates in raw are expected (overlapping fetches) and only reported. Results go to
schemahub_coverage. The set-based work is Spark (see continuity.py); the driver only sees
per-stream results.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import CONNECTORS, unknown_exchange
from schemahub_lib.errors import ConfigError, SchemaHubError
from schemahub_lib.logs import log_event
from schemahub_lib.metrics import load_metrics_sink, run_metrics
from schemahub_lib.ops import continuity, coverage, edges, formats
from schemahub_lib.ops.auditreport import (
    AuditReport,
    Gap,
    StreamReport,
    audit_metrics,
    coverage_rows,
    stream_fields,
    utc,
)
from schemahub_lib.ops.retention import newest_with
from schemahub_lib.ops.sparkutil import ops_spark
from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LAYERS = ("raw", "unified")


@dataclass(frozen=True)
class AuditOptions:
    exchanges: tuple[str, ...] = ()  # empty: every exchange with a raw table
    since: datetime | None = None
    until: datetime | None = None
    layers: tuple[str, ...] = LAYERS
    record: bool = True  # write the results to schemahub_coverage
    max_gaps: int = 100_000  # gap ranges collected per layer; beyond it the report is truncated
    samples: int = 20

    def validate(self) -> None:
        unknown = sorted(set(self.exchanges) - set(formats.RAW_TABLES))
        if unknown:
            raise ConfigError(f"audit: {unknown_exchange(unknown[0])}")
        if set(self.layers) - set(LAYERS) or not self.layers:
            raise ConfigError(f"audit: layers must be among {', '.join(LAYERS)}, got {self.layers}")
        if self.since and self.until and self.since >= self.until:
            raise ConfigError(f"audit: --since {self.since} must be before --until {self.until}")


def run_audit(
    settings: Settings, spark: SparkSession | None = None, options: AuditOptions | None = None
) -> AuditReport:
    """Audit, record in schemahub_coverage (unless `options.record` is False), log, send metrics."""
    options = options or AuditOptions()
    options.validate()
    started = time.monotonic()
    # Without a record to write, audit only reads: it works on a catalog this user cannot write.
    catalog = load_catalog(settings, read_only=not options.record)
    spark = ops_spark(settings, spark, app_name="schemahub-audit", read_only=not options.record)
    audit_id = f"audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    report = AuditReport(audit_id, options.since, options.until, [])
    ok = False
    try:
        _audit(spark, settings, catalog, options, report)
        ok = True
    finally:
        report.duration_s = time.monotonic() - started
        for s in report.streams:
            log_event("audit.stream", audit_id=audit_id, **stream_fields(s))
        log_event("audit.summary", audit_id=audit_id, ok=report.ok, completed=ok, **report.totals())
        load_metrics_sink(settings).put(run_metrics("audit", report.duration_s, ok) + audit_metrics(report))
    if options.record:
        coverage.append_rows(catalog, settings, coverage_rows(report))
    return report


@dataclass
class _Known:
    """What classifies a gap: repair's marks and landing's landed/skipped ranges per stream."""

    marks: dict[coverage.StreamKey, list[coverage.Range]]
    landed: dict[coverage.StreamKey, list[coverage.Range]] = field(default_factory=dict)
    skipped: dict[coverage.StreamKey, list[coverage.Range]] = field(default_factory=dict)
    has_state: set[str] = field(default_factory=set)  # exchanges whose landing state was read
    states: dict[coverage.StreamKey, Any] = field(default_factory=dict)  # landing's StreamState

    def classify(self, key: coverage.StreamKey, gap: coverage.Range) -> list[tuple[coverage.Range, str]]:
        landed = self.landed.get(key, []) if key[0] in self.has_state else None
        return coverage.classify(gap, self.marks.get(key, []), self.skipped.get(key, []), landed)


def load_known(catalog: Any, settings: Settings, exchanges: list[str]) -> _Known:
    known = _Known(coverage.load_marks(catalog, settings))
    for exchange in exchanges:
        raw = catalog.load_table(settings.table_id(formats.RAW_TABLES[exchange]))
        try:
            states = formats.stream_states(raw)
        except SchemaHubError as exc:  # unreadable state: gaps count as open, never hidden
            log_event("audit.state_unreadable", exchange=exchange, error=str(exc)[:300])
            continue
        if not states:
            continue  # raw written by something other than landing: no state to go by
        known.has_state.add(exchange)
        for product, state in states.items():
            known.states[(exchange, product)] = state
            known.landed[(exchange, product)] = coverage.merge(state.landed_ids())
            known.skipped[(exchange, product)] = coverage.merge(state.skipped)
    return known


def _audit(
    spark: SparkSession, settings: Settings, catalog: Any, options: AuditOptions, report: AuditReport
) -> None:
    window = continuity.Window(options.since, options.until)
    exchanges = [
        e
        for e in (options.exchanges or tuple(formats.RAW_TABLES))
        if catalog.table_exists(settings.table_id(formats.RAW_TABLES[e]))
    ]
    known = load_known(catalog, settings, exchanges)
    symbols = formats.symbol_map(settings)
    if "raw" in options.layers and exchanges:
        raw = _union([continuity.raw_keys(spark, settings, e, window, symbols.get(e, {})) for e in exchanges])
        _layer(report, "raw", raw, known, options).unpersist()
    unified_ident = settings.table_id(formats.UNIFIED_TABLE)
    if "unified" not in options.layers or not catalog.table_exists(unified_ident):
        return
    names = list(options.exchanges or formats.RAW_TABLES)
    ids = _layer(report, "unified", continuity.unified_keys(spark, settings, names, window), known, options)
    dups = continuity.duplicate_keys(ids).orderBy("exchange", "symbol", "id").limit(options.samples).collect()
    report.duplicate_samples = [r.asDict() for r in dups]
    record = newest_with(catalog.load_table(unified_ident), formats.unify_record_present)
    consumed = formats.unify_consumed(
        record.summary.additional_properties if record and record.summary else {}
    )
    for exchange in exchanges:
        snapshot_id = consumed.get(formats.RAW_TABLES[exchange])
        if snapshot_id is None:
            continue  # unify has not consumed this exchange yet: nothing to reconcile
        report.reconciled_at[formats.RAW_TABLES[exchange]] = snapshot_id
        raw_at = continuity.raw_keys(
            spark, settings, exchange, window, symbols.get(exchange, {}), snapshot_id
        )
        missing = continuity.missing_from(continuity.distinct_ids(raw_at), ids)
        _attach_unreconciled(report, exchange, missing, options.samples)
    ids.unpersist()


def _layer(report: AuditReport, layer: str, keys: DataFrame, known: _Known, options: AuditOptions) -> Any:
    ids = continuity.distinct_ids(keys).cache()
    streams = {}
    for row in continuity.stream_summary(ids, keys).orderBy("exchange", "symbol").collect():
        s = StreamReport(layer, row.exchange, row.symbol, row.source_symbol, row.first_id, row.last_id)
        s.first_ts, s.last_ts = utc(row.first_ts), utc(row.last_ts)
        s.seen, s.duplicates, s.null_ids = int(row.seen), int(row.duplicates), int(row.null_ids)
        s.dense = dense_ids(s.exchange)
        if layer == "raw":
            s.count_note = "no landing state for the stream"
        if s.first_id is not None and s.last_id is not None:
            marks = known.marks.get((s.exchange, s.symbol), [])
            s.unfillable_ids = coverage.covered(marks, s.first_id, s.last_id)
            if not dense_ids(s.exchange):
                # Ids count across the exchange's products (Bitfinex): the ids of this span that
                # are not this stream's were issued to others, and no id gap is a lost trade.
                s.unfillable_ids = s.last_id - s.first_id + 1 - s.seen
        streams[(s.exchange, s.symbol)] = s
        report.streams.append(s)
    gaps = continuity.gaps(ids).orderBy("exchange", "symbol", "first_id")
    rows = gaps.limit(options.max_gaps + 1).collect()
    report.truncated = report.truncated or len(rows) > options.max_gaps
    for row in rows[: options.max_gaps]:
        key = (row.exchange, row.symbol)
        if not dense_ids(row.exchange):
            continue
        for (a, b), status in known.classify(key, (row.first_id, row.last_id)):
            streams[key].gaps.append(Gap(a, b, utc(row.after_ts), utc(row.before_ts), status))
    if layer == "raw":
        _edges(report, streams, known, options)
    return ids


def _edges(
    report: AuditReport, streams: dict[coverage.StreamKey, StreamReport], known: _Known, options: AuditOptions
) -> None:
    """Head and tail gaps (edges.py): ids landing's state promises that raw does not hold at
    either end of a stream, and each stream's start evidence."""
    for key, state in sorted(known.states.items()):
        s = streams.get(key)
        if s is None and not state.landed_ids():
            continue
        if s is None:  # every landed row of the stream is gone
            s = StreamReport("raw", key[0], key[1], dense=dense_ids(key[0]))
            streams[key] = s
            report.streams.append(s)
        s.start = edges.start_evidence(state)
        window = (options.since, options.until)
        _count(s, state, windowed=window != (None, None))
        for e in edges.edges(state, s.first_id, s.last_id, s.first_ts, s.last_ts, *window):
            pieces = known.classify(key, (e.first_id, e.last_id)) if dense_ids(key[0]) else []
            pieces = pieces or [((e.first_id, e.last_id), coverage.OPEN)]
            for (a, b), status in pieces:
                s.gaps.append(Gap(a, b, e.after_ts, e.before_ts, status, edge=e.edge))
        s.gaps.sort(key=lambda g: g.first_id)


def _count(s: StreamReport, state: Any, *, windowed: bool) -> None:
    """The count proof: landing's count of the trades it committed against raw's rows of the
    whole stream (every row, duplicates and rows without an id included)."""
    s.landed = state.landed
    if windowed:
        s.count_note = "not compared: the count covers the whole stream, audit without --since/--until"
    elif state.landed is None:
        s.count_note = "landing's state was written before counts were kept"
    else:
        s.rows, s.count_note = s.seen + s.duplicates + s.null_ids, None


def dense_ids(exchange: str) -> bool:
    """Whether an id missing between two of a stream's ids is a missing trade (the connector's
    `dense_ids`); an exchange unknown to the registry is audited as if it were."""
    connector = CONNECTORS.get(exchange.lower())
    return connector is None or connector.dense_ids


def _attach_unreconciled(report: AuditReport, exchange: str, missing: DataFrame, samples: int) -> None:
    from pyspark.sql import functions as F

    rows = missing.groupBy("exchange", "symbol").agg(
        F.count(F.lit(1)).alias("n"), F.slice(F.sort_array(F.collect_list("id")), 1, samples).alias("ids")
    )
    unified = {(s.exchange, s.symbol): s for s in report.streams if s.layer == "unified"}
    for row in rows.collect():
        stream = unified.get((row.exchange, row.symbol))
        if stream is None:
            stream = StreamReport("unified", row.exchange, row.symbol)
            report.streams.append(stream)
        stream.unreconciled, stream.unreconciled_samples = int(row.n), [int(i) for i in row.ids]


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out
