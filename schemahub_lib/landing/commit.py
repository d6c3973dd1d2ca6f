"""One raw commit: a stream's trades plus the position they move it to, in one snapshot.

The protocol, per commit:

1. Rejects first (rejects.py explains why that order is safe).
2. Trades -> Arrow -> Parquet data files (not yet in the table).
3. Under the process's lock for the raw table: reload the table, read every stream's state
   from the current snapshot (watermarks.py), and compare the fields of this stream the commit
   touches with the state the stream started from.
   * Equal: commit the files with the whole exchange's state, this stream's fields replaced,
     as the snapshot summary (the catalog's compare-and-swap makes it atomic).
   * Another run moved the stream: a forward batch whose range starts inside the landed block
     keeps only the ids above the new watermark and commits those ("merged"), or is wholly
     landed already ("superseded"). Anything else stops the stream ("conflict"): nothing of
     this batch lands, so nothing lands twice.
   * The catalog refused the swap (another writer committed any stream in between) or SQLite
     was busy: back off and go to 3 with the same files.
4. Record the stream's new position for `schemahub_watermarks` (appended in batches).

Every commit adds the rows it actually commits (after a merge: only those kept) to the
stream's `landed` count, in the same snapshot, so the count is exact at every snapshot.
A repair commit (`Change.refill`) brings back trades landing once counted: it counts raw's
rows of the stream in the snapshot it commits on, and adds only the rows beyond raw's
shortfall against the count (trades a fault hid from landing were never counted).

If a retry follows an error that hid a successful commit, step 3 finds this commit's id in a
snapshot summary and counts it as done.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from schemahub_lib.connectors import connector_class
from schemahub_lib.errors import CommitConflictError
from schemahub_lib.landing.filters import eq
from schemahub_lib.landing.rejects import RejectLog
from schemahub_lib.landing.retry import is_transient_commit_error, retry_commit
from schemahub_lib.landing.state import FIELDS, ExchangeState, StreamState
from schemahub_lib.landing.watermarks import (
    COMMIT_PROPERTY,
    KIND_PROPERTY,
    RUN_PROPERTY,
    STATE_PROPERTY,
    STREAM_PROPERTY,
    WatermarkLog,
    read_exchange_state,
    snapshot_with_commit,
)
from schemahub_lib.landing.writer import (
    TABLE_LOCKS,
    ArrowBuilder,
    RejectRow,
    commit_files,
    delete_data_files,
    keep_ids_above,
    raw_table_name,
    write_data_files,
)
from schemahub_lib.settings import Settings

ALL_FIELDS = frozenset(FIELDS)
FORWARD_FIELDS = frozenset({"last", "cursor", "up", "skipped"})


@dataclass(frozen=True)
class Change:
    """What one flush of a stream wants to commit.

    `touches`: the state fields this change reads and writes; only those are compared with
    the table and replaced in it. `merge_from`: for a forward batch, the lowest trade id its
    range covers (every served id from there up to its last trade is in `trades`); None when
    the batch must not be merged with another run's progress.
    """

    product: str
    expected: StreamState
    target: StreamState
    touches: frozenset[str]
    arrow: pa.Table | None = None  # the trades, ascending by id (ArrowBuilder.page columns)
    rejects: Sequence[RejectRow] = ()
    merge_from: int | None = None
    refill: str | None = None  # repair: the stream's symbol as raw holds it (see the module doc)

    @property
    def count(self) -> int:
        return 0 if self.arrow is None else self.arrow.num_rows


@dataclass(frozen=True)
class Outcome:
    status: str  # committed | merged | superseded | conflict | noop
    state: StreamState  # the stream's state in the table after this commit
    landed: int = 0
    rejects_written: int = 0
    snapshot_id: int | None = None
    detail: str = ""


@dataclass
class _Plan:
    state: StreamState
    keep_above: int | None = None
    status: str = "committed"
    detail: str = ""
    files: list[DataFile] = field(default_factory=list)


class Committer:
    """Commits changes of every stream of one exchange into its raw table."""

    def __init__(
        self, catalog: Catalog, settings: Settings, exchange: str, *, run_id: str, kind: str
    ) -> None:
        self.catalog = catalog
        self.exchange = exchange
        self.run_id = run_id
        self.kind = kind
        self.identifier = settings.table_id(raw_table_name(exchange))
        self._lock = TABLE_LOCKS.get(f"{settings.warehouse}/{self.identifier}")
        self.rejects = RejectLog(catalog, settings)
        self.watermarks = WatermarkLog(catalog, settings)
        self._builder: ArrowBuilder | None = None

    def builder(self) -> ArrowBuilder:
        """Turns pages of trades into Arrow in the raw table's schema."""
        if self._builder is None:
            self._builder = ArrowBuilder(self.load_table(), self.exchange)
        return self._builder

    def load_table(self) -> Table:
        return self.catalog.load_table(self.identifier)

    def load_state(self) -> ExchangeState:
        return read_exchange_state(self.load_table())

    def commit(self, change: Change) -> Outcome:
        rejects_written = self.rejects.write(change.rejects, self.run_id) if change.rejects else 0
        if not change.count and not change.target.differs(change.expected, change.touches):
            return Outcome("noop", change.expected, rejects_written=rejects_written)
        table = self.load_table()
        arrow = self.builder().finish(change.arrow, self.run_id, _now_us())
        files = write_data_files(table, arrow)
        commit_id = uuid.uuid4().hex
        written: list[DataFile] = list(files)
        used: list[DataFile] = []
        used_rows = [0]
        base_id: list[int | None] = []  # the snapshot the first attempt started from

        def attempt() -> Outcome:
            fresh = self.load_table()
            current = fresh.current_snapshot()
            if not base_id:
                base_id.append(current.snapshot_id if current else None)
            elif (done := snapshot_with_commit(fresh, commit_id, base_id[0])) is not None:
                # An earlier attempt's error hid a commit that went through.
                state = read_exchange_state(fresh).get(change.product)
                return Outcome("committed", state, used_rows[0], snapshot_id=done)
            exchange_state = read_exchange_state(fresh)
            plan = self._plan(change, exchange_state.get(change.product))
            if plan.status in ("conflict", "superseded"):
                return Outcome(plan.status, exchange_state.get(change.product), detail=plan.detail)
            to_commit, landed = files, arrow.num_rows
            if plan.keep_above is not None:
                kept = keep_ids_above(arrow, self.exchange, plan.keep_above)
                to_commit, landed = write_data_files(fresh, kept), kept.num_rows
                written.extend(to_commit)
            stream = exchange_state.get(change.product)
            counted = landed - self._restored(fresh, change, stream, landed)
            plan.state = plan.state.replace(landed=_add(stream, counted))
            properties = {
                STATE_PROPERTY: exchange_state.with_stream(change.product, plan.state).to_property(),
                RUN_PROPERTY: self.run_id,
                KIND_PROPERTY: self.kind,
                STREAM_PROPERTY: change.product,
                COMMIT_PROPERTY: commit_id,
            }
            used[:], used_rows[0] = to_commit, landed
            snapshot_id = commit_files(fresh, to_commit, properties)
            return Outcome(plan.status, plan.state, landed, snapshot_id=snapshot_id, detail=plan.detail)

        try:
            with self._lock:
                outcome = retry_commit(attempt, what=f"commit to {self.identifier}")
        except Exception as exc:
            # Never delete files a snapshot may reference: look for this commit first.
            try:
                done = snapshot_with_commit(self.load_table(), commit_id, base_id[0] if base_id else None)
            except Exception:
                raise exc from None  # cannot tell; leave the files (maintain removes orphans)
            if done is None:
                delete_data_files(table, written)
                if is_transient_commit_error(exc):
                    raise CommitConflictError(
                        f"{self.identifier}: could not commit {change.product} after retries: {exc}"
                    ) from exc
                raise
            state = self.load_state().get(change.product)
            outcome = Outcome("committed", state, used_rows[0], snapshot_id=done)
        committed = {f.file_path for f in used} if outcome.snapshot_id is not None else set()
        delete_data_files(table, [f for f in written if f.file_path not in committed])
        if outcome.snapshot_id is not None:
            self.watermarks.record(
                self.exchange,
                {change.product: outcome.state},
                run_id=self.run_id,
                raw_snapshot_id=outcome.snapshot_id,
            )
            self.watermarks.flush(force=False)
        return Outcome(
            outcome.status,
            outcome.state,
            outcome.landed,
            rejects_written,
            outcome.snapshot_id,
            outcome.detail,
        )

    def _restored(self, table: Table, change: Change, current: StreamState, rows: int) -> int:
        """How many of a repair's `rows` bring back trades the stream's count already holds:
        at most raw's shortfall against it in `table` (the snapshot this commit goes on)."""
        if change.refill is None or not rows or current.landed is None:
            return 0
        connector = connector_class(self.exchange)
        held = (
            table.scan(
                row_filter=eq(connector.symbol_column, change.refill), selected_fields=(connector.id_column,)
            )
            .to_arrow()
            .num_rows
        )
        return min(rows, max(0, current.landed - held))

    def _plan(self, change: Change, current: StreamState) -> _Plan:
        moved = current.differs(change.expected, change.touches)
        if not moved:
            return _Plan(current.overlay(change.target, change.touches))
        target_last = change.target.last
        can_merge = (
            change.merge_from is not None
            and target_last is not None
            and current.first is not None
            and current.last is not None
            and current.up is None
            and not (current.down is not None and current.down.owner == "ingest")
            and current.first.trade_id <= change.merge_from <= current.last.trade_id + 1
        )
        if not can_merge:
            return _Plan(
                current,
                status="conflict",
                detail=f"another run moved {', '.join(moved)} of {self.exchange} {change.product} "
                f"(now {current.describe()}; this run started from {change.expected.describe()})",
            )
        assert current.last is not None and target_last is not None
        if target_last.trade_id <= current.last.trade_id:
            return _Plan(current, status="superseded", detail="another run already landed this batch")
        state = current.replace(last=target_last, cursor=change.target.cursor)
        return _Plan(
            state,
            keep_above=current.last.trade_id,
            status="merged",
            detail=f"another run landed up to {current.last.trade_id}; kept only the ids above it",
        )


def _add(current: StreamState, rows: int) -> int | None:
    """The stream's count after committing `rows`; None stays None (a state from before counts
    were kept: what raw held then is unknown), except for a stream that has landed nothing."""
    if current.landed is None:
        return rows if current.is_empty else None
    return current.landed + rows


def _now_us() -> int:
    return time.time_ns() // 1000
