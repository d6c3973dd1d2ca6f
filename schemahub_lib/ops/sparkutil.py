"""The Spark session ops uses: correct Iceberg reads, and PyIceberg commits visible to it.

Iceberg 1.7.1's vectorized Parquet reader reuses column vectors Spark 3.5.4 frees
(SPARK-50235, apache/iceberg#11802, fixed in 1.7.2): here a 5001-row file read back as 5000
rows and a 6007-row file crashed the JVM (SIGSEGV), whoever wrote it. The ddl/ tables carry
`read.parquet.vectorization.enabled=false` and load_spark sets the session default; `ops_spark`
sets the session default again (a runtime SQL setting) for sessions built elsewhere (Glue).

Two effects hide a PyIceberg commit (landing, repair, coverage rows) from a Spark session
that already used the embedded catalog:

* Iceberg's JdbcCatalog, when it initialises its tables on first use, leaves a read open on a
  pooled SQLite connection (observed with Iceberg 1.7.1 + sqlite-jdbc 3.47: `PRAGMA
  wal_checkpoint` cannot pass that reader). That connection keeps reading the catalog as it was,
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

VECTORIZATION = "spark.sql.iceberg.vectorization.enabled"


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
    settings_to_apply = {VECTORIZATION: "false"}
    if settings.is_local and not settings.in_glue:
        settings_to_apply[f"spark.sql.catalog.{settings.catalog_name}.jdbc.init-catalog-tables"] = "false"
    for key, value in settings_to_apply.items():
        if spark.conf.get(key, None) != value:
            spark.conf.set(key, value)
    return spark


def refresh(spark: SparkSession, settings: Settings, table: str) -> None:
    """Drop Spark's cached copy of a table so the next read sees the latest commit."""
    spark.sql(f"REFRESH TABLE {settings.spark_table(table)}")
