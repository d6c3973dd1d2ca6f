"""A Spark session that already used the embedded catalog sees later PyIceberg commits.

Re-checked on Iceberg 1.10.0: without `jdbc.init-catalog-tables=false` (spark.catalog_conf)
Spark still reads the catalog as of its first use, after REFRESH TABLE too.
"""

import pyarrow as pa
import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from schemahub_lib.catalog import load_catalog

pytestmark = pytest.mark.spark

SCHEMA = Schema(NestedField(1, "id", LongType(), required=True))


def test_spark_sees_each_pyiceberg_commit(spark, settings):
    catalog = load_catalog(settings)
    catalog.create_namespace(settings.namespace)
    table = catalog.create_table(settings.table_id("fresh"), schema=SCHEMA)
    name = settings.spark_table("fresh")
    for n in range(1, 4):
        table.append(pa.table({"id": pa.array([n], pa.int64())}, schema=SCHEMA.as_arrow()))
        spark.sql(f"REFRESH TABLE {name}")
        got = sorted(r.id for r in spark.sql(f"SELECT id FROM {name}").collect())
        assert got == list(range(1, n + 1))
