"""`run_unify`: every raw table's new rows -> trades_unified, in one Iceberg commit or none.

One attempt: read the target's head and consumed record -> plan each raw read -> what each
read holds (rows, symbols, days: from the raw files' metadata, metadata.py, or else one stats
job over those sources) -> resolve symbols -> map, union, dedup, anti-join (one SQL statement,
batch.unified_rows) -> append to a run branch -> fast-forward main (commit.py). A lost race
restarts the attempt.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from pyiceberg.table import Table
from pyspark.sql import DataFrame, SparkSession

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors.base import Product
from schemahub_lib.errors import CommitConflictError
from schemahub_lib.killpoints import reached
from schemahub_lib.logs import log_event
from schemahub_lib.mapping import (
    TARGET_TABLE,
    MappingDataError,
    MappingSpec,
    Resolved,
    resolve_symbols,
    seed_index,
)
from schemahub_lib.metrics import Metric, load_metrics_sink, metric, run_metrics
from schemahub_lib.settings import Settings
from schemahub_lib.unify import commit
from schemahub_lib.unify.batch import (
    FANOUT_MAX_DAYS,
    SourceStats,
    batch_days,
    batch_stats,
    time_ranges,
    unified_rows,
    write_partitions,
)
from schemahub_lib.unify.compile import data_error
from schemahub_lib.unify.metadata import stats_from_metadata
from schemahub_lib.unify.reads import (
    CONSUMED_PREFIX,
    PROPERTY_PREFIX,
    SourceRead,
    TargetState,
    load_table,
    plan_read,
    read_raw,
    refresh,
    target_state,
)

MAX_UNKNOWN_SHOWN = 20


@dataclass
class SourceReport:
    exchange: str
    table: str
    mode: str  # none | full | incremental | fallback
    start_snapshot: int | None
    end_snapshot: int | None
    rows_read: int = 0
    reason: str = ""
    counted_by: str = ""  # "metadata" (Iceberg manifests) or "spark" (the stats job)


@dataclass
class UnifyReport:
    """What one run did. `snapshot_id` is None when it committed nothing."""

    run_id: str
    sources: list[SourceReport] = field(default_factory=list)
    rows_read: int = 0
    rows_inserted: int = 0
    duplicates_dropped: int = 0  # within the batch and already in trades_unified
    snapshot_id: int | None = None
    seconds: float = 0.0
    attempts: int = 1
    dry_run: bool = False
    # Seconds per step of the last attempt: plan (catalog reads), stats (raw files' metadata,
    # and the Spark job over symbols and times for sources metadata cannot answer), write
    # (read, map, dedup, anti-join and Parquet write: one Spark job), publish (read the
    # branch back, fast-forward main).
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def rows_read_by_source(self) -> dict[str, int]:
        return {s.table: s.rows_read for s in self.sources}


def run_unify(
    settings: Settings,
    spark: SparkSession | None = None,
    *,
    mappings: Sequence[MappingSpec] | None = None,
    products: Mapping[str, Sequence[Product]] | None = None,
    dry_run: bool = False,
    max_attempts: int = 8,
    before_publish: Callable[[], None] | None = None,
) -> UnifyReport:
    """Unify what the raw tables gained since the last run into trades_unified.

    `mappings` default to the validated files in `settings.mappings_dir` and `products` to the
    seed at `settings.seed_path`; both are loaded (and a bad mapping fails) before Spark starts.
    `dry_run` plans, counts and checks the batch but writes nothing. `before_publish` runs
    between the branch write and the fast-forward (tests use it to line up concurrent runs).
    Raises MappingError/MappingDataError (nothing written) or CommitConflictError after
    `max_attempts` lost races. Every run, failed or not, ends by sending `unify_metrics`.
    `settings.kill_at` stops the process at a publish step (killpoints.py; crash tests).
    """
    started = time.monotonic()
    report: UnifyReport | None = None
    try:
        report = _run(settings, spark, mappings, products, dry_run, max_attempts, before_publish, started)
        return report
    finally:
        seconds = time.monotonic() - started
        load_metrics_sink(settings).put(unify_metrics(seconds, report))


def unify_metrics(seconds: float, report: UnifyReport | None) -> list[Metric]:
    """RunDurationSeconds and RunFailed for job `unify`, and TradesUnified: the rows the run
    inserted (0 for a run that failed, found nothing new, or was a dry run). `report` is None
    when the run raised."""
    inserted = 0 if report is None else report.rows_inserted
    return [
        *run_metrics("unify", seconds, ok=report is not None),
        metric("TradesUnified", inserted, Table=TARGET_TABLE),
    ]


def _run(
    settings: Settings,
    spark: SparkSession | None,
    mappings: Sequence[MappingSpec] | None,
    products: Mapping[str, Sequence[Product]] | None,
    dry_run: bool,
    max_attempts: int,
    before_publish: Callable[[], None] | None,
    started: float,
) -> UnifyReport:
    from schemahub_lib.ddl import load_table_defs
    from schemahub_lib.mapping import load_mappings
    from schemahub_lib.seed import load_seed

    if mappings is None:
        mappings = load_mappings(settings.mappings_dir, load_table_defs(settings.ddl_dir))
    specs = list(mappings)
    seed = products if products is not None else load_seed(settings.seed_path)
    spark = _session(settings, spark)
    run_id = uuid.uuid4().hex
    for attempt in range(1, max_attempts + 1):
        try:
            report = _attempt(spark, settings, specs, seed, run_id, dry_run, before_publish)
        except CommitConflictError as exc:
            log_event("unify.conflict", level="warning", run_id=run_id, attempt=attempt, error=str(exc))
            if attempt == max_attempts:
                raise
            time.sleep(random.uniform(0.05, 0.5) * attempt)
            continue
        report.attempts = attempt
        report.seconds = round(time.monotonic() - started, 3)
        log_event("unify", **asdict(report))
        return report
    raise AssertionError("unreachable")


def _session(settings: Settings, spark: SparkSession | None) -> SparkSession:
    from schemahub_lib.spark import load_spark, register_catalog

    if spark is None:
        return load_spark(settings, app_name="schemahub-unify")
    register_catalog(spark, settings)
    return spark


def _attempt(
    spark: SparkSession,
    settings: Settings,
    specs: Sequence[MappingSpec],
    seed: Mapping[str, Sequence[Product]],
    run_id: str,
    dry_run: bool,
    before_publish: Callable[[], None] | None,
) -> UnifyReport:
    clock = time.perf_counter()
    catalog = load_catalog(settings)
    target = settings.spark_table(TARGET_TABLE)
    state = target_state(load_table(catalog, settings, TARGET_TABLE))
    refresh(spark, target)  # after PyIceberg's look: Spark then knows every snapshot it names
    report = UnifyReport(run_id, dry_run=dry_run)
    active: list[tuple[MappingSpec, DataFrame]] = []
    reads: list[tuple[Table, SourceRead, SourceReport]] = []
    for spec in specs:
        raw_table = load_table(catalog, settings, spec.source)
        read = plan_read(raw_table, spec.source, state)
        name = settings.spark_table(spec.source)
        source = SourceReport(spec.exchange, spec.source, read.mode, read.start, read.end, 0, read.reason)
        report.sources.append(source)
        if read.mode == "fallback":
            log_event("unify.fallback", level="warning", run_id=run_id, table=spec.source, reason=read.reason)
        if read.mode != "none":
            refresh(spark, name)  # only tables this run reads: each refresh reloads metadata
            active.append((spec, read_raw(spark, name, read)))
            reads.append((raw_table, read, source))
    if not active:
        return report  # nothing new: no commit, no snapshot
    clock = _phase(report, "plan", clock)
    stats = _stats(active, reads, dry_run)
    clock = _phase(report, "stats", clock)
    sources = []
    for (spec, raw), (_, _, source), st in zip(active, reads, stats, strict=True):
        source.rows_read = st.rows
        report.rows_read += st.rows
        if st.rows:
            sources.append((spec, raw, _symbols(spec, st.symbols, seed, settings)))
    if dry_run or not report.rows_read:
        return report  # no rows: the raw tables only gained compactions; nothing to commit
    partitions = write_partitions(report.rows_read, spark.sparkContext.defaultParallelism)
    existing = None
    if state.snapshot_id is not None:
        existing = spark.read.format("iceberg").option("snapshot-id", str(state.snapshot_id)).load(target)
    ranges = time_ranges(stats)
    rows = unified_rows(spark, sources, existing, ranges, partitions, time.time_ns() // 1000)
    properties = _record(report, state.consumed, run_id)
    in_order = batch_days(stats) <= FANOUT_MAX_DAYS
    return _publish(spark, settings, report, rows, state, properties, in_order, before_publish)


def _stats(
    active: Sequence[tuple[MappingSpec, DataFrame]],
    reads: Sequence[tuple[Table, SourceRead, SourceReport]],
    dry_run: bool,
) -> list[SourceStats]:
    """What each active source holds: from its files' metadata (metadata.py), else from one
    Spark job over the sources metadata cannot answer. A dry run promises the checks of every
    value, which only the Spark job makes. Sets each source's `counted_by`."""
    known = []
    for (spec, _), (table, read, source) in zip(active, reads, strict=True):
        found = None if dry_run else stats_from_metadata(table, read, spec)
        source.counted_by = "spark" if found is None else "metadata"
        known.append(found)
    unknown = [i for i, found in enumerate(known) if found is None]
    try:
        counted = iter(batch_stats([active[i] for i in unknown]) if unknown else [])
    except Exception as exc:
        _reraise_data_error(exc)
        raise
    return [next(counted) if found is None else found for found in known]


def _phase(report: UnifyReport, name: str, since: float) -> float:
    now = time.perf_counter()
    report.phases[name] = round(now - since, 3)
    return now


def _reraise_data_error(exc: BaseException) -> None:
    """If a mapping check inside Spark stopped the job, raise it as a MappingDataError."""
    err = data_error(exc)
    if err is not None:
        raise err from exc


def _symbols(
    spec: MappingSpec, names: set[str | None], seed: Mapping[str, Sequence[Product]], settings: Settings
) -> dict[str, Resolved]:
    if spec.symbol_source is None:
        return {}
    index = seed_index(seed.get(spec.symbols.seed_exchange, ()))
    resolved, unknown = resolve_symbols(names, spec.symbols, index)
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:MAX_UNKNOWN_SHOWN])
        more = f" and {len(unknown) - MAX_UNKNOWN_SHOWN} more" if len(unknown) > MAX_UNKNOWN_SHOWN else ""
        raise MappingDataError(
            spec.file,
            "symbols",
            f"{len(unknown)} symbol(s) in {spec.source}.{spec.symbol_source} are neither in the product seed "
            f"({settings.seed_path}, section {spec.symbols.seed_exchange}) nor matched by symbols.patterns: "
            f"{shown}{more}; add them with `schemahub update-seed --fetch --write --merge` or a pattern",
        )
    return resolved


def _record(report: UnifyReport, consumed: Mapping[str, int], run_id: str) -> dict[str, str]:
    """Snapshot properties: the run id and, per raw table, the snapshot consumed up to."""
    record = {table: str(snapshot) for table, snapshot in consumed.items()}
    for s in report.sources:
        if s.end_snapshot is not None:
            record[s.table] = str(s.end_snapshot)
    props = {f"{CONSUMED_PREFIX}{table}": snapshot for table, snapshot in sorted(record.items())}
    props[f"{PROPERTY_PREFIX}run-id"] = run_id
    return props


def _publish(
    spark: SparkSession,
    settings: Settings,
    report: UnifyReport,
    rows: DataFrame,
    state: TargetState,
    properties: dict[str, str],
    in_order: bool,
    before_publish: Callable[[], None] | None,
) -> UnifyReport:
    """Append `rows` on a run branch at main's head, then fast-forward main to it and drop the
    branch in one commit (commit.py); a run that fails before that drops its branch."""
    target = settings.spark_table(TARGET_TABLE)
    commit.drop_stale_branches(spark, target, state.branches)
    branch = commit.new_branch_name()
    commit.create_branch(spark, target, branch, state.snapshot_id)
    reached(settings.kill_at, "unify.branch_created")
    on_main = False
    try:
        clock = time.perf_counter()
        try:
            commit.append_to_branch(rows, target, branch, properties, in_order=in_order)
        except Exception as exc:
            _reraise_data_error(exc)
            raise
        clock = _phase(report, "write", clock)
        snapshot_id, inserted = commit.published(spark, target, branch)
        reached(settings.kill_at, "unify.branch_written")
        if before_publish is not None:
            before_publish()
        commit.publish_branch(spark, target, branch)
        on_main = True
        reached(settings.kill_at, "unify.published")
        _phase(report, "publish", clock)
    finally:
        if not on_main:
            try:
                commit.drop_branch(spark, target, branch)
            except Exception as exc:  # a left-over branch only pins files; drop_stale_branches clears it
                log_event("unify.branch_not_dropped", level="warning", branch=branch, error=str(exc)[:300])
    report.snapshot_id, report.rows_inserted = snapshot_id, inserted
    report.duplicates_dropped = report.rows_read - inserted
    return report
