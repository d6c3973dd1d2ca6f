"""Which snapshots snapshot expiry must keep, so incremental unify and landing never break.

Unify reads each raw table incrementally from the raw snapshot it last consumed (start,
exclusive) to the current one; Iceberg needs the start snapshot and every snapshot after it.
Landing resumes each stream from the watermark map in the newest raw snapshot that carries
one (compaction and manifest rewrites add snapshots without it). Unify finds what it consumed
in the newest `trades_unified` snapshot that carries its record. So, per table:

* raw tables: the snapshot unify last consumed from it, and the newest snapshot carrying
  landing's watermark. A raw table with data that unify never consumed keeps everything.
* trades_unified: the newest snapshot carrying unify's record.

`expiry_cutoff` turns these into one `older_than` for `expire_snapshots`: the earlier of the
retention horizon and the oldest protected snapshot's commit time. Iceberg expires only
snapshots strictly older than it, so every protected snapshot and everything newer stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from schemahub_lib.ops import formats
from schemahub_lib.settings import Settings


@dataclass(frozen=True)
class Protection:
    snapshot_id: int
    committed_at: datetime
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "committed_at": self.committed_at.isoformat(),
            "reason": self.reason,
        }


def protections(catalog: Any, settings: Settings) -> dict[str, list[Protection]]:
    """Protected snapshots per table name, read from the tables' own snapshot metadata."""
    out: dict[str, list[Protection]] = {}
    consumed: dict[str, int] = {}
    unified_id = settings.table_id(formats.UNIFIED_TABLE)
    if catalog.table_exists(unified_id):
        unified = catalog.load_table(unified_id)
        record = newest_with(unified, formats.unify_record_present)
        if record is not None:
            out.setdefault(formats.UNIFIED_TABLE, []).append(_protect(record, "newest unify commit record"))
            consumed = formats.unify_consumed(record.summary.additional_properties if record.summary else {})
    for raw_name in formats.RAW_TABLES.values():
        ident = settings.table_id(raw_name)
        if not catalog.table_exists(ident):
            continue
        raw = catalog.load_table(ident)
        if raw.current_snapshot() is None:
            continue
        guards = out.setdefault(raw_name, [])
        marked = newest_with(raw, formats.watermark_present)
        if marked is not None:
            guards.append(_protect(marked, "newest snapshot carrying landing's watermark"))
        start = consumed.get(raw_name)
        snapshot = raw.snapshot_by_id(start) if start is not None else None
        if snapshot is not None:
            guards.append(_protect(snapshot, "raw snapshot unify last consumed"))
        elif start is not None:
            # Expired already, or a foreign id: unify will fail or fall back; keep what is left.
            guards.append(_protect(oldest(raw), f"unify's start snapshot {start} is gone; keep all"))
        else:
            guards.append(_protect(oldest(raw), "not consumed by unify yet; keep all"))
    return out


def expiry_cutoff(horizon: datetime, protected: Iterable[Protection]) -> datetime:
    """The `older_than` for expire_snapshots: never later than any protected snapshot."""
    cutoff = horizon
    for p in protected:
        cutoff = min(cutoff, p.committed_at)
    return cutoff


def expiry_candidates(table: Table, cutoff: datetime, retain_last: int) -> list[int]:
    """Snapshot ids expire_snapshots would remove (for dry runs, and to skip no-op calls).

    Mirrors Iceberg's rule: older than the cutoff, not the current snapshot, not among the
    newest `retain_last` ancestors of main, not referenced by a branch or tag.
    """
    current = table.current_snapshot()
    if current is None:
        return []
    kept = {ref.snapshot_id for ref in table.metadata.refs.values()}
    kept.update(s.snapshot_id for s in _ancestors(table, current)[:retain_last])
    cutoff_ms = int(cutoff.timestamp() * 1000)
    return [
        s.snapshot_id
        for s in table.metadata.snapshots
        if s.timestamp_ms < cutoff_ms and s.snapshot_id not in kept
    ]


def newest_with(table: Table, has_record: Any) -> Snapshot | None:
    """The newest ancestor of the current snapshot whose summary satisfies `has_record`."""
    current = table.current_snapshot()
    if current is None:
        return None
    for snap in _ancestors(table, current):
        props = snap.summary.additional_properties if snap.summary else {}
        if has_record(props):
            return snap
    return None


def oldest(table: Table) -> Snapshot:
    return min(table.metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number or 0))


def _ancestors(table: Table, snap: Snapshot) -> list[Snapshot]:
    out = []
    current: Snapshot | None = snap
    while current is not None:
        out.append(current)
        parent = current.parent_snapshot_id
        current = table.snapshot_by_id(parent) if parent is not None else None
    return out


def _protect(snap: Snapshot, reason: str) -> Protection:
    return Protection(snap.snapshot_id, datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC), reason)
