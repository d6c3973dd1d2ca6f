"""What a raw read holds (rows, exchange symbols, trade days), from Iceberg metadata alone.

Unify needs, before it maps a batch, each source's row count, the exchange symbols it holds
(to resolve them) and its trade days (to read only that part of trades_unified). The data
files a read covers carry all three in their manifest entries: `record_count`, and per column
the exact lower and upper bounds and the null count. Landing commits one product per snapshot
(landing/commit.py), so each raw file holds one symbol: its symbol column's lower bound equals
its upper bound. Reading that is a few small Avro files instead of a Spark job over the batch.

`stats_from_metadata` answers only when the answer is exact, and None otherwise; run.py then
counts that source in Spark (batch.batch_stats). It is None when:

* a snapshot in an incremental range is neither an append nor a compaction (`replace`), or a
  full read has delete files: counts would then depend on how deletes apply;
* a file lacks the bounds or null count needed, or holds more than one symbol (a file written
  by something else than landing), or a symbol longer than the 16 characters Iceberg keeps;
* the trade time is not a raw timestamp or a whole-number epoch (`from_s`..`from_ns` of a
  long or int column): text or fractional times cannot be bounded without parsing them.

Which files: an incremental read is Iceberg's incremental append scan, i.e. the data files
added by the `append` snapshots in (start, end]; a full read is every live file at `end`.
Trade-time bounds out of the plausible window are clamped to it: such a row stops the write
(compile.py), so the clamped range is never used to decide a key is new.
"""

from __future__ import annotations

from collections.abc import Callable

from pyiceberg.conversions import from_bytes
from pyiceberg.manifest import DataFile, ManifestContent, ManifestEntryStatus, ManifestFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, Snapshot
from pyiceberg.types import IcebergType, IntegerType, LongType, StringType, TimestampType, TimestamptzType

from schemahub_lib.mapping.spec import MAX_TRADE_EPOCH_S, MIN_TRADE_EPOCH_S, MappingSpec
from schemahub_lib.mapping.transforms import EPOCH_UNITS
from schemahub_lib.unify.batch import SourceStats
from schemahub_lib.unify.compile import MICROS_PER_DAY
from schemahub_lib.unify.reads import SourceRead

MICROS = 1_000_000
MIN_US, MAX_US = MIN_TRADE_EPOCH_S * MICROS, MAX_TRADE_EPOCH_S * MICROS - 1
EXACT_STRING_BOUND = 16  # Iceberg's default `truncate(16)` metrics keep strings this long intact
SKIPPED = frozenset({Operation.REPLACE})  # compactions: the incremental append scan skips them


def stats_from_metadata(table: Table, read: SourceRead, spec: MappingSpec) -> SourceStats | None:
    """`read`'s rows, symbols and trade days (min and max µs per day) from `table`'s metadata
    (PyIceberg), or None when metadata cannot say exactly (see the module docstring)."""
    to_us = _trade_micros(spec)
    if to_us is None:
        return None
    schema = table.schema()
    time_field = schema.find_field(to_us[0])
    symbol_field = schema.find_field(spec.symbol_source) if spec.symbol_source else None
    stats = SourceStats()
    files = _files(table, read)
    if files is None:
        return None
    for f in files:
        stats.rows += f.record_count
        if not f.record_count:
            continue
        symbols = _symbols(f, symbol_field.field_id, symbol_field.field_type) if symbol_field else {None}
        bounds = _bounds(f, time_field.field_id, time_field.field_type)
        if symbols is None or bounds is None:
            return None
        stats.symbols |= symbols
        lo, hi = (_clamp(to_us[1](b)) for b in bounds)
        for day in range(lo // MICROS_PER_DAY, hi // MICROS_PER_DAY + 1):
            start, end = day * MICROS_PER_DAY, (day + 1) * MICROS_PER_DAY - 1
            known = stats.days.get(day, (max(lo, start), min(hi, end)))
            stats.days[day] = (min(known[0], max(lo, start)), max(known[1], min(hi, end)))
    return stats


def _trade_micros(spec: MappingSpec) -> tuple[str, Callable[[int], int]] | None:
    """(raw column, raw bound -> trade_ts µs) when the trade time is a monotonic whole-number
    function of one raw column, as compile.py computes it; else None."""
    rule = spec.rule("trade_ts")
    source = rule.source
    if source is None:
        return None
    if rule.transform is None and source.type == "timestamp":
        return source.name, lambda v: v
    if rule.transform is not None and rule.transform in EPOCH_UNITS and source.type in ("long", "int"):
        unit = EPOCH_UNITS[rule.transform]
        if unit <= MICROS:
            return source.name, lambda v: v * (MICROS // unit)
        return source.name, lambda v: v // (unit // MICROS)
    return None


def _files(table: Table, read: SourceRead) -> list[DataFile] | None:
    if read.mode == "incremental":
        return _appended(table, read)
    tasks = list(table.scan(snapshot_id=read.end).plan_files())
    if any(t.delete_files for t in tasks):
        return None
    return [t.file for t in tasks]


def _appended(table: Table, read: SourceRead) -> list[DataFile] | None:
    """The data files the append snapshots in (start, end] added, as Iceberg's incremental
    append scan reads them; None if another kind of change is in the range.

    Every manifest list holds all the table's live manifests, so each append's own list would
    cost a range of k appends k lists of up to every manifest. The manifests an append wrote
    are read from `end`'s list instead: they are there, unchanged, unless a later commit (a
    compaction in the range) rewrote them. An append whose added-file count (its summary's)
    is not found there is read from its own list."""
    snapshots = []
    current = read.end
    while current is not None and current != read.start:
        snapshot = table.snapshot_by_id(current)
        if snapshot is None:  # plan_read found `start` among the ancestors: cannot happen
            return None
        operation = snapshot.summary.operation if snapshot.summary is not None else None
        if operation == Operation.APPEND:
            snapshots.append(snapshot)
        elif operation not in SKIPPED:
            return None
        current = snapshot.parent_snapshot_id
    end = table.snapshot_by_id(read.end) if snapshots and read.end is not None else None
    live = end.manifests(table.io) if end is not None else []
    files = []
    for snapshot in snapshots:
        added = _added_files(table, snapshot.snapshot_id, live)
        if added is None or len(added) != _added_count(snapshot):
            added = _added_files(table, snapshot.snapshot_id, snapshot.manifests(table.io))
        if added is None:
            return None
        files.extend(added)
    return files


def _added_files(table: Table, snapshot_id: int, manifests: list[ManifestFile]) -> list[DataFile] | None:
    """The data files that the manifests among `manifests` written by `snapshot_id` list as its
    additions; None if one of those is a delete manifest."""
    files = []
    for manifest in manifests:
        if manifest.added_snapshot_id != snapshot_id:
            continue
        if manifest.content != ManifestContent.DATA:
            return None
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == snapshot_id:
                files.append(entry.data_file)
    return files


def _added_count(snapshot: Snapshot) -> int | None:
    """The data files `snapshot`'s summary says it added (None if it does not say)."""
    count = snapshot.summary.get("added-data-files") if snapshot.summary is not None else None
    return int(count) if count is not None else None


def _bounds(f: DataFile, field_id: int, kind: IcebergType) -> tuple[int, int] | None:
    if not isinstance(kind, (TimestampType, TimestamptzType, LongType, IntegerType)):
        return None
    nulls = (f.null_value_counts or {}).get(field_id)
    lower, upper = (f.lower_bounds or {}).get(field_id), (f.upper_bounds or {}).get(field_id)
    if nulls is None or nulls == f.record_count or lower is None or upper is None:
        return None  # an all-null time column stops the write; let Spark say so
    return int(from_bytes(kind, lower)), int(from_bytes(kind, upper))


def _symbols(f: DataFile, field_id: int, kind: IcebergType) -> set[str | None] | None:
    """The file's one symbol (and None if it has null symbols), or None if not known exactly."""
    if not isinstance(kind, StringType):
        return None
    nulls = (f.null_value_counts or {}).get(field_id)
    if nulls is None:
        return None
    found: set[str | None] = {None} if nulls else set()
    if nulls == f.record_count:
        return found
    lower, upper = (f.lower_bounds or {}).get(field_id), (f.upper_bounds or {}).get(field_id)
    if lower is None or lower != upper:
        return None
    value = str(from_bytes(kind, lower))
    if len(value) >= EXACT_STRING_BOUND:
        return None  # at the truncation length: cannot rule out a longer value
    return found | {value}


def _clamp(micros: int) -> int:
    return min(max(micros, MIN_US), MAX_US)
