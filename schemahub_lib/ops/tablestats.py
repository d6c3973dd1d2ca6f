"""Physical shape of an Iceberg table from its metadata alone (PyIceberg, no JVM, no data read).

Used by `schemahub status` and by `schemahub maintain` (before/after figures). A file is
"small" when it is under 75% of the table's `write.target-file-size-bytes`, the same line
Iceberg's bin-pack compaction draws (`min-file-size-bytes` default).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyarrow.compute as pc
from pyiceberg.table import Table

DEFAULT_TARGET_FILE_SIZE = 512 * 1024 * 1024  # Iceberg's default write.target-file-size-bytes
SMALL_FILE_RATIO = 0.75


@dataclass(frozen=True)
class TableStats:
    table: str
    snapshots: int
    data_files: int
    bytes: int
    records: int
    small_files: int
    small_file_bytes: int  # the threshold
    manifests: int
    current_snapshot_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def target_file_size(table: Table) -> int:
    return int(table.properties.get("write.target-file-size-bytes", DEFAULT_TARGET_FILE_SIZE))


def small_file_threshold(table: Table) -> int:
    return int(target_file_size(table) * SMALL_FILE_RATIO)


def table_stats(name: str, table: Table) -> TableStats:
    """Counts for the current snapshot; an empty table (no snapshot) is all zeros."""
    threshold = small_file_threshold(table)
    snapshot = table.current_snapshot()
    if snapshot is None:
        return TableStats(name, 0, 0, 0, 0, 0, threshold, 0, None)
    files = table.inspect.data_files(snapshot_id=snapshot.snapshot_id)
    sizes = files.column("file_size_in_bytes")
    small = int(pc.sum(pc.less(sizes, threshold)).as_py() or 0) if len(files) else 0
    manifests = table.inspect.manifests()
    return TableStats(
        table=name,
        snapshots=len(table.metadata.snapshots),
        data_files=len(files),
        bytes=int(pc.sum(sizes).as_py() or 0) if len(files) else 0,
        records=int(pc.sum(files.column("record_count")).as_py() or 0) if len(files) else 0,
        small_files=small,
        small_file_bytes=threshold,
        manifests=len(manifests),
        current_snapshot_id=snapshot.snapshot_id,
    )
