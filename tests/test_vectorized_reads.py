"""Spark reads the raw tables with Iceberg's vectorized Parquet reader, many times, exactly.

Under Glue 5.0 (Spark 3.5.4 + Iceberg 1.7.1) this reader reused column vectors Spark had freed
(SPARK-50235, fixed by apache/iceberg#11731 in 1.7.2): a 5001-row file read back as 5000 rows
and most reads of a few thousand rows crashed the JVM, so every table was read row by row.
Glue 5.1 pairs Spark 3.5.6 with Iceberg 1.10.0; these reads must be columnar and exact.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.tables import init_tables

pytestmark = pytest.mark.spark

# Row counts around the reader's 5000-row batch (and one that is a page multiple plus one):
# the sizes that lost a row or crashed the JVM under Iceberg 1.7.1.
FILE_ROWS = (5001, 6007, 4097, 12289, 1)
READS = 40


def _raw_coinbase(table, first_id: int, n: int) -> pa.Table:
    ids = list(range(first_id, first_id + n))
    us = [1_780_000_000_000_000 + i * 1_000 for i in ids]
    columns = {
        "trade_id": ids,
        "product_id": ["BTC-USD" if i % 3 else "ETH-USD" for i in ids],
        "price": [60_000.0 + (i % 997) / 100 for i in ids],
        "size": [0.001 * (1 + i % 13) for i in ids],
        "time": us,
        "side": ["buy" if i % 2 else "sell" for i in ids],
        "_source": ["coinbase"] * n,
        "_source_ingest_ts": us,
        # Varying lengths, so string vectors are re-sized between batches.
        "_raw_payload": [f'{{"trade_id":{i},"pad":"{"x" * (i % 61)}"}}' for i in ids],
        "_run_id": [f"run-{i // 5000}" for i in ids],
    }
    schema = table.schema().as_arrow()
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values, pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def test_raw_tables_read_vectorized_many_times_without_a_crash(spark, settings):
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("raw_coinbase_trades"))
    first = 1
    for n in FILE_ROWS:  # one append, one file (one day), per size
        table.append(_raw_coinbase(table, first, n))
        first += n
    total = first - 1
    want_ids = total * (total + 1) // 2
    want_pad = sum(len(f'{{"trade_id":{i},"pad":"{"x" * (i % 61)}"}}') for i in range(1, total + 1))
    name = settings.spark_table("raw_coinbase_trades")
    spark.sql(f"REFRESH TABLE {name}")

    query = spark.sql(
        f"SELECT count(*) AS n, sum(trade_id) AS ids, sum(length(_raw_payload)) AS chars, "
        f"count(DISTINCT product_id) AS products, max(_run_id) AS last_run FROM {name}"
    )
    for k in range(READS):
        row = query.collect()[0]
        assert (row.n, row.ids, row.chars, row.products) == (total, want_ids, want_pad, 2), f"read {k}"
        assert row.last_run == f"run-{total // 5000}"
    plan = query._jdf.queryExecution().executedPlan().toString()  # final plan, after the reads
    assert "ColumnarToRow" in plan, f"expected a vectorized (columnar) Iceberg scan, got:\n{plan}"
    # Whole rows through the vectorized reader into Python, and the snapshot-ranged read unify uses.
    rows = spark.table(name).orderBy("trade_id").collect()
    assert [r.trade_id for r in rows] == list(range(1, total + 1))
    assert rows[5000]._raw_payload == '{"trade_id":5001,"pad":"' + "x" * (5001 % 61) + '"}'
    snapshots = [
        s.snapshot_id for s in catalog.load_table(settings.table_id("raw_coinbase_trades")).snapshots()
    ]
    ranged = (
        spark.read.format("iceberg")
        .option("start-snapshot-id", str(snapshots[0]))
        .option("end-snapshot-id", str(snapshots[-1]))
        .load(name)
    )
    assert ranged.count() == total - FILE_ROWS[0]
