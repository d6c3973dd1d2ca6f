"""The pipeline on the aws profile, end to end against a moto server (Glue + S3) on loopback:
init -> ingest from the exchange simulator (PyIceberg GlueCatalog, PyArrow S3) -> unify (Spark's
Iceberg GlueCatalog with S3FileIO) -> query, compared with the simulator's ground truth.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.landing.ingest import IngestOptions
from schemahub_lib.pipeline import PipelineOptions, run_pipeline
from schemahub_lib.settings import Settings
from schemahub_lib.sim.testing import running_sim
from schemahub_lib.tables import init_tables
from tests.aws.emulator import client

pytestmark = [pytest.mark.aws, pytest.mark.spark]

# exchange -> (canonical product, venue symbol the simulator knows it by)
STREAMS = {
    "coinbase": ("BTC-USD", "BTC-USD"),
    "binance": ("BTC-USDT", "BTCUSDT"),
    "kraken": ("BTC-USD", "XBTUSD"),
}
SEED = """
coinbase:
  product_ids: [BTC-USD]
  symbols:
    BTC-USD: {exchange_symbol: BTC-USD, base: BTC, quote: USD}
binance:
  product_ids: [BTC-USDT]
  symbols:
    BTC-USDT: {exchange_symbol: BTCUSDT, base: BTC, quote: USDT}
kraken:
  product_ids: [BTC-USD]
  symbols:
    BTC-USD: {exchange_symbol: XBTUSD, base: BTC, quote: USD, aliases: [XXBTZUSD]}
"""
WINDOW_MINUTES = 3
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _expected(sim, start_ns: int) -> dict[tuple[str, str, str], tuple[float, float, str, int]]:
    """(exchange, symbol, trade id) -> (price, quantity, taker side, trade time in µs)."""
    expected = {}
    for exchange, (symbol, venue) in STREAMS.items():
        truth = sim.truth(exchange, venue, start_ns=start_ns)
        left_out = set(truth.hidden) | set(truth.corrupted)
        for r in truth.records():
            if r["trade_id"] in left_out:
                continue
            key = (exchange, symbol, str(r["trade_id"]))
            side = r["taker_side"].upper()
            expected[key] = (float(r["price"]), float(r["size"]), side, r["time_ns"] // 1000)
    return expected


def _micros(ts: datetime) -> int:
    return (ts.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)


def test_init_ingest_unify_query_on_glue_and_s3(
    glue_spark, aws: Settings, moto_endpoint: str, tmp_path: Path
):
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    with running_sim() as sim:
        settings = dataclasses.replace(
            aws,
            exchange_urls=dict(sim.urls),
            rate_limits=dict.fromkeys(STREAMS, 0),
            seed_path=str(seed),
        )
        # init: every table from ddl/, registered in Glue as an Iceberg table in S3.
        created = init_tables(load_catalog(settings), settings)
        assert {r.status for r in created} == {"created"}
        glue = client("glue", moto_endpoint)
        bucket = settings.warehouse.removeprefix("s3://").split("/")[0]
        for result in created:
            table = glue.get_table(DatabaseName="schemahub", Name=result.table)["Table"]
            assert table["Parameters"]["table_type"] == "ICEBERG"
            location = table["Parameters"]["metadata_location"]
            assert location.startswith(f"s3://{bucket}/lake/schemahub.db/{result.table}/metadata/")
            client("s3", moto_endpoint).head_object(Bucket=bucket, Key=location.split("/", 3)[3])

        # The pipeline job's one call (jobs/pipeline_job.py): ingest a cold start of
        # WINDOW_MINUTES on every exchange with PyIceberg, then unify with Spark, same catalog.
        now_ns = sim.clock.now_ns()
        ingest = IngestOptions(
            exchanges=tuple(STREAMS),
            products=tuple(sorted({p for p, _ in STREAMS.values()})),
            as_of_ns=now_ns,
            cold_start_minutes=WINDOW_MINUTES,
            workers=1,
        )
        report = run_pipeline(settings, PipelineOptions(ingest, unify_every_minutes=180), spark=glue_spark)
        assert report.exit_code == 0
        expected = _expected(sim, now_ns - WINDOW_MINUTES * 60 * 10**9)
    assert len(expected) > 300
    assert report.unify is not None and report.unify.rows_inserted == len(expected)

    catalog = load_catalog(settings)  # the raw tables hold every expected trade once
    for exchange in STREAMS:
        raw = catalog.load_table(settings.table_id(f"raw_{exchange}_trades")).scan().to_arrow()
        assert raw.num_rows == sum(1 for key in expected if key[0] == exchange), exchange

    # unify committed through Glue, its files through S3FileIO.
    unified = glue.get_table(DatabaseName="schemahub", Name="trades_unified")["Table"]["Parameters"]
    assert unified["table_type"] == "ICEBERG"
    assert unified["metadata_location"].startswith(
        f"s3://{bucket}/lake/schemahub.db/trades_unified/metadata/"
    )
    assert unified.get("previous_metadata_location")  # unify committed through Glue

    columns = "exchange, symbol, trade_id, price, quantity, side, trade_ts, base_asset, quote_asset"
    rows = glue_spark.sql(f"SELECT {columns} FROM {settings.spark_table('trades_unified')}").collect()
    got = {(r.exchange.lower(), r.symbol, r.trade_id): r for r in rows}
    assert len(got) == len(rows), "duplicate keys in trades_unified"
    assert sorted(got) == sorted(expected)
    for key, (price, quantity, side, micros) in expected.items():
        row = got[key]
        assert (row.price, row.quantity, row.side) == (price, quantity, side), key
        assert f"{row.base_asset}-{row.quote_asset}" == row.symbol, key
        slack = 1 if key[0] == "kraken" else 0  # Kraken's time text is rounded to 100 ns
        assert abs(_micros(row.trade_ts) - micros) <= slack, key

    # A second unify with nothing new writes nothing (no new Glue metadata pointer).
    from schemahub_lib.unify import run_unify

    run_unify(settings, spark=glue_spark)
    again = glue.get_table(DatabaseName="schemahub", Name="trades_unified")["Table"]["Parameters"]
    assert again["metadata_location"] == unified["metadata_location"]
