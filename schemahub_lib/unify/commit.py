"""Publishing a unify run: one append snapshot on main, or nothing, decided atomically.

Two unify runs started at once must not both insert the same keys. An insert-only MERGE is
executed by Spark as an unconditional append (no conflict check), so each run instead:

1. reads main's head M and the consumed record in its history (reads.target_state);
2. creates its own branch at M and appends its rows to that branch, with the consumed
   record as snapshot properties (`snapshot-property.*` write options);
3. fast-forwards main to the branch and drops the branch, in one metadata commit (Iceberg's
   ManageSnapshots, as the `fast_forward` procedure uses it). Iceberg commits that only if
   main is still an ancestor of the branch, i.e. nobody committed to main since M: a
   compare-and-set on main, checked again on every commit retry against the catalog's current
   metadata (JDBC `UPDATE ... WHERE metadata_location = ...`, Glue `VersionId`). Main gains
   exactly one snapshot: the branch's append, parent M.

If main moved, the run drops its branch and starts over from the new head (run.py): the
winner's record then says what was consumed, so the loser reads only what is left.
On a table without snapshots, CREATE BRANCH adds an empty snapshot as the branch's root, and
the fast-forward creates main; a second run's fast-forward then fails the same way.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from schemahub_lib.errors import CommitConflictError

BRANCH_PREFIX = "schemahub_unify_"
STALE_BRANCH_MS = 6 * 3600 * 1000  # a run's branch older than this belongs to a dead run
MAIN_MOVED = ("is not an ancestor", "Ref does not exist")
# Another commit to the table won the catalog's compare-and-set more often than Iceberg's own
# retries allowed; branch create/drop (ManageSnapshots) give up with "Table metadata refresh is
# required" when a concurrent run commits in between.
RACED = ("CommitFailedException", "Table metadata refresh is required")
RETRIES = 6
# zstd level of the files a run writes. Level 1 writes the batch ~10% faster than Parquet's
# default 3 for ~2% more bytes (13.4 -> 13.7 bytes/trade on bench unify's data); compaction
# (rewrite_data_files) still uses the table's setting.
ZSTD_LEVEL = "1"


def _raced(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in RACED)


def _first_line(exc: BaseException) -> str:
    lines = [
        line for line in str(exc).strip().splitlines() if line.strip() and "error occurred while" not in line
    ]
    return (lines[0] if lines else type(exc).__name__)[:200]


def _metadata_sql(spark: SparkSession, statement: str) -> None:
    """A snapshot-ref change in SQL (create/drop branch), retried as `_metadata_change` says."""
    _metadata_change(lambda: spark.sql(statement))


def _metadata_change(change: Callable[[], object]) -> None:
    """A snapshot-ref change, retried when another commit raced it; CommitConflictError if it
    keeps losing or main moved. (Iceberg's own commit retries refresh the table first.)"""
    for attempt in range(1, RETRIES + 1):
        try:
            change()
            return
        except Exception as exc:  # arrives through py4j
            if any(marker in str(exc) for marker in MAIN_MOVED):
                raise CommitConflictError(
                    f"main moved while this run was writing ({_first_line(exc)})"
                ) from exc
            if not _raced(exc):
                raise
            if attempt == RETRIES:
                raise CommitConflictError(f"lost {RETRIES} commit races: {_first_line(exc)}") from exc
            time.sleep(random.uniform(0.02, 0.2) * attempt)


def new_branch_name(now_ms: int | None = None) -> str:
    """`schemahub_unify_<epoch ms>_<random>`: the time lets any run drop a dead run's branch."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{BRANCH_PREFIX}{stamp}_{uuid.uuid4().hex[:8]}"


def create_branch(spark: SparkSession, table: str, branch: str, at_snapshot: int | None) -> None:
    as_of = "" if at_snapshot is None else f" AS OF VERSION {at_snapshot}"
    _metadata_sql(spark, f"ALTER TABLE {table} CREATE BRANCH `{branch}`{as_of}")


def drop_branch(spark: SparkSession, table: str, branch: str) -> None:
    _metadata_sql(spark, f"ALTER TABLE {table} DROP BRANCH IF EXISTS `{branch}`")


def append_to_branch(
    rows: DataFrame, table: str, branch: str, properties: dict[str, str], *, in_order: bool
) -> None:
    """One append snapshot on `branch` carrying `properties` in its summary.

    `df.writeTo("t.branch_<b>")` is the way to address a branch: the `branch` write option is
    ignored by Iceberg's DataFrameWriterV2 path (seen with 1.7.1) (it silently appends to main).
    The rows arrive hash-partitioned by key from dedup, so neither way shuffles again (the
    table's hash mode would, and write each day from a single task, one core):
    - `in_order`: each task writes its rows in the order they come (dedup's: exchange, symbol,
      trade id), with one open file per day (Iceberg's fanout writer). No second sort: the
      table's local sort was about a tenth of a 1M-row run, and its days() key was evaluated
      in every comparison.
    - otherwise each task sorts its share by the table's order (day, exchange, symbol,
      trade_ts) and keeps one file open at a time: for batches over many days.
    """
    writer = rows.writeTo(f"{table}.branch_{branch}").option("compression-level", ZSTD_LEVEL)
    if in_order:
        writer = writer.option("use-table-distribution-and-ordering", "false")
        writer = writer.option("fanout-enabled", "true")
    else:
        writer = writer.option("distribution-mode", "none")
    for key, value in properties.items():
        writer = writer.option(f"snapshot-property.{key}", value)
    try:
        writer.append()
    except Exception as exc:  # arrives through py4j
        if _raced(exc):
            raise CommitConflictError(
                f"{table}: lost the commit race writing {branch}: {_first_line(exc)}"
            ) from exc
        raise


def publish_branch(spark: SparkSession, table_id: str, branch: str) -> None:
    """Move main to `branch`'s head and drop `branch`, in ONE metadata commit, iff main is still
    the branch's ancestor; else CommitConflictError.

    Through Iceberg's Java API on the session's own table object, which is what the
    `fast_forward` procedure does, but with the branch's removal in the same commit: the
    procedure and then DROP BRANCH were two metadata.json writes and two catalog updates
    (on Glue two UpdateTable calls). The session's cached table is the one committed, so
    Spark reads the published main without a refresh. `table_id` is catalog-qualified: with
    the namespace named like the catalog (`schemahub`), `schemahub.trades_unified` would be
    read as catalog `schemahub`, no namespace.
    """
    table = _session_table(spark, table_id)

    def change() -> None:
        table.manageSnapshots().fastForwardBranch("main", branch).removeBranch(branch).commit()

    _metadata_change(change)


def _session_table(spark: SparkSession, table_id: str) -> Any:
    """The Iceberg table object (Java) the session's catalog holds for `table_id`."""
    iceberg: Any = spark._jvm.org.apache.iceberg  # type: ignore[union-attr]
    return iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, table_id)


def stale_branches(branches: Iterable[str], now_ms: int | None = None) -> list[str]:
    """The unify branches among `branches` older than STALE_BRANCH_MS: left by dead runs."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    stale = []
    for name in branches:
        if not name.startswith(BRANCH_PREFIX):
            continue
        stamp = name.removeprefix(BRANCH_PREFIX).split("_")[0]
        if stamp.isdigit() and now - int(stamp) > STALE_BRANCH_MS:
            stale.append(name)
    return stale


def drop_stale_branches(
    spark: SparkSession, table: str, branches: Iterable[str], now_ms: int | None = None
) -> list[str]:
    """Drop unify branches left by runs that died between creating and dropping them."""
    stale = stale_branches(branches, now_ms)
    for name in stale:
        drop_branch(spark, table, name)
    return stale


def published(spark: SparkSession, table_id: str, branch: str) -> tuple[int, int]:
    """(snapshot id, rows added) of the snapshot a run just wrote on `branch`.

    Read from the session's own table object, the one the write committed (as
    `publish_branch` uses it): no catalog read, where a fresh load was a query and a
    metadata.json read (on Glue a GetTable and an S3 GET) per run."""
    table = _session_table(spark, table_id)
    ref = table.refs().get(branch)
    snapshot = table.snapshot(ref.snapshotId()) if ref is not None else None
    if snapshot is None:
        raise CommitConflictError(f"{table_id}: branch {branch} vanished before it was read back")
    added = snapshot.summary().get("added-records")
    return int(snapshot.snapshotId()), int(added or 0)
