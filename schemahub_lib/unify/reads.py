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
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from pyspark.sql import DataFrame, SparkSession

from schemahub_lib.errors import ConfigError
from schemahub_lib.settings import Settings

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
    """Drop Spark's cached table so its reads see at least what PyIceberg just loaded.

    `name` is `catalog.namespace.table` (Settings.spark_table). The catalog's own
    `invalidateTable`, not `REFRESH TABLE`: the statement is parsed, analyzed (which loads the
    table it is about to drop) and run as a command, ~12 ms a table; a run refreshes up to four
    before its reads, each of which loads the table anew anyway. No DataFrame is cached over
    these tables (REFRESH would also re-cache those)."""
    catalog, *namespace, table = name.split(".")
    jvm: Any = spark._jvm
    session: Any = spark._jsparkSession
    # The catalog manager reads the catalog's settings from this thread's active session (a
    # statement sets it while it runs); a run in a thread of its own has none yet.
    jvm.org.apache.spark.sql.SparkSession.setActiveSession(session)
    plugin = session.sessionState().catalogManager().catalog(catalog)
    gateway: Any = spark.sparkContext._gateway
    levels = gateway.new_array(jvm.String, len(namespace))
    for i, level in enumerate(namespace):
        levels[i] = level
    plugin.invalidateTable(jvm.org.apache.spark.sql.connector.catalog.Identifier.of(levels, table))


def load_table(catalog: Catalog, settings: Settings, table: str) -> Table:
    """The table's current metadata through PyIceberg: no Spark job, the catalog's latest commit."""
    try:
        return catalog.load_table(settings.table_id(table))
    except NoSuchTableError as exc:
        raise ConfigError(
            f"table {settings.table_id(table)} does not exist; create it with `schemahub init`"
        ) from exc


def main_history(table: Table) -> tuple[list[Snapshot], tuple[str, ...]]:
    """The main branch's snapshots, newest first (empty for a table without snapshots), and the
    names of the table's other branches."""
    meta = table.metadata
    branches = tuple(n for n, r in meta.refs.items() if r.snapshot_ref_type == "branch" and n != "main")
    by_id = {s.snapshot_id: s for s in meta.snapshots}
    chain: list[Snapshot] = []
    current = meta.refs["main"].snapshot_id if "main" in meta.refs else None
    while current is not None and current in by_id:
        snap = by_id[current]
        props = snap.summary.additional_properties if snap.summary is not None else {}
        ours = {k: v for k, v in props.items() if k.startswith(PROPERTY_PREFIX)}
        chain.append(Snapshot(snap.snapshot_id, snap.parent_snapshot_id, ours))
        current = snap.parent_snapshot_id
    return chain, branches


def target_state(table: Table) -> TargetState:
    """The head of main, the newest consumed record among its ancestors, the other branches."""
    chain, branches = main_history(table)
    head = chain[0].snapshot_id if chain else None
    for snap in chain:
        props = snap.properties
        consumed = {
            k.removeprefix(CONSUMED_PREFIX): int(v) for k, v in props.items() if k.startswith(CONSUMED_PREFIX)
        }
        if consumed:
            return TargetState(head, consumed, True, branches)
    return TargetState(head, {}, False, branches)


def plan_read(table: Table, name: str, state: TargetState) -> SourceRead:
    """How to read raw table `name` (a PyIceberg `table`) given the target's consumed record."""
    chain, _ = main_history(table)
    current = chain[0].snapshot_id if chain else None
    consumed = state.consumed.get(name)
    if current is None:
        return SourceRead(name, "none", consumed, None, "the raw table has no snapshot yet")
    if consumed is None:
        if state.snapshot_id is not None and not state.record_found:
            reason = "trades_unified has snapshots but no consumed record (expired?); reading everything"
            return SourceRead(name, "fallback", None, current, reason)
        return SourceRead(name, "full", None, current, "first run for this source")
    if consumed == current:
        return SourceRead(name, "none", consumed, current)
    if any(s.snapshot_id == consumed for s in chain):
        return SourceRead(name, "incremental", consumed, current)
    reason = (
        f"consumed snapshot {consumed} is no longer in {name}'s history (expired or rolled back); "
        "reading the whole table, the anti-join drops rows applied before"
    )
    return SourceRead(name, "fallback", consumed, current, reason)


# Target bytes per read task of a raw table (Iceberg's `split-size` read option).
RAW_SPLIT_SIZE = 8 * 1024 * 1024


def read_raw(spark: SparkSession, name: str, read: SourceRead) -> DataFrame:
    """The rows `read` selects: appended since `start`, or everything as of `end`.

    Read in splits of RAW_SPLIT_SIZE bytes (a read option: the tables' own 128 MB
    `read.split.target-size` stays for every other reader). Iceberg cuts a file only at its row
    groups (the raw tables' `write.parquet.row-group-limit`) and packs the pieces into tasks of
    up to the split size, each piece counting at least `read.split.open-file-cost` (4 MB). At
    128 MB a landing batch's file is one task (Binance's 64% of a 1M-trade batch: ~19 MB in 6
    row groups) while the other cores wait; at 8 MB it is 3 tasks, the batch's three files 6
    instead of 3. Smaller (4 MB: every row group a task) measured no faster on 2 cores, and a
    full read of a big table would pay for many more tasks.
    """
    reader = spark.read.format("iceberg").option("split-size", str(RAW_SPLIT_SIZE))
    if read.mode == "incremental":
        reader = reader.option("start-snapshot-id", str(read.start)).option("end-snapshot-id", str(read.end))
    elif read.mode in ("full", "fallback"):
        reader = reader.option("snapshot-id", str(read.end))
    else:
        raise ValueError(f"nothing to read from {read.table} (mode {read.mode})")
    return reader.load(name)
