"""Incremental reads of the raw tables, from the snapshots the last unify consumed.

The consumed snapshots are recorded in the summary of the unify snapshot on trades_unified's
main branch (`schemahub.unify.consumed.<raw table>` = snapshot id), so the record commits
atomically with the rows it produced. Per raw table:

* no record (first run): read the table as of its current snapshot;
* record == current snapshot: nothing new;
* record is an ancestor of the current snapshot: Iceberg incremental append scan over
  (record, current]. Compaction commits `replace` snapshots, which this scan skips, so
  rewritten files are not read again;
* record no longer in the history (expired by `expire_snapshots`, rolled back, table
  re-created): the incremental scan cannot run. Fall back to reading the whole table; the
  anti-join against trades_unified drops every row an earlier run applied, so nothing is
  skipped and nothing is applied twice (the cost is one full read, logged as a warning).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from schemahub_lib.errors import ConfigError

PROPERTY_PREFIX = "schemahub.unify."
CONSUMED_PREFIX = PROPERTY_PREFIX + "consumed."


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: int
    parent_id: int | None
    properties: dict[str, str] = field(default_factory=dict)  # summary keys under PROPERTY_PREFIX


@dataclass(frozen=True)
class SourceRead:
    """What to read from one raw table in this run."""

    table: str  # raw table name
    mode: str  # "none" | "full" | "incremental" | "fallback"
    start: int | None  # consumed snapshot (exclusive)
    end: int | None  # current snapshot (inclusive)
    reason: str = ""


@dataclass(frozen=True)
class TargetState:
    """trades_unified's main branch: its head and the consumed record found in its history."""

    snapshot_id: int | None
    consumed: dict[str, int]
    record_found: bool
    branches: tuple[str, ...] = ()  # every branch but main (runs in flight, or left by dead ones)


def refresh(spark: SparkSession, name: str) -> None:
    """Drop Spark's cached table so the next read sees commits made by other processes."""
    try:
        spark.sql(f"REFRESH TABLE {name}")
    except Exception as exc:  # AnalysisException arrives through py4j
        if "TABLE_OR_VIEW_NOT_FOUND" in str(exc) or "not found" in str(exc).lower():
            raise ConfigError(f"table {name} does not exist; create it with `schemahub init`") from exc
        raise


def main_history(spark: SparkSession, name: str) -> tuple[list[Snapshot], tuple[str, ...]]:
    """The main branch's snapshots, newest first (empty for a table without snapshots), and the
    names of the table's other branches."""
    refs = spark.sql(f"SELECT name, type, snapshot_id FROM {name}.refs").collect()
    branches = tuple(r.name for r in refs if r.type == "BRANCH" and r.name != "main")
    main = [r.snapshot_id for r in refs if r.name == "main"]
    if not main:
        return [], branches
    ours = f"map_filter(summary, (k, v) -> startswith(k, '{PROPERTY_PREFIX}'))"
    rows = spark.sql(f"SELECT snapshot_id, parent_id, {ours} AS p FROM {name}.snapshots").collect()
    by_id = {r.snapshot_id: Snapshot(r.snapshot_id, r.parent_id, dict(r.p or {})) for r in rows}
    chain: list[Snapshot] = []
    current: int | None = main[0]
    while current is not None and current in by_id:
        chain.append(by_id[current])
        current = by_id[current].parent_id
    return chain, branches


def target_state(spark: SparkSession, name: str) -> TargetState:
    """The head of main, the newest consumed record among its ancestors, the other branches."""
    chain, branches = main_history(spark, name)
    head = chain[0].snapshot_id if chain else None
    for snap in chain:
        props = snap.properties
        consumed = {
            k.removeprefix(CONSUMED_PREFIX): int(v) for k, v in props.items() if k.startswith(CONSUMED_PREFIX)
        }
        if consumed:
            return TargetState(head, consumed, True, branches)
    return TargetState(head, {}, False, branches)


def plan_read(spark: SparkSession, name: str, table: str, state: TargetState) -> SourceRead:
    """How to read raw table `name` (Spark identifier) given the target's consumed record."""
    chain, _ = main_history(spark, name)
    current = chain[0].snapshot_id if chain else None
    consumed = state.consumed.get(table)
    if current is None:
        return SourceRead(table, "none", consumed, None, "the raw table has no snapshot yet")
    if consumed is None:
        if state.snapshot_id is not None and not state.record_found:
            reason = "trades_unified has snapshots but no consumed record (expired?); reading everything"
            return SourceRead(table, "fallback", None, current, reason)
        return SourceRead(table, "full", None, current, "first run for this source")
    if consumed == current:
        return SourceRead(table, "none", consumed, current)
    if any(s.snapshot_id == consumed for s in chain):
        return SourceRead(table, "incremental", consumed, current)
    reason = (
        f"consumed snapshot {consumed} is no longer in {table}'s history (expired or rolled back); "
        "reading the whole table, the anti-join drops rows applied before"
    )
    return SourceRead(table, "fallback", consumed, current, reason)


def read_raw(spark: SparkSession, name: str, read: SourceRead) -> DataFrame:
    """The rows `read` selects: appended since `start`, or everything as of `end`."""
    reader = spark.read.format("iceberg")
    if read.mode == "incremental":
        reader = reader.option("start-snapshot-id", str(read.start)).option("end-snapshot-id", str(read.end))
    elif read.mode in ("full", "fallback"):
        reader = reader.option("snapshot-id", str(read.end))
    else:
        raise ValueError(f"nothing to read from {read.table} (mode {read.mode})")
    return reader.load(name)
