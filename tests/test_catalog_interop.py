"""PyIceberg and Spark share one embedded catalog: each reads what the other wrote, exactly."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestamptzType

from schemahub_lib.catalog import load_catalog
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.tables import init_tables
from tests.conftest import REPO

pytestmark = pytest.mark.spark

# Values chosen to catch lossy paths: sub-millisecond times, pre-1970 and far-future instants,
# doubles that do not round-trip through decimal text of low precision, unicode, nulls.
ROWS = [
    (1, datetime(2024, 2, 8, 15, 12, 4, 123456, tzinfo=UTC), 0.1 + 0.2, "BTC-USD", None),
    (2, datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 1e-300, "ÄÖ€ 比特币", 73271.63),
    (3, datetime(2099, 1, 1, 0, 0, 0, 1, tzinfo=UTC), -0.0, "", 5e-324),
    (4, None, None, None, 1.7976931348623157e308),
]
SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "ts", TimestamptzType(), required=False),
    NestedField(3, "x", DoubleType(), required=False),
    NestedField(4, "s", StringType(), required=False),
    NestedField(5, "y", DoubleType(), required=False),
)


def _as_utc(value):
    # PySpark hands back naive datetimes in the session's zone, which load_spark pins to UTC.
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else value


def _same(a, b):
    """Equality that tells -0.0 from 0.0, as a bit-exact round trip must."""
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex()
    return a == b


def _assert_rows_equal(got, want):
    assert len(got) == len(want)
    for g, w in zip(sorted(got), sorted(want, key=lambda r: r[0]), strict=True):
        assert all(_same(a, b) for a, b in zip(g, w, strict=True)), (g, w)


def test_pyiceberg_writes_spark_reads(spark, settings):
    catalog = load_catalog(settings)
    catalog.create_namespace(settings.namespace)
    table = catalog.create_table(settings.table_id("interop"), schema=SCHEMA)
    columns = list(zip(*ROWS, strict=True))
    table.append(pa.Table.from_arrays([pa.array(c) for c in columns], schema=SCHEMA.as_arrow()))

    got = spark.sql(f"SELECT id, ts, x, s, y FROM {settings.spark_table('interop')}").collect()
    _assert_rows_equal([tuple(_as_utc(v) for v in row) for row in got], ROWS)


def test_spark_writes_pyiceberg_reads(spark, settings):
    from pyspark.sql.types import (
        DoubleType as SDouble,
    )
    from pyspark.sql.types import (
        LongType as SLong,
    )
    from pyspark.sql.types import (
        StringType as SString,
    )
    from pyspark.sql.types import (
        StructField,
        StructType,
        TimestampType,
    )

    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog_name}.{settings.namespace}")
    schema = StructType(
        [
            StructField("id", SLong(), False),
            StructField("ts", TimestampType()),
            StructField("x", SDouble()),
            StructField("s", SString()),
            StructField("y", SDouble()),
        ]
    )
    spark.createDataFrame(ROWS, schema).writeTo(settings.spark_table("interop")).using("iceberg").create()

    table = load_catalog(settings).load_table(settings.table_id("interop"))
    assert table.schema().find_field("ts").field_type == TimestamptzType()
    got = [tuple(r.values()) for r in table.scan().to_arrow().to_pylist()]
    _assert_rows_equal(got, ROWS)


def test_ddl_creates_the_same_table_through_spark_and_pyiceberg(spark, settings, tmp_path):
    """The ddl/ files are Spark SQL; running them in Spark matches what init makes via PyIceberg."""
    init_tables(load_catalog(settings), settings)
    catalog = load_catalog(settings)
    pyiceberg_tables = {
        name: catalog.load_table(settings.table_id(name)) for name in load_table_defs(REPO / "ddl")
    }
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog_name}.spark_side")
    for name, table_def in load_table_defs(REPO / "ddl").items():
        for statement in table_def.sql.split(";\n"):
            if statement.strip():
                sql = statement.replace("schemahub.schemahub.", f"{settings.catalog_name}.spark_side.")
                spark.sql(sql)
        spark_table = load_catalog(settings).load_table(f"spark_side.{name}")
        ours = pyiceberg_tables[name]
        assert spark_table.schema() == ours.schema(), name
        assert spark_table.spec().fields == ours.spec().fields, name
        assert spark_table.sort_order().fields == ours.sort_order().fields, name
        for key, value in table_def.properties.items():
            if key != "format-version":
                assert spark_table.properties[key] == value, (name, key)
        assert spark_table.format_version == ours.format_version == 2
