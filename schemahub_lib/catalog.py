"""The PyIceberg catalog factory: SqlCatalog on the embedded SQLite file, or GlueCatalog.

The embedded catalog shares one SQLite file with Spark's Iceberg JdbcCatalog (see spark.py):
same catalog name (`schemahub`, which is the `catalog_name` column both sides filter on) and
absolute file URIs, so a table written by either engine is read by the other.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyiceberg.catalog import Catalog

from schemahub_lib.errors import SetupError
from schemahub_lib.settings import Settings


def load_catalog(settings: Settings) -> Catalog:
    """The catalog for `settings.profile`: embedded SQLite (local) or Glue (aws)."""
    if settings.is_local:
        return _load_sql_catalog(settings)
    return _load_glue_catalog(settings)


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
        raise SetupError(
            f"the catalog {db} is not readable and writable by this user. Fix its permissions or "
            "set SCHEMAHUB_WAREHOUSE (or --warehouse) to another folder."
        )
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            # WAL lets Spark's JDBC catalog and PyIceberg read while the other commits. Switching
            # needs the database to itself, so it happens once (under the opening lock), not on
            # every open while another process may be committing.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        raise SetupError(
            f"the catalog {db} is not a usable SQLite database ({exc}). Move it aside or point "
            "SCHEMAHUB_WAREHOUSE at another folder."
        ) from exc


@contextmanager
def _opening_lock(settings: Settings) -> Iterator[None]:
    """One process at a time sets up a warehouse (WAL switch, SqlCatalog's table creation).

    Both are check-then-act: two processes opening a new warehouse at once could both pass the
    check ("table iceberg_tables already exists", "database is locked").
    """
    lock_path = settings.catalog_db_path.with_name(settings.catalog_db_path.name + ".init-lock")
    try:
        settings.warehouse_path.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a")  # noqa: SIM115 - closed below, after the unlock
    except OSError:
        yield  # an unusable warehouse: ensure_local_warehouse says what is wrong with it
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load_sql_catalog(settings: Settings) -> Catalog:
    from pyiceberg.catalog.sql import SqlCatalog

    with _opening_lock(settings):
        ensure_local_warehouse(settings)
        return SqlCatalog(
            settings.catalog_name,
            uri=f"sqlite:///{settings.catalog_db_path}",
            warehouse=settings.warehouse_path.as_uri(),
        )


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
