"""Table maintenance through Iceberg's Spark procedures, safe for unify's incremental reads.

Per table, in this order: `rewrite_data_files` (bin-pack small files), `rewrite_manifests`,
`expire_snapshots`, `remove_orphan_files`. The procedures are `CALL <catalog>.system.*`, so the
same code runs on the embedded JDBC catalog and on the Glue Data Catalog.

Retention rule (see `retention.py`): a snapshot is expired only if it is older than
`retain_days` AND older than every protected snapshot: the raw snapshot unify last consumed,
the newest snapshot carrying landing's watermark, and the newest unify commit record. Keeping
everything from the oldest protected snapshot on keeps the incremental read's start snapshot
and every snapshot between it and the current one.

The expire step first drops branches that unify runs killed mid-publish left behind (older
than unify's own stale-branch age): each pins its snapshot and data files, and unify itself
sweeps them only when it has something to publish.

Safe defaults: snapshots kept 7 days (the tables' `history.expire.max-snapshot-age-ms`) and
never fewer than the table's `history.expire.min-snapshots-to-keep`; orphan files removed only
when older than 3 days (Iceberg refuses less than 24 hours; it must exceed the longest write).
A lost or replaced catalog stops maintenance before any step: `load_catalog` refuses while a table
folder is not held by the catalog, and `check_catalog_current` while a folder holds metadata newer
than the catalog's pointer (an older copy of the catalog): orphan cleanup would otherwise delete
the history the catalog does not know.

`--dry-run` changes nothing: it reports what each step would touch, orphans included (the
procedure's own `dry_run`). A step with nothing to do commits nothing, so a second run is a
no-op.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from schemahub_lib.catalog import load_catalog
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.errors import ConfigError
from schemahub_lib.logs import log_event
from schemahub_lib.metrics import load_metrics_sink, metric, run_metrics
from schemahub_lib.ops.listing import object_listing_view
from schemahub_lib.ops.retention import Protection, expiry_candidates, expiry_cutoff, protections
from schemahub_lib.ops.sparkutil import ops_spark, refresh
from schemahub_lib.ops.tablestats import TableStats, table_stats
from schemahub_lib.settings import Settings
from schemahub_lib.warehouse import check_catalog_current

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STEPS = ("compact", "manifests", "expire", "orphans")
MIN_ORPHAN_DAYS = 1.0  # Iceberg's procedure refuses a shorter interval


@dataclass(frozen=True)
class MaintainOptions:
    dry_run: bool = False
    tables: tuple[str, ...] = ()  # empty: every table in ddl/
    steps: tuple[str, ...] = STEPS
    retain_days: float = 7.0
    retain_last: int | None = None  # None: the table's history.expire.min-snapshots-to-keep
    orphan_days: float = 3.0
    min_input_files: int = 5  # bin-pack a partition only when it has this many small files
    min_manifests: int = 10  # rewrite manifests only when there are at least this many
    now: datetime | None = None  # for tests; defaults to the wall clock

    def validate(self) -> None:
        unknown = sorted(set(self.steps) - set(STEPS))
        if unknown:
            raise ConfigError(f"maintain: unknown steps {unknown}; valid: {', '.join(STEPS)}")
        if self.orphan_days < MIN_ORPHAN_DAYS:
            raise ConfigError(
                f"maintain: --orphan-days {self.orphan_days} is below Iceberg's 1-day floor; an orphan "
                "window must exceed the longest running write (default 3 days)"
            )
        if self.retain_days < 0 or self.min_input_files < 1 or (self.retain_last or 1) < 1:
            raise ConfigError("maintain: retain-days >= 0, min-input-files >= 1, retain-last >= 1")


@dataclass
class TableReport:
    table: str
    before: TableStats
    after: TableStats | None = None
    protected: list[Protection] = field(default_factory=list)
    expire_before: datetime | None = None
    expirable_snapshots: int = 0
    orphan_files: list[str] = field(default_factory=list)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "before": self.before.as_dict(),
            "after": self.after.as_dict() if self.after else None,
            "protected": [p.as_dict() for p in self.protected],
            "expire_before": self.expire_before.isoformat() if self.expire_before else None,
            "expirable_snapshots": self.expirable_snapshots,
            "orphan_files": self.orphan_files,
            "steps": self.steps,
        }


@dataclass
class MaintainReport:
    dry_run: bool
    tables: list[TableReport]
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "duration_s": round(self.duration_s, 3),
            "tables": [t.as_dict() for t in self.tables],
        }


def run_maintenance(
    settings: Settings, spark: SparkSession | None = None, options: MaintainOptions | None = None
) -> MaintainReport:
    """Maintain every table (or `options.tables`); returns before/after figures per table."""
    options = options or MaintainOptions()
    options.validate()
    started = time.monotonic()
    catalog = load_catalog(settings)
    names = _tables(settings, options, catalog)
    # Before any step: with an older catalog, compaction would fork the history and orphan
    # cleanup would delete the newer commits' files.
    check_catalog_current(
        settings, {n: catalog.load_table(settings.table_id(n)).metadata_location for n in names}
    )
    spark = ops_spark(settings, spark, app_name="schemahub-maintain")
    now = options.now or datetime.now(UTC)
    guards = protections(catalog, settings)
    reports = []
    ok = False
    try:
        for name in names:
            report = _maintain_table(spark, settings, catalog, name, guards.get(name, []), options, now)
            reports.append(report)
            log_event("maintain.table", dry_run=options.dry_run, **_log_fields(report))
        ok = True
    finally:
        duration = time.monotonic() - started
        log_event(
            "maintain.summary",
            ok=ok,
            dry_run=options.dry_run,
            tables=len(reports),
            duration_s=round(duration, 3),
        )
        sink = load_metrics_sink(settings)
        table_metrics = [
            m
            for r in reports
            if r.after is not None
            for m in (
                metric("DataFiles", r.after.data_files, Table=r.table),
                metric("SmallFiles", r.after.small_files, Table=r.table),
            )
        ]
        sink.put(run_metrics("maintain", duration, ok) + table_metrics)
    return MaintainReport(options.dry_run, reports, duration)


def _tables(settings: Settings, options: MaintainOptions, catalog: Any) -> list[str]:
    known = list(load_table_defs(settings.ddl_dir))
    wanted = list(options.tables) or known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ConfigError(f"maintain: unknown tables {unknown}; valid: {', '.join(sorted(known))}")
    return [t for t in wanted if catalog.table_exists(settings.table_id(t))]


def _maintain_table(
    spark: SparkSession,
    settings: Settings,
    catalog: Any,
    name: str,
    protected: list[Protection],
    options: MaintainOptions,
    now: datetime,
) -> TableReport:
    table = catalog.load_table(settings.table_id(name))
    report = TableReport(name, table_stats(name, table), protected=protected)
    call = _Caller(spark, settings, name)
    refresh(spark, settings, name)  # procedures load the table through Spark's catalog cache
    if "compact" in options.steps:
        report.steps["compact"] = _compact(call, report.before, options)
    if "manifests" in options.steps:
        report.steps["manifests"] = _manifests(call, report.before, options)
    if "expire" in options.steps:
        from schemahub_lib.unify.commit import drop_branch, stale_branches  # imports pyspark

        dead = stale_branches(table.metadata.refs, int(now.timestamp() * 1000))
        if not options.dry_run:
            for branch in dead:
                drop_branch(spark, settings.spark_table(name), branch)
        table = catalog.load_table(settings.table_id(name))
        cutoff = expiry_cutoff(now - timedelta(days=options.retain_days), protected)
        retain_last = options.retain_last or int(
            table.properties.get("history.expire.min-snapshots-to-keep", 1)
        )
        candidates = expiry_candidates(table, cutoff, retain_last)
        report.expire_before, report.expirable_snapshots = cutoff, len(candidates)
        report.steps["expire"] = {
            "older_than": cutoff.isoformat(),
            "retain_last": retain_last,
            "dead_run_branches": dead,
        }
        if candidates and not options.dry_run:
            row = call(
                "expire_snapshots",
                f"older_than => TIMESTAMP '{_sql_ts(cutoff)}'",
                f"retain_last => {retain_last}",
            )
            report.steps["expire"].update(row)
    if "orphans" in options.steps and report.before.current_snapshot_id is not None:
        older = now - timedelta(days=options.orphan_days)
        args = [
            f"older_than => TIMESTAMP '{_sql_ts(older)}'",
            f"dry_run => {'true' if options.dry_run else 'false'}",
        ]
        listing = object_listing_view(spark, settings, table)
        if listing is not None:
            args.append(f"file_list_view => '{listing}'")
        rows = call.rows("remove_orphan_files", *args)
        report.orphan_files = sorted(r["orphan_file_location"] for r in rows)
        report.steps["orphans"] = {"older_than": older.isoformat(), "files": len(rows)}
    report.after = table_stats(name, catalog.load_table(settings.table_id(name)))
    return report


def _compact(call: _Caller, before: TableStats, options: MaintainOptions) -> dict[str, Any]:
    if before.small_files < options.min_input_files:
        return {"skipped": f"{before.small_files} small files < min-input-files {options.min_input_files}"}
    if options.dry_run:
        return {"would_rewrite_small_files": before.small_files}
    return call(
        "rewrite_data_files",
        "strategy => 'binpack'",
        f"options => map('min-input-files', '{options.min_input_files}', 'partial-progress.enabled', 'true')",
    )


def _manifests(call: _Caller, before: TableStats, options: MaintainOptions) -> dict[str, Any]:
    if before.manifests < options.min_manifests:
        return {"skipped": f"{before.manifests} manifests, fewer than {options.min_manifests}"}
    if options.dry_run:
        return {"would_rewrite_manifests": before.manifests}
    return call("rewrite_manifests")


class _Caller:
    """`CALL <catalog>.system.<procedure>(table => 'ns.t', ...)` for one table."""

    def __init__(self, spark: SparkSession, settings: Settings, table: str) -> None:
        self.spark = spark
        self.prefix = f"{settings.catalog_name}.system"
        # Fully qualified: with catalog and namespace both named `schemahub`, 'schemahub.t'
        # would resolve as catalog schemahub, default namespace.
        self.table = settings.spark_table(table)

    def rows(self, procedure: str, *args: str) -> list[dict[str, Any]]:
        params = ", ".join((f"table => '{self.table}'", *args))
        return [r.asDict() for r in self.spark.sql(f"CALL {self.prefix}.{procedure}({params})").collect()]

    def __call__(self, procedure: str, *args: str) -> dict[str, Any]:
        rows = self.rows(procedure, *args)
        return rows[0] if rows else {}


def _sql_ts(value: datetime) -> str:
    """A Spark TIMESTAMP literal in UTC (the session time zone load_spark sets)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _log_fields(report: TableReport) -> dict[str, Any]:
    after = report.after or report.before
    return {
        "table": report.table,
        "data_files_before": report.before.data_files,
        "data_files_after": after.data_files,
        "small_files_before": report.before.small_files,
        "small_files_after": after.small_files,
        "snapshots_before": report.before.snapshots,
        "snapshots_after": after.snapshots,
        "protected": [p.snapshot_id for p in report.protected],
        "orphan_files": len(report.orphan_files),
        "steps": report.steps,
    }


JOB_ARGS = ("dry-run", "tables", "steps", "retain-days", "retain-last", "orphan-days", "min-input-files")


def options_from_job_args(args: dict[str, str]) -> MaintainOptions:
    """MaintainOptions from Glue job arguments (names as in JOB_ARGS, underscores for dashes)."""
    d = MaintainOptions()

    def words(key: str) -> tuple[str, ...]:
        return tuple(w for w in args.get(key, "").replace(",", " ").split() if w)

    dry_run = args.get("dry_run", "false").strip().lower()
    if dry_run not in ("true", "false"):
        raise ConfigError(f"maintenance job: --dry-run must be true or false, got {args['dry_run']!r}")
    try:
        return MaintainOptions(
            dry_run=dry_run == "true",
            tables=words("tables"),
            steps=words("steps") or d.steps,
            retain_days=float(args.get("retain_days", d.retain_days)),
            retain_last=int(args["retain_last"]) if "retain_last" in args else None,
            orphan_days=float(args.get("orphan_days", d.orphan_days)),
            min_input_files=int(args.get("min_input_files", d.min_input_files)),
        )
    except ValueError as exc:
        raise ConfigError(f"maintenance job: a numeric argument is not a number ({exc})") from None
