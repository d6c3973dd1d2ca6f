"""The Spark session ops uses, with PyIceberg commits visible to it.

Two effects hide a PyIceberg commit (landing, repair, coverage rows) from a Spark session
that already used the embedded catalog:

* Iceberg's JdbcCatalog, when it initialises its tables on first use, leaves a read open on a
  pooled SQLite connection (observed with Iceberg 1.7.1, and again with 1.10.0, sqlite-jdbc
  3.47: `PRAGMA wal_checkpoint` cannot pass that reader). That connection keeps reading the catalog as it was,
  so later commits by PyIceberg stay invisible even after REFRESH TABLE. PyIceberg's SqlCatalog
  already creates the same catalog tables, so the Spark side can skip initialising them
  (`jdbc.init-catalog-tables=false`). It must be set before the catalog's first use.
* Spark's catalog caches loaded tables; `refresh` drops the cached copy before a read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def ops_spark(
    settings: Settings,
    spark: SparkSession | None = None,
    app_name: str = "schemahub-ops",
    *,
    read_only: bool = False,
) -> SparkSession:
    """`spark` (or a new session) with the catalog configured for fresh reads (see above).

    `read_only`: a new session opens the embedded catalog read-only (commands that only read)."""
    if settings.is_local:
        load_catalog(settings, read_only=read_only)  # creates the catalog tables Spark then skips
    if spark is None:
        from schemahub_lib.spark import load_spark

        spark = load_spark(settings, app_name=app_name, read_only=read_only)
    if settings.is_local and not settings.in_glue:
        key = f"spark.sql.catalog.{settings.catalog_name}.jdbc.init-catalog-tables"
        if spark.conf.get(key, None) != "false":
            spark.conf.set(key, "false")
    return spark


def refresh(spark: SparkSession, settings: Settings, table: str) -> None:
    """Drop Spark's cached copy of a table so the next read sees the latest commit."""
    spark.sql(f"REFRESH TABLE {settings.spark_table(table)}")
