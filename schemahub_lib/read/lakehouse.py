"""The read API: Arrow tables out of the lakehouse, and SQL over them on DuckDB, no JVM.

PyIceberg plans every scan (partition and file-statistics pruning against the row filter,
time travel by snapshot) and reads the planned Parquet files into Arrow; DuckDB runs SQL over
those Arrow tables. The same code reads the embedded SQLite catalog and the Glue catalog with
S3, since both are PyIceberg catalogs. See README "Querying" for why this route and not
DuckDB's Iceberg extension.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemahub_lib.read.errors import QueryError, UnknownTableError
from schemahub_lib.read.times import epoch_micros, to_utc
from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import Table

UNIFIED_TABLE = "trades_unified"
AsOf = int | datetime | str | None
Params = Sequence[Any] | Mapping[str, Any] | None


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot in a table's history (the main branch), oldest first."""

    snapshot_id: int
    committed_at: datetime  # UTC
    operation: str  # append, overwrite, replace, delete


@dataclass(frozen=True)
class ScanStats:
    """What one table scan read: the pruning figures benchmarks and tests look at."""

    table: str
    snapshot_id: int | None  # None: the table has no snapshot yet (empty)
    files_read: int  # data files left after partition and statistics pruning
    rows: int  # rows returned after the row filter
    seconds: float
    row_filter: str


class Lakehouse:
    """Read access to one catalog's tables. Tables are loaded on every call, so a long-lived
    Lakehouse (a notebook, the explorer) always sees the latest commits."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.last_scans: list[ScanStats] = []  # the scans of the last trades/scan/sql call

    @property
    def files_read(self) -> int:
        """Data files the last trades/scan/sql call read, over every table it scanned."""
        return sum(s.files_read for s in self.last_scans)

    def tables(self) -> list[str]:
        """Plain names of the tables in the catalog's namespace, sorted."""
        from pyiceberg.exceptions import NoSuchNamespaceError

        try:
            identifiers = self.catalog.list_tables(self.settings.namespace)
        except NoSuchNamespaceError:
            return []  # nothing created yet: UnknownTableError says to run `schemahub init`
        return sorted(identifier[-1] for identifier in identifiers)

    def table(self, name: str) -> Table:
        """The PyIceberg table `name`; UnknownTableError listing the known ones if missing."""
        from pyiceberg.exceptions import NoSuchTableError

        try:
            return self.catalog.load_table(self.settings.table_id(name))
        except NoSuchTableError:
            raise UnknownTableError(name, self.tables()) from None

    def snapshots(self, table: str = UNIFIED_TABLE) -> list[SnapshotInfo]:
        """The table's main-branch history, oldest first: what `as_of` can go back to."""
        tbl = self.table(table)
        result = []
        for entry in tbl.history():
            snapshot = tbl.snapshot_by_id(entry.snapshot_id)
            operation = snapshot.summary.operation.value if snapshot and snapshot.summary else "unknown"
            committed = datetime.fromtimestamp(entry.timestamp_ms / 1000, tz=UTC)
            result.append(SnapshotInfo(entry.snapshot_id, committed, operation))
        return result

    def scan(
        self,
        table: str,
        row_filter: BooleanExpression | str | None = None,
        columns: Sequence[str] | None = None,
        as_of: AsOf = None,
    ) -> pa.Table:
        """Rows of `table` matching `row_filter` (a PyIceberg expression or its string form,
        e.g. "symbol = 'BTC-USD'"), only `columns`, as of a snapshot id or a time."""
        result, stats = self._scan(self.table(table), table, row_filter, columns, as_of)
        self.last_scans = [stats]
        return result

    def trades(
        self,
        exchanges: str | Iterable[str] | None = None,
        symbols: str | Iterable[str] | None = None,
        start: Any = None,
        end: Any = None,
        as_of: AsOf = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Rows of trades_unified sorted by trade_ts: `start` <= trade_ts < `end`.

        `exchanges` and `symbols` match case-insensitively (`binance`, `BTC-USD`); `start` and
        `end` take a datetime (naive means UTC), an ISO 8601 string or epoch seconds. The
        filters are pushed into the Iceberg scan: only files that can hold matching rows are
        read. To pandas: `.to_pandas()`; to Polars: `polars.from_arrow(...)`.
        """
        row_filter = trades_filter(exchanges, symbols, start, end)
        wanted = list(columns) if columns is not None else None
        read = None if wanted is None else list(dict.fromkeys([*wanted, "trade_ts"]))
        tbl = self.table(UNIFIED_TABLE)
        result, stats = self._scan(tbl, UNIFIED_TABLE, row_filter, read, as_of)
        self.last_scans = [stats]
        result = result.sort_by("trade_ts")
        return result if wanted is None else result.select(wanted)

    def sql(self, query: str, params: Params = None, as_of: AsOf = None) -> pa.Table:
        """Run one SELECT on DuckDB over the lakehouse tables by their plain names.

        `params` are DuckDB bound parameters (`?`/`$1` with a list, `$name` with a dict),
        never formatted into the text. Only the tables the query names are scanned, only the
        columns it mentions are read, and simple WHERE conditions on a table's columns are
        pushed into its Iceberg scan. `as_of` (snapshot id or time) applies to every table.
        """
        import duckdb

        from schemahub_lib.read.engine import connect_duckdb
        from schemahub_lib.read.sqlplan import parse_query

        con = connect_duckdb()
        try:
            parsed = parse_query(con, query)
            if parsed.qualified:
                raise QueryError(
                    f"use plain table names (trades_unified), not {parsed.qualified[0]!r}; "
                    f"the catalog holds: {', '.join(self.tables())}"
                )
            names = parsed.table_names()
            known = self.tables() if names else []
            for name in names:
                if name not in known:
                    raise UnknownTableError(name, known, where="the query")
            tables = {name: self.table(name) for name in names}
            stats = []
            for name, tbl in tables.items():
                schema = tbl.schema()
                row_filter = parsed.row_filter(name, schema, con, params)
                table_as_of = _as_of_for(tbl, tables, as_of)
                data, scan_stats = self._scan(tbl, name, row_filter, parsed.columns(schema), table_as_of)
                con.register(name, data)
                stats.append(scan_stats)
            self.last_scans = stats
            try:
                return con.execute(query, params).to_arrow_table()
            except duckdb.Error as exc:
                raise QueryError(f"SQL error: {exc}") from exc
        finally:
            con.close()

    def _scan(
        self,
        tbl: Table,
        name: str,
        row_filter: BooleanExpression | str | None,
        columns: Sequence[str] | None,
        as_of: AsOf,
    ) -> tuple[pa.Table, ScanStats]:
        from pyiceberg.expressions import AlwaysTrue
        from pyiceberg.io.pyarrow import ArrowScan

        started = time.monotonic()
        snapshot_id = resolve_as_of(tbl, name, as_of)
        if columns is not None:
            known = [f.name for f in tbl.schema().fields]
            unknown = [c for c in columns if c not in known]
            if unknown:
                raise QueryError(
                    f"{name} has no column {', '.join(unknown)}; its columns: {', '.join(known)}"
                )
        scan = tbl.scan(
            row_filter=row_filter if row_filter is not None else AlwaysTrue(),
            selected_fields=tuple(columns) if columns is not None else ("*",),
            snapshot_id=snapshot_id,
        )
        tasks = list(scan.plan_files())
        reader = ArrowScan(tbl.metadata, tbl.io, scan.projection(), scan.row_filter, scan.case_sensitive)
        result = reader.to_table(tasks)
        stats = ScanStats(
            table=name,
            snapshot_id=snapshot_id if snapshot_id is not None else _current_id(tbl),
            files_read=len(tasks),
            rows=result.num_rows,
            seconds=time.monotonic() - started,
            row_filter=str(scan.row_filter),
        )
        return result, stats


def _current_id(tbl: Table) -> int | None:
    snapshot = tbl.current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def _as_of_for(tbl: Table, tables: Mapping[str, Table], as_of: AsOf) -> AsOf:
    """A snapshot id belongs to one table; the query's other tables are read as of its commit
    time, so every table is seen as it was at that moment."""
    if not isinstance(as_of, int) or isinstance(as_of, bool) or len(tables) < 2:
        return as_of
    if tbl.snapshot_by_id(as_of) is not None:
        return as_of
    for other in tables.values():
        snapshot = other.snapshot_by_id(as_of)
        if snapshot is not None:
            return datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC)
    names = ", ".join(tables)
    raise QueryError(f"no table of the query ({names}) has snapshot {as_of}")


def resolve_as_of(tbl: Table, name: str, as_of: AsOf) -> int | None:
    """The snapshot id to read for `as_of`: None (current), a snapshot id, or a time.

    A table with no snapshot at all is read as it is now (empty) at any time."""
    if as_of is None or not tbl.history():
        return None
    if isinstance(as_of, int) and not isinstance(as_of, bool):
        if tbl.snapshot_by_id(as_of) is None:
            known = ", ".join(str(e.snapshot_id) for e in tbl.history()[-5:]) or "none"
            raise QueryError(f"{name} has no snapshot {as_of}; its latest: {known}")
        return as_of
    if isinstance(as_of, str) and as_of.strip().isdigit():
        return resolve_as_of(tbl, name, int(as_of))
    when = to_utc(as_of, "as_of")
    snapshot = tbl.snapshot_as_of_timestamp(epoch_micros(when) // 1000)
    if snapshot is None:
        history = tbl.history()
        first = "it has no snapshot yet"
        if history:
            first_at = datetime.fromtimestamp(history[0].timestamp_ms / 1000, tz=UTC)
            first = f"its first snapshot is at {first_at:%Y-%m-%dT%H:%M:%S.%fZ}"
        raise QueryError(f"{name} did not exist at {when:%Y-%m-%dT%H:%M:%S.%fZ}; {first}")
    return snapshot.snapshot_id


def trades_filter(
    exchanges: str | Iterable[str] | None,
    symbols: str | Iterable[str] | None,
    start: Any,
    end: Any,
) -> BooleanExpression:
    """The row filter of `Lakehouse.trades`: partition pruning comes from the trade_ts bounds."""
    from pyiceberg.expressions import AlwaysTrue, And

    from schemahub_lib.read.predicates import predicate

    parts: list[BooleanExpression] = []
    for column, values in (("exchange", exchanges), ("symbol", symbols)):
        if values is None:
            continue
        items = [values] if isinstance(values, str) else list(values)
        if not items or not all(isinstance(v, str) for v in items):
            raise QueryError(f"{column}s: expected a name or a list of names, got {values!r}")
        parts.append(predicate("in", column, sorted({v.upper() for v in items})))
    if start is not None:
        parts.append(predicate(">=", "trade_ts", epoch_micros(to_utc(start, "start"))))
    if end is not None:
        parts.append(predicate("<", "trade_ts", epoch_micros(to_utc(end, "end"))))
    if start is not None and end is not None and to_utc(start) >= to_utc(end):
        raise QueryError(f"start {start!r} is not before end {end!r}")
    result: BooleanExpression = AlwaysTrue()
    for part in parts:
        result = part if result == AlwaysTrue() else And(result, part)
    return result


def load_lakehouse(settings: Settings | None = None) -> Lakehouse:
    """The lakehouse of `settings` (default: `load_settings()`, i.e. the environment)."""
    from schemahub_lib.catalog import load_table_reader
    from schemahub_lib.settings import load_settings

    settings = settings or load_settings()
    if settings.is_local and not settings.catalog_db_path.exists():
        raise QueryError(
            f"no catalog at {settings.catalog_db_path}: set SCHEMAHUB_WAREHOUSE (or --warehouse) to "
            "the warehouse folder, or run `schemahub init` to create one"
        )
    return Lakehouse(settings, load_table_reader(settings))
