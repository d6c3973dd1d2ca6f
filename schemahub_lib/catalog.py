"""The PyIceberg catalog factory: SqlCatalog on the embedded SQLite file, or GlueCatalog.

The embedded catalog shares one SQLite file with Spark's Iceberg JdbcCatalog (see spark.py):
same catalog name (`schemahub`, which is the `catalog_name` column both sides filter on) and
absolute file URIs, so a table written by either engine is read by the other.

Every command opens the embedded catalog here, so this is where a lost or replaced catalog is
caught (`warehouse.check_history_held`: refuse rather than start a second history beside the
table folders) and where read-only commands open the SQLite file read-only (`read_only=True`:
no WAL switch, no table creation, no file created beside it), so they work on a catalog this
user cannot write.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.noop import NoopCatalog
from pyiceberg.table import Table
from pyiceberg.typedef import Identifier

from schemahub_lib.errors import SetupError
from schemahub_lib.settings import Settings
from schemahub_lib.warehouse import (
    RECOVER_COMMAND,
    check_folders_writable,
    check_history_held,
    read_pointers,
    sqlite_read_only_uri,
    table_folders,
)

WRITERS = "init, ingest, backfill, unify, maintain, repair and audit's coverage record"


def load_catalog(settings: Settings, *, read_only: bool = False) -> Catalog:
    """The catalog for `settings.profile`: embedded SQLite (local) or Glue (aws).

    Refuses (`CatalogHistoryError`) when the warehouse holds table folders the embedded catalog
    does not know. `read_only`: for commands that only read (status, dry runs); the SQLite file is
    opened read-only and may belong to another user."""
    if not settings.is_local:
        return _load_glue_catalog(settings)
    if read_only:
        return _load_sql_catalog_read_only(settings)
    return _load_sql_catalog(settings)


def load_catalog_for_recovery(settings: Settings) -> Catalog:
    """The embedded catalog without the history check: `schemahub init --recover` re-registers
    the table folders the check complains about."""
    return _load_sql_catalog(settings, check_history=False)


def ensure_local_warehouse(settings: Settings) -> None:
    """Create the warehouse folder and catalog file, or explain why it cannot be used."""
    path = settings.warehouse_path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SetupError(
            f"cannot create the warehouse folder {path}: {exc.strerror}. Set SCHEMAHUB_WAREHOUSE "
            "(or --warehouse) to a folder you can write."
        ) from exc
    db = settings.catalog_db_path
    if not os.access(path, os.W_OK) or (db.exists() and not os.access(db, os.R_OK | os.W_OK)):
        unwritable = db if db.exists() and not os.access(db, os.W_OK) else path
        raise SetupError(
            f"the catalog {db} is read-only for this user ({unwritable} is not writable), and this "
            f"command writes to it ({WRITERS} do). Read-only commands (status, audit --no-record, "
            "the --dry-run plans) work as is; to write, make the catalog file and its folder writable "
            "(`chmod u+w`) or run as their owner."
        )
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            # WAL lets Spark's JDBC catalog and PyIceberg read while the other commits. Switching
            # needs the database to itself, so it happens once (under the opening lock), not on
            # every open while another process may be committing.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        if table_folders(path):
            raise SetupError(
                f"the catalog {db} is not a usable SQLite database ({exc}). The tables' history is "
                f"in their folders under {path}, not in this file: move the file out of the way "
                f"(keep it) and run `{RECOVER_COMMAND}` to register them again."
            ) from exc
        raise SetupError(
            f"the catalog {db} is not a usable SQLite database ({exc}), and no table folder in "
            f"{path} depends on it. Remove it (keep a copy if it matters) to start a new catalog, "
            "or point SCHEMAHUB_WAREHOUSE at another folder."
        ) from exc


@contextmanager
def opening_lock(settings: Settings) -> Iterator[None]:
    """One process at a time sets up a warehouse (WAL switch, SqlCatalog's table creation),
    creates or registers tables, or checks that the catalog holds every table folder.

    Each is check-then-act: two processes opening a new warehouse at once could both pass the
    check ("table iceberg_tables already exists", "database is locked"), and a check running
    while another process creates a table (metadata file written, catalog row not yet) would
    see a folder the catalog does not hold.
    """
    lock_path = settings.catalog_db_path.with_name(settings.catalog_db_path.name + ".init-lock")
    try:
        settings.warehouse_path.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a")  # noqa: SIM115 - closed below, after the unlock
    except OSError:
        try:  # a read-only warehouse: a reader can still lock an existing lock file
            lock = open(lock_path)  # noqa: SIM115
        except OSError:
            yield  # an unusable warehouse: ensure_local_warehouse says what is wrong with it
            return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load_sql_catalog(settings: Settings, *, check_history: bool = True) -> Catalog:
    from pyiceberg.catalog.sql import SqlCatalog

    with opening_lock(settings):
        if check_history:
            # Before ensure_local_warehouse, which creates a missing catalog file.
            check_history_held(settings)
            check_folders_writable(settings)
        ensure_local_warehouse(settings)
        catalog = SqlCatalog(
            settings.catalog_name,
            uri=f"sqlite:///{settings.catalog_db_path}",
            warehouse=settings.warehouse_path.as_uri(),
        )
        _add_spark_type_column(settings.catalog_db_path)
        return catalog


def _add_spark_type_column(db: Path) -> None:
    """Add the column Spark's JdbcCatalog (schema V1) adds to `iceberg_tables` on first use.

    Spark adds it with an ALTER TABLE even when it only reads, which a read-only catalog refuses;
    added by the first writer instead, a later read-only Spark session finds it there. NULL
    means a table to both engines."""
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(iceberg_tables)")}
        if columns and "iceberg_type" not in columns:
            try:
                conn.execute("ALTER TABLE iceberg_tables ADD COLUMN iceberg_type VARCHAR(5)")
                conn.commit()
            except sqlite3.OperationalError as exc:  # Spark added it meanwhile
                if "duplicate column" not in str(exc):
                    raise


def _load_sql_catalog_read_only(settings: Settings) -> Catalog:
    from pyiceberg.catalog.sql import SqlCatalog

    if not _holds_tables(settings):
        return _load_sql_catalog(settings)
    return SqlCatalog(
        settings.catalog_name,
        uri=f"sqlite:///{sqlite_read_only_uri(settings.catalog_db_path)}&uri=true",
        warehouse=settings.warehouse_path.as_uri(),
        init_catalog_tables="false",
    )


def _holds_tables(settings: Settings) -> bool:
    """The history check of every read-only open, then whether the embedded catalog holds any
    table. With none (and no table folder) it is opened as a writer does, creating an empty
    catalog, which also explains a file that is not a catalog."""
    with opening_lock(settings):
        check_history_held(settings)
    return read_pointers(settings.catalog_db_path, settings.catalog_name).state == "ok"


def load_table_reader(settings: Settings) -> Catalog:
    """The catalog the read API (`schemahub query`, the explorer, notebooks) loads tables from:
    `EmbeddedTables` on the embedded catalog, the Glue catalog on aws. Checks as
    `load_catalog(read_only=True)` does."""
    if not settings.is_local:
        return _load_glue_catalog(settings)
    if not _holds_tables(settings):
        return _load_sql_catalog(settings)
    return EmbeddedTables(settings)


class EmbeddedTables(NoopCatalog):
    """The embedded catalog, read-only, for the read API: tables loaded as PyIceberg's
    SqlCatalog loads them (the same `iceberg_tables` row, metadata file and FileIO) but read
    with `sqlite3`; every writing call fails.

    SqlCatalog goes through SQLAlchemy, whose import alone was ~0.2 s of a `schemahub query` of
    ~1.5 s. The row is read on every call, so a long-lived reader (the explorer, a notebook)
    sees every commit. Writers keep SqlCatalog (`load_catalog`)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.catalog_name, warehouse=settings.warehouse_path.as_uri())
        self.db = settings.catalog_db_path

    def list_tables(self, namespace: str | Identifier) -> list[Identifier]:
        rows = self._rows(
            "SELECT table_name FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ?",
            (self.name, Catalog.namespace_to_string(namespace)),
        )
        return [(*Catalog.identifier_to_tuple(namespace), name) for (name,) in rows]

    def load_table(self, identifier: str | Identifier) -> Table:
        from pyiceberg.exceptions import NoSuchTableError
        from pyiceberg.serializers import FromInputFile

        namespace = Catalog.namespace_to_string(Catalog.namespace_from(identifier))
        name = Catalog.table_name_from(identifier)
        rows = self._rows(
            "SELECT metadata_location FROM iceberg_tables "
            "WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?",
            (self.name, namespace, name),
        )
        if not rows or not rows[0][0]:
            raise NoSuchTableError(f"Table does not exist: {namespace}.{name}")
        location = rows[0][0]
        metadata = FromInputFile.table_metadata(self._load_file_io(location=location).new_input(location))
        return Table(
            identifier=(*Catalog.identifier_to_tuple(namespace), name),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def table_exists(self, identifier: str | Identifier) -> bool:
        from pyiceberg.exceptions import NoSuchTableError

        try:
            self.load_table(identifier)
        except NoSuchTableError:
            return False
        return True

    def commit_table(self, table: Table, requirements: Any, updates: Any) -> Any:
        raise SetupError(
            f"{'.'.join(table.name())}: the read API opens the catalog {self.db} read-only; "
            "commit through schemahub_lib.catalog.load_catalog instead"
        )

    def _rows(self, sql: str, args: tuple[str, ...]) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(sqlite_read_only_uri(self.db), uri=True, timeout=30)) as conn:
            return conn.execute(sql, args).fetchall()


def glue_properties(settings: Settings) -> dict[str, Any]:
    """PyIceberg GlueCatalog properties; endpoints only when overridden (a local emulator)."""
    props: dict[str, Any] = {
        "warehouse": settings.warehouse.rstrip("/") + "/",
        "glue.region": settings.aws_region,
        "s3.region": settings.aws_region,
    }
    if settings.glue_endpoint:
        props["glue.endpoint"] = settings.glue_endpoint
    if settings.s3_endpoint:
        props["s3.endpoint"] = settings.s3_endpoint
    if settings.s3_path_style:
        props["s3.force-virtual-addressing"] = False
    return props


def _load_glue_catalog(settings: Settings) -> Catalog:
    from pyiceberg.catalog.glue import GlueCatalog

    return GlueCatalog(settings.catalog_name, **glue_properties(settings))
