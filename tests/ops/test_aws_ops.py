"""The aws profile against a moto server: maintenance through the Glue catalog, metrics to CloudWatch."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.errors import MappingError
from schemahub_lib.metrics import (
    CloudWatchSink,
    StreamFigures,
    landing_metrics,
    load_metrics_sink,
    metric,
    run_metrics,
)
from schemahub_lib.ops import formats
from schemahub_lib.ops.maintenance import MaintainOptions, run_maintenance
from schemahub_lib.spark import register_catalog
from tests.aws.emulator import aws_settings, client, moto_server, reset
from tests.ops.conftest import Lake

pytestmark = pytest.mark.aws

CB = 1_080_000_000


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint, request):
    reset(moto_endpoint)
    bucket = f"schemahub-ops-{request.node.name.replace('_', '-')[:30].lower()}"
    client("s3", moto_endpoint).create_bucket(Bucket=bucket)
    settings = aws_settings(moto_endpoint, bucket, catalog_name=f"schemahub_ops_{request.node.name[-20:]}")
    return dataclasses.replace(settings, cloudwatch_endpoint=moto_endpoint)


def _datapoints(cw, name, dimensions, start, stat="Sum"):
    query = {
        "Id": "m",
        "MetricStat": {
            "Metric": {
                "Namespace": "SchemaHub",
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            },
            "Period": 60,
            "Stat": stat,
        },
    }
    got = cw.get_metric_data(MetricDataQueries=[query], StartTime=start, EndTime=start + timedelta(hours=1))
    return sum(got["MetricDataResults"][0]["Values"])


def test_metrics_reach_cloudwatch_with_their_dimensions(aws, moto_endpoint):
    start = datetime.now(UTC) - timedelta(minutes=5)
    sink = load_metrics_sink(aws)
    assert isinstance(sink, CloudWatchSink)
    sink.put(
        landing_metrics(
            [
                StreamFigures("coinbase", "BTC-USD", 1500, 2, 42.5),
                StreamFigures("coinbase", "ETH-USD", 500, 0, 900.0),  # the stale one
                StreamFigures("binance", "BTC-USDT", 700, 0, 3.0),
            ]
        )
        + run_metrics("ingest", 12.25, ok=True)
        + [metric("GapRanges", 3, Layer="raw", Exchange="coinbase", Symbol="BTC-USD")]
    )
    cw = client("cloudwatch", moto_endpoint)
    listed = cw.list_metrics(Namespace="SchemaHub")["Metrics"]
    names = {
        (m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"]))) for m in listed
    }
    # Landing volumes are one total each; only the lag goes per exchange (its worst stream).
    assert ("TradesLanded", ()) in names and ("RejectedRecords", ()) in names
    assert not [n for n in names if n[0] in ("TradesLanded", "RejectedRecords") and n[1]]
    assert {n for n in names if n[0] == "LagSeconds"} == {
        ("LagSeconds", (("Exchange", "binance"),)),
        ("LagSeconds", (("Exchange", "coinbase"),)),
    }
    assert ("RunDurationSeconds", (("Job", "ingest"),)) in names
    assert _datapoints(cw, "TradesLanded", {}, start) == 2700
    assert _datapoints(cw, "RejectedRecords", {}, start) == 2
    # One stale stream sets its exchange's lag: an alarm on LagSeconds still sees it.
    assert _datapoints(cw, "LagSeconds", {"Exchange": "coinbase"}, start) == 900.0
    assert _datapoints(cw, "LagSeconds", {"Exchange": "binance"}, start) == 3.0
    assert _datapoints(cw, "RunFailed", {"Job": "ingest"}, start) == 0
    assert (
        _datapoints(cw, "GapRanges", {"Layer": "raw", "Exchange": "coinbase", "Symbol": "BTC-USD"}, start)
        == 3
    )


@pytest.mark.spark
def test_maintenance_runs_through_the_glue_catalog_and_reports_metrics(spark_session, aws, moto_endpoint):
    start = datetime.now(UTC) - timedelta(minutes=5)
    lake = Lake(aws)  # PyIceberg GlueCatalog on moto: tables in S3
    raw = formats.RAW_TABLES["coinbase"]
    for k in range(6):
        lake.raw("coinbase", "BTC-USD", range(CB + 10 * k, CB + 10 * k + 10), CB)
    register_catalog(spark_session, aws)
    s3 = client("s3", moto_endpoint)
    bucket = aws.warehouse.removeprefix("s3://").split("/", 1)[0]
    location = lake.table(raw).location().removeprefix(f"s3://{bucket}/")
    s3.put_object(Bucket=bucket, Key=f"{location}/data/fresh-orphan.parquet", Body=b"a write in progress")
    options = MaintainOptions(tables=(raw,), retain_days=0, retain_last=1, min_input_files=2, min_manifests=2)

    report = run_maintenance(aws, spark_session, options)

    (table,) = report.tables
    assert (table.before.data_files, table.after.data_files) == (6, 1)
    assert table.steps["compact"]["rewritten_data_files_count"] == 6
    assert load_catalog(aws).load_table(aws.table_id(raw)).scan().to_arrow().num_rows == 60
    # The orphan step listed S3 (PyArrow) and spared the unreferenced file: it is not 3 days old.
    assert table.steps["orphans"]["files"] == 0
    assert s3.head_object(Bucket=bucket, Key=f"{location}/data/fresh-orphan.parquet")["ContentLength"] == 19
    cw = client("cloudwatch", moto_endpoint)
    assert _datapoints(cw, "DataFiles", {"Table": raw}, start) == 1
    assert _datapoints(cw, "RunFailed", {"Job": "maintain"}, start) == 0


@pytest.mark.spark
def test_unify_reports_each_run_ok_or_failed_with_the_rows_it_inserted(
    spark_session, aws, moto_endpoint, tmp_path
):
    from schemahub_lib.unify import run_unify

    start = datetime.now(UTC) - timedelta(minutes=5)
    lake = Lake(aws)
    lake.raw("coinbase", "BTC-USD", range(CB, CB + 25), CB)
    lake.raw("coinbase", "BTC-USD", range(CB + 20, CB + 30), CB)  # 5 landed twice
    assert run_unify(aws, spark_session).rows_inserted == 30
    assert run_unify(aws, spark_session).snapshot_id is None  # nothing new: a run that inserted 0
    bad = tmp_path / "mappings"
    bad.mkdir()
    for f in Path(aws.mappings_dir).glob("*_trades.yaml"):
        (bad / f.name).write_text(f.read_text())
    (bad / "coinbase_trades.yaml").write_text("source: raw_coinbase_trades\n")
    with pytest.raises(MappingError):  # fails before Spark: still a failed run
        run_unify(dataclasses.replace(aws, mappings_dir=str(bad)), spark_session)

    cw = client("cloudwatch", moto_endpoint)
    assert _datapoints(cw, "RunFailed", {"Job": "unify"}, start, "SampleCount") == 3
    assert _datapoints(cw, "RunFailed", {"Job": "unify"}, start) == 1
    assert _datapoints(cw, "RunDurationSeconds", {"Job": "unify"}, start, "SampleCount") == 3
    assert _datapoints(cw, "RunDurationSeconds", {"Job": "unify"}, start, "Minimum") > 0
    assert _datapoints(cw, "TradesUnified", {"Table": "trades_unified"}, start, "SampleCount") == 3
    assert _datapoints(cw, "TradesUnified", {"Table": "trades_unified"}, start) == 30
