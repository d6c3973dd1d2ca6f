"""The read side: trades and SQL over the lakehouse as Arrow tables, on DuckDB, without a JVM.

    from schemahub_lib.read import load_lakehouse, trades, sql
    lake = load_lakehouse()                     # settings from the environment, like the CLI
    t = lake.trades(exchanges=["BINANCE", "COINBASE"], symbols="BTC-USD",
                    start="2026-11-30T12:00Z", end="2026-11-30T12:15Z")
    t.to_pandas()                               # pandas;  polars.from_arrow(t) for Polars
    lake.sql("SELECT exchange, count(*) FROM trades_unified WHERE trade_ts >= $1 GROUP BY 1",
             ["2026-11-30"])
    lake.snapshots()                            # what as_of= can go back to
    lake.files_read                             # data files the last call read (pruning)

`trades(...)` and `sql(...)` at module level do the same on `load_lakehouse()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from schemahub_lib.read.errors import QueryError, UnknownTableError
from schemahub_lib.read.lakehouse import (
    Lakehouse,
    ScanStats,
    SnapshotInfo,
    load_lakehouse,
    trades_filter,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Lakehouse",
    "QueryError",
    "ScanStats",
    "SnapshotInfo",
    "UnknownTableError",
    "load_lakehouse",
    "sql",
    "trades",
    "trades_filter",
]


def trades(
    exchanges: str | Iterable[str] | None = None,
    symbols: str | Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
    as_of: Any = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """`load_lakehouse().trades(...)`, for notebooks."""
    return load_lakehouse().trades(exchanges, symbols, start, end, as_of, columns)


def sql(query: str, params: Any = None, as_of: Any = None) -> pa.Table:
    """`load_lakehouse().sql(...)`, for notebooks."""
    return load_lakehouse().sql(query, params, as_of=as_of)
