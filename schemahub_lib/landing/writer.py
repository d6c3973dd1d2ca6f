"""Records -> Arrow with the raw table's own schema -> Parquet data files -> one Iceberg snapshot.

Arrow columns are built once per flush, column by column (no per-row Arrow calls). Data
files are written before the commit is attempted, so a commit that loses a race to another
writer is retried with the same files instead of rewriting them. One commit is one
`fast_append` snapshot whose summary carries the stream positions (see watermarks.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.types import TimestampType, TimestamptzType

from schemahub_lib.connectors import connector_class
from schemahub_lib.connectors.base import RawTrade

META_COLUMNS = ("_source", "_source_ingest_ts", "_raw_payload", "_run_id")
UTC_US = pa.timestamp("us", tz="UTC")


def raw_table_name(exchange: str) -> str:
    """The exchange's raw table, from its connector."""
    return connector_class(exchange).raw_table


def id_column(exchange: str) -> str:
    """The raw table's trade-id column, from the exchange's connector."""
    return connector_class(exchange).id_column


class ArrowBuilder:
    """Builds Arrow tables in a raw table's schema from connector records.

    `page` converts one page's trades as soon as it arrives (the Python objects can go);
    `finish` adds the per-commit metadata columns and puts every column in the table's order.
    """

    def __init__(self, table: Table, exchange: str) -> None:
        schema = table.schema()
        self.exchange = exchange
        self.arrow_schema = schema.as_arrow()
        self.timestamp_columns = {
            f.name for f in schema.fields if isinstance(f.field_type, TimestamptzType | TimestampType)
        }
        # Records carry TIMESTAMP columns as int µs; they are cast in `finish`.
        self.record_schema = pa.schema(
            [
                pa.field(f.name, pa.int64() if f.name in self.timestamp_columns else f.type)
                for f in self.arrow_schema
                if f.name not in META_COLUMNS
            ]
        )

    def page(self, trades: Sequence[RawTrade]) -> pa.Table:
        """One page's trades: the record columns and `_raw_payload`."""
        table = pa.Table.from_pylist([t.record for t in trades], schema=self.record_schema)
        return table.append_column("_raw_payload", pa.array([t.payload for t in trades], pa.string()))

    def finish(self, pages: pa.Table | None, run_id: str, ingest_ts_us: int) -> pa.Table:
        """`pages` (concatenated `page` tables) as the raw table's rows, landed now by `run_id`."""
        if pages is None:
            pages = self._empty()
        n = pages.num_rows
        arrays: list[pa.Array | pa.ChunkedArray] = []
        for field in self.arrow_schema:
            name = field.name
            if name == "_source":
                arrays.append(pa.repeat(pa.scalar(self.exchange, field.type), n))
            elif name == "_source_ingest_ts":
                arrays.append(pa.repeat(pa.scalar(ingest_ts_us, pa.int64()), n).cast(field.type))
            elif name == "_run_id":
                arrays.append(pa.repeat(pa.scalar(run_id, field.type), n))
            elif name in self.timestamp_columns:
                arrays.append(pages[name].cast(field.type))
            else:
                arrays.append(pages[name])
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def _empty(self) -> pa.Table:
        return self.record_schema.empty_table().append_column("_raw_payload", pa.array([], pa.string()))


def keep_ids_above(arrow: pa.Table, exchange: str, trade_id: int) -> pa.Table:
    """Rows whose trade id is above `trade_id` (drops what another run already landed)."""
    return arrow.filter(pc.greater(arrow[id_column(exchange)], trade_id))


def write_data_files(table: Table, arrow: pa.Table) -> list[DataFile]:
    """Parquet files for `arrow`, partitioned by the table's spec; not yet part of the table."""
    if arrow.num_rows == 0:
        return []
    return list(_dataframe_to_data_files(table_metadata=table.metadata, df=arrow, io=table.io))


def delete_data_files(table: Table, files: Sequence[DataFile]) -> None:
    """Best effort: files of an abandoned commit are garbage (maintain removes any left)."""
    for f in files:
        with contextlib.suppress(OSError):
            table.io.delete(f.file_path)


def commit_files(table: Table, files: Sequence[DataFile], properties: Mapping[str, str]) -> int:
    """Append `files` (possibly none) as one snapshot with `properties`; return its id.

    Raises CommitFailedException when the table moved since `table` was loaded.
    """
    with (
        table.transaction() as tx,
        tx.update_snapshot(snapshot_properties=dict(properties)).fast_append() as fa,
    ):
        for f in files:
            fa.append_data_file(f)
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


@dataclass(frozen=True)
class RejectRow:
    """One record that failed validation, as the rejects table stores it."""

    exchange: str
    product: str
    trade_id: str | None
    reason: str
    raw_payload: str
    url: str | None


def rejects_arrow(table: Table, rows: Sequence[RejectRow], run_id: str) -> pa.Table:
    schema = table.schema().as_arrow()
    now_us = time.time_ns() // 1000
    columns = {
        "exchange": [r.exchange for r in rows],
        "product": [r.product for r in rows],
        "trade_id": [r.trade_id for r in rows],
        "reason": [r.reason for r in rows],
        "raw_payload": [r.raw_payload for r in rows],
        "url": [r.url for r in rows],
        "run_id": [run_id] * len(rows),
        "rejected_at": [now_us] * len(rows),
    }
    arrays = []
    for field in schema:
        values = columns[field.name]
        if field.name == "rejected_at":
            arrays.append(pa.array(values, pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class TableLocks:
    """One lock per table per process: workers of one process commit to a table in turn
    (other processes are handled by the catalog's compare-and-swap and our retries)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())


TABLE_LOCKS = TableLocks()
