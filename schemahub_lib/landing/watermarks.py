"""Stream positions: authoritative in raw snapshot summaries, queryable in `schemahub_watermarks`.

Every raw commit writes `schemahub.watermarks`, the JSON of every stream of that exchange
(state.py), into its snapshot summary, together with the data it lands. Snapshots made by
anything else (compaction, maintenance) do not carry it, so readers walk back from the
current snapshot through its ancestors to the newest snapshot that does.

`schemahub_watermarks` gets one row per stream advance, appended after the raw commit (rows
are batched: at least every 30 s and at the end of each stream). A crash before they are
appended leaves the table behind the snapshot summaries; `WatermarkLog.repair` (run at the
start of every landing run) appends what the summaries hold and the table lacks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from schemahub_lib.landing.filters import eq
from schemahub_lib.landing.retry import retry_commit
from schemahub_lib.landing.state import ExchangeState, StateError, StreamState
from schemahub_lib.landing.writer import TABLE_LOCKS
from schemahub_lib.logs import log_event
from schemahub_lib.settings import Settings

STATE_PROPERTY = "schemahub.watermarks"
RUN_PROPERTY = "schemahub.run_id"
KIND_PROPERTY = "schemahub.kind"
STREAM_PROPERTY = "schemahub.stream"
COMMIT_PROPERTY = "schemahub.commit_id"
WATERMARKS_TABLE = "schemahub_watermarks"


def read_exchange_state(table: Table) -> ExchangeState:
    """The stream positions the table's current state carries (empty for a new table)."""
    current = table.current_snapshot()
    if current is None:
        return ExchangeState()
    for snapshot in ancestors_of(current, table.metadata):
        text = snapshot.summary[STATE_PROPERTY] if snapshot.summary is not None else None
        if text:
            return ExchangeState.from_property(
                text, where=str(table.name()), snapshot_id=snapshot.snapshot_id
            )
    total = current.summary["total-records"] if current.summary is not None else None
    if total in (None, "0"):
        return ExchangeState()
    raise StateError(
        f"{'.'.join(table.name())}: holds {total} rows but no snapshot in the current history carries "
        f"{STATE_PROPERTY} (were the snapshots that did expired?). Landing will not guess where the "
        "streams stand; restore the positions from schemahub_watermarks (latest `state` per stream) "
        "before landing again."
    )


def snapshot_with_commit(table: Table, commit_id: str, stop_at: int | None) -> int | None:
    """The snapshot carrying `commit_id`, searching back from the current one to `stop_at`."""
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.snapshot_id == stop_at:
            return None
        if snapshot.summary is not None and snapshot.summary[COMMIT_PROPERTY] == commit_id:
            return snapshot.snapshot_id
    return None


class WatermarkLog:
    """Appends to and reads `schemahub_watermarks`.

    `record` buffers one row per stream advance; `flush` appends what is buffered in one
    commit, at most every `FLUSH_S` seconds unless forced (at the end of every stream), so a
    stream flushing its raw data often does not also commit here every time.
    """

    FLUSH_S = 30.0

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.identifier = settings.table_id(WATERMARKS_TABLE)
        self._lock = TABLE_LOCKS.get(f"{settings.warehouse}/{self.identifier}")
        self._buffer: list[pa.Table] = []
        self._buffer_lock = threading.Lock()
        self._flushed = time.monotonic()
        self._schema: pa.Schema | None = None

    def append(
        self,
        exchange: str,
        states: Mapping[str, StreamState],
        *,
        run_id: str,
        raw_snapshot_id: int | None,
    ) -> None:
        """Append rows now."""
        self.record(exchange, states, run_id=run_id, raw_snapshot_id=raw_snapshot_id)
        self.flush(force=True)

    def record(
        self,
        exchange: str,
        states: Mapping[str, StreamState],
        *,
        run_id: str,
        raw_snapshot_id: int | None,
    ) -> None:
        if not states:
            return
        if self._schema is None:
            self._schema = self.catalog.load_table(self.identifier).schema().as_arrow()
        rows = _rows(self._schema, exchange, states, run_id, raw_snapshot_id)
        with self._buffer_lock:
            self._buffer.append(rows)

    def flush(self, *, force: bool) -> None:
        with self._buffer_lock:
            if not self._buffer or (not force and time.monotonic() - self._flushed < self.FLUSH_S):
                return
            arrow, self._buffer = pa.concat_tables(self._buffer), []
            self._flushed = time.monotonic()

        def attempt() -> None:
            fresh = self.catalog.load_table(self.identifier)
            fresh.append(arrow)

        with self._lock:
            retry_commit(attempt, what=f"append to {self.identifier}")

    def latest(self, exchange: str) -> dict[str, str]:
        """Latest `state` JSON per product for `exchange`, as the table has it."""
        table = self.catalog.load_table(self.identifier)
        if table.current_snapshot() is None:
            return {}
        rows = (
            table.scan(
                row_filter=eq("exchange", exchange), selected_fields=("product", "state", "updated_at")
            )
            .to_arrow()
            .sort_by([("updated_at", "ascending")])
            .to_pylist()
        )
        latest: dict[str, str] = {}
        for row in rows:
            latest[row["product"]] = row["state"] or ""
        return latest

    def repair(self, exchange: str, state: ExchangeState, run_id: str) -> list[str]:
        """Append rows for streams whose latest row differs from the snapshot summary."""
        have = self.latest(exchange)
        stale = {
            product: s
            for product, s in state.streams.items()
            if have.get(product) != ExchangeState({product: s}).to_property()
        }
        if stale:
            log_event("watermarks.repair", exchange=exchange, streams=sorted(stale), run_id=run_id)
            self.append(exchange, stale, run_id=run_id, raw_snapshot_id=state.snapshot_id)
        return sorted(stale)


def _rows(
    schema: pa.Schema,
    exchange: str,
    states: Mapping[str, StreamState],
    run_id: str,
    raw_snapshot_id: int | None,
) -> pa.Table:
    now_us = time.time_ns() // 1000
    items = sorted(states.items())
    columns: dict[str, list[object]] = {
        "exchange": [exchange] * len(items),
        "product": [p for p, _ in items],
        "last_trade_id": [s.last.trade_id if s.last else None for _, s in items],
        "last_trade_ts": [s.last.time_ns // 1000 if s.last else None for _, s in items],
        "cursor": [s.cursor for _, s in items],
        "raw_snapshot_id": [raw_snapshot_id] * len(items),
        "run_id": [run_id] * len(items),
        "updated_at": [now_us] * len(items),
        "first_trade_id": [s.first.trade_id if s.first else None for _, s in items],
        "first_trade_ts": [s.first.time_ns // 1000 if s.first else None for _, s in items],
        # The one-stream property form, so `repair` compares like with like.
        "state": [ExchangeState({p: s}).to_property() for p, s in items],
    }
    missing = [f.name for f in schema if f.name not in columns]
    if missing:
        raise StateError(f"{WATERMARKS_TABLE} has columns this version does not write: {missing}")
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values, pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
