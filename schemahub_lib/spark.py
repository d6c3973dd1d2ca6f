"""The Spark session factory: Iceberg SQL extensions and the `schemahub` catalog.

Local: Iceberg's JdbcCatalog over the same SQLite file PyIceberg uses (`jdbc.schema-version=V1`
because Spark 3.5's view-aware code paths refuse a V0 JDBC catalog). AWS: GlueCatalog with
S3FileIO, endpoints overridable for a local emulator. Inside a Glue job the session Glue built
from the job's `--conf` parameters is used as is.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from schemahub_lib.catalog import load_catalog
from schemahub_lib.errors import SetupError
from schemahub_lib.settings import Settings
from schemahub_lib.warehouse import sqlite_read_only_uri

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ICEBERG_VERSION = "1.10.0"
REQUIRED_JARS = (
    f"iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar",
    f"iceberg-aws-bundle-{ICEBERG_VERSION}.jar",
    "sqlite-jdbc-*.jar",
)
EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
# The JIT compiles a method once it has run CompileThresholdScaling times the usual count. A
# unify run executes thousands of planning methods (Catalyst rules, Iceberg scan planning,
# Janino, task serialization) a few hundred times each: "lukewarm" code that kept crossing C2's
# thresholds run after run, ~130 new C2 compilations and ~1.3 s of compiler CPU per warm
# 1M-row run still at the 12th run, taken from the executors on a 2-core machine. At 5 the
# lukewarm code stays in C1 while the row loops, millions of iterations a run, still reach C2
# within the run: compiler CPU ~1.3 s -> ~0.65 s per warm run, warm runs 2.76-3.17 s -> 2.64-2.73 s
# (bench notes; cold runs unchanged). 10 delayed the first warm runs' hot loops.
COMPILE_THRESHOLD_SCALING = 5
DRIVER_JAVA_OPTIONS = ("-Duser.timezone=UTC", f"-XX:CompileThresholdScaling={COMPILE_THRESHOLD_SCALING}")


def load_spark(settings: Settings, app_name: str = "schemahub", *, read_only: bool = False) -> SparkSession:
    """A Spark session with the `schemahub` Iceberg catalog configured for `settings`.

    `read_only`: the embedded catalog is opened read-only (commands that only read)."""
    from pyspark.sql import SparkSession

    if settings.in_glue:
        return SparkSession.builder.getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        register_catalog(active, settings, read_only=read_only)
        return active

    # PySpark turns timestamps into naive datetimes in the Python process's zone: make it UTC.
    os.environ["TZ"] = "UTC"
    time.tzset()
    # Python workers run this interpreter (the virtualenv's), not whatever `python3` is first on
    # PATH, which may lack pyarrow and pandas. SparkContext reads it from the environment.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    check_java()
    jars = find_jars(Path(settings.jars_dir))
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName(app_name)
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.sql.extensions", EXTENSIONS)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", " ".join(DRIVER_JAVA_OPTIONS))
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.catalogImplementation", "in-memory")
    )
    for key, value in catalog_conf(settings, read_only=read_only).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j/JVM start-up failures arrive untyped
        raise SetupError(
            f"Spark could not start ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            "Check that Java 17 is installed and run `make setup` to fetch the Iceberg jars."
        ) from exc
    spark.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    check_iceberg_loadable(spark, jars)
    return spark


def check_iceberg_loadable(spark: SparkSession, jars: list[Path]) -> None:
    """Fail with the fix when the driver cannot load Iceberg's classes.

    `spark.jars` set from Python reaches the driver's classpath only when Python starts the
    JVM. Under `spark-submit` the JVM is already running, so the jars must be on its command
    line; without them the first catalog use fails deep in a stack trace.
    """
    try:
        loader = spark._jvm.java.lang.Thread.currentThread().getContextClassLoader()  # type: ignore[union-attr]
        loader.loadClass("org.apache.iceberg.spark.SparkCatalog")
    except Exception as exc:  # py4j wraps the JVM's ClassNotFoundException
        raise SetupError(
            "Spark's driver cannot load Iceberg (org.apache.iceberg.spark.SparkCatalog). Under "
            "spark-submit pass the jars on the command line: "
            f"spark-submit --jars {','.join(str(j) for j in jars)} ..."
        ) from exc


def register_catalog(spark: SparkSession, settings: Settings, *, read_only: bool = False) -> None:
    """Point a running session at `settings`' catalog (catalog settings are runtime confs).

    A catalog is initialised on first use, so a name must not be re-pointed once used; tests
    give every warehouse its own catalog name.
    """
    if settings.in_glue:
        return
    for key, value in catalog_conf(settings, read_only=read_only).items():
        if spark.conf.get(key, None) != value:
            spark.conf.set(key, value)


def catalog_conf(settings: Settings, *, read_only: bool = False) -> dict[str, str]:
    """`spark.sql.catalog.schemahub.*` settings for the profile (also used for Glue `--conf`).

    Opening the embedded catalog here also runs its history check (`load_catalog`), so a Spark
    job refuses a lost or replaced catalog before its JVM starts."""
    prefix = f"spark.sql.catalog.{settings.catalog_name}"
    conf = {prefix: "org.apache.iceberg.spark.SparkCatalog"}
    if settings.is_local:
        # PyIceberg's SqlCatalog creates the catalog tables; Spark must not initialise them: on
        # that first use Iceberg's JdbcCatalog (1.7.1, and still 1.10.0) leaves a read open on a
        # pooled SQLite connection, which never sees later PyIceberg commits, REFRESH or not.
        load_catalog(settings, read_only=read_only)
        db = settings.catalog_db_path
        conf.update(
            {
                f"{prefix}.type": "jdbc",
                f"{prefix}.uri": f"jdbc:sqlite:{sqlite_read_only_uri(db) if read_only else db}",
                f"{prefix}.warehouse": settings.warehouse_path.as_uri(),
                f"{prefix}.jdbc.schema-version": "V1",
                f"{prefix}.jdbc.init-catalog-tables": "false",
            }
        )
        return conf
    conf.update(
        {
            f"{prefix}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
            f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            f"{prefix}.warehouse": settings.warehouse.rstrip("/") + "/",
            f"{prefix}.client.region": settings.aws_region,
        }
    )
    if settings.glue_endpoint:
        conf[f"{prefix}.glue.endpoint"] = settings.glue_endpoint
    if settings.s3_endpoint:
        conf[f"{prefix}.s3.endpoint"] = settings.s3_endpoint
    if settings.s3_path_style:
        conf[f"{prefix}.s3.path-style-access"] = "true"
    return conf


def check_java() -> None:
    """Fail with a readable paragraph, not a JVM stack trace, when Java is missing."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise SetupError(
            "Java was not found (no JAVA_HOME and no `java` on PATH). Spark needs Java 17: "
            "install OpenJDK 17 (e.g. `apt-get install openjdk-17-jre-headless`) and run the "
            "command again."
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"Java at {java} could not be run ({exc}). Spark needs Java 17.") from exc
    if out.returncode != 0:
        raise SetupError(f"`{java} -version` failed: {out.stderr.strip()[:200]}. Spark needs Java 17.")


def find_jars(jars_dir: Path) -> list[Path]:
    """The Iceberg runtime, AWS bundle and SQLite JDBC jars, or a message naming the missing ones."""
    found: list[Path] = []
    missing: list[str] = []
    for pattern in REQUIRED_JARS:
        matches = sorted(jars_dir.glob(pattern))
        if matches:
            found.append(matches[-1].resolve())
        else:
            missing.append(pattern)
    if missing:
        raise SetupError(
            f"missing jars in {jars_dir}: {', '.join(missing)}. Run `make setup` to fetch them "
            "from Maven Central (or set SCHEMAHUB_JARS_DIR to the folder that has them)."
        )
    return found
