"""The coverage table (ddl/schemahub_coverage.sql): audit results and unfillable-gap marks.

Written and read with PyIceberg, one append per audit or repair. Id ranges are inclusive.
`classify` splits a gap into pieces by status: `unfillable` where a repair mark covers it (the
exchange answered around those ids, so they were never issued), `skipped`, `open` or `pending`
according to landing's stream state.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from schemahub_lib.ops.formats import COVERAGE_TABLE
from schemahub_lib.settings import Settings

Range = tuple[int, int]
StreamKey = tuple[str, str]  # (exchange, canonical symbol)

OPEN = "open"  # lost inside a landed range: alarms
SKIPPED = "skipped"  # left out on purpose by a capped catch-up: alarms until repaired
PENDING = "pending"  # not reached yet by an unfinished landing walk
UNFILLABLE = "unfillable"  # the exchange never issued these ids (repair proved it)
ALARMING = frozenset({OPEN, SKIPPED})


def load_marks(catalog: Any, settings: Settings) -> dict[StreamKey, list[Range]]:
    """Merged, sorted unfillable id ranges per stream."""
    ident = settings.table_id(COVERAGE_TABLE)
    if not catalog.table_exists(ident):
        return {}
    table = catalog.load_table(ident)
    rows = table.scan(
        row_filter=f"kind = '{UNFILLABLE}'", selected_fields=("exchange", "symbol", "first_id", "last_id")
    ).to_arrow()
    marks: dict[StreamKey, list[Range]] = {}
    for ex, sym, a, b in zip(*(rows.column(c).to_pylist() for c in rows.column_names), strict=True):
        marks.setdefault((ex, sym), []).append((int(a), int(b)))
    return {k: merge(v) for k, v in marks.items()}


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, non-overlapping, non-adjacent ranges covering the same ids."""
    out: list[Range] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def split(gap: Range, ranges: Sequence[Range]) -> tuple[list[Range], list[Range]]:
    """`gap` cut into the pieces `ranges` (merged, sorted) cover and the pieces they do not."""
    a, b = gap
    inside: list[Range] = []
    outside: list[Range] = []
    cursor = a
    for m_a, m_b in ranges[max(bisect.bisect_right(ranges, (a, a)) - 1, 0) :]:
        if m_a > b:
            break
        if m_b < cursor:
            continue
        if m_a > cursor:
            outside.append((cursor, m_a - 1))
        inside.append((max(m_a, cursor), min(m_b, b)))
        cursor = min(m_b, b) + 1
        if cursor > b:
            break
    if cursor <= b:
        outside.append((cursor, b))
    return inside, outside


def classify(
    gap: Range, marks: Sequence[Range], skipped: Sequence[Range], landed: Sequence[Range] | None
) -> list[tuple[Range, str]]:
    """`gap` split into pieces by status, ascending.

    `unfillable`: a repair mark covers it. `skipped`: landing left it out on purpose (a capped
    catch-up). `open`: inside a range landing claims complete, so trades there were lost.
    `pending`: between landed ranges, where an unfinished walk has not reached yet. Without
    landing's state (`landed` None) every unmarked piece counts as open.
    """
    out: list[tuple[Range, str]] = []
    unfillable, rest = split(gap, marks)
    out += [(r, UNFILLABLE) for r in unfillable]
    for piece in rest:
        left_out, rest2 = split(piece, skipped)
        out += [(r, SKIPPED) for r in left_out]
        for piece2 in rest2:
            if landed is None:
                out.append((piece2, OPEN))
                continue
            inside, outside = split(piece2, landed)
            out += [(r, OPEN) for r in inside] + [(r, PENDING) for r in outside]
    return sorted(out)


def covered(marks: Sequence[Range], first: int, last: int) -> int:
    """How many ids in [first, last] the marks cover."""
    return sum(max(0, min(b, last) - max(a, first) + 1) for a, b in marks)


def append_rows(catalog: Any, settings: Settings, rows: Sequence[Mapping[str, Any]]) -> int | None:
    """Append coverage rows in one snapshot; returns its id (None when there was nothing)."""
    if not rows:
        return None
    table = catalog.load_table(settings.table_id(COVERAGE_TABLE))
    schema = table.schema().as_arrow()
    now = datetime.now(UTC)
    columns = {
        f.name: [r.get(f.name, now if f.name == "recorded_at" else None) for r in rows] for f in schema
    }
    table.append(pa.Table.from_pydict(columns, schema=schema))
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot else None
