"""The DuckDB connection every query runs on: in memory, offline, UTC.

Queries see only the Arrow tables the lakehouse registers: no file system, no network, no
extension download (DuckDB would otherwise fetch extensions from its own site at run time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def connect_duckdb() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with `CONFIG`."""
    import duckdb

    con = duckdb.connect(":memory:", config=dict(CONFIG))
    # Iceberg timestamps are UTC instants: date_trunc, casts and display work in UTC too.
    con.execute("SET TimeZone = 'UTC'")
    return con
