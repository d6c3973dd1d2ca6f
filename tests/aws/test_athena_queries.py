"""The Athena example queries in ddl/athena/ run unchanged in Spark SQL and give the right numbers.

Hand-made trades go into `trades_unified` through PyIceberg's GlueCatalog (moto Glue + S3);
Spark reads them through Iceberg's GlueCatalog with S3FileIO and runs each file's text as is,
with the table unqualified, as Athena runs it with the `schemahub` database selected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import REPO_ROOT, Settings
from schemahub_lib.spark import register_catalog
from schemahub_lib.tables import init_tables

pytestmark = [pytest.mark.aws, pytest.mark.spark]

QUERIES = REPO_ROOT / "ddl" / "athena"
T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# (exchange, symbol, trade_id, price, quantity, trade_ts)
TRADES = [
    ("COINBASE", "BTC-USD", "1", 100.0, 1.0, _at(0.1)),
    ("COINBASE", "BTC-USD", "2", 102.0, 3.0, _at(0.5)),
    ("COINBASE", "BTC-USD", "3", 110.0, 2.0, _at(70)),
    ("COINBASE", "BTC-USD", "5", 111.0, 2.0, _at(80)),  # id 4 missing
    ("KRAKEN", "BTC-USD", "10", 101.0, 2.0, _at(0.2)),
    ("KRAKEN", "BTC-USD", "11", 109.0, 1.0, _at(70.3)),
    ("KRAKEN", "BTC-USD", "15", 109.5, 1.0, _at(90)),  # ids 12-14 missing
    ("BINANCE", "BTC-USDT", "1000", 100.5, 1.0, _at(0.3)),
    ("BINANCE", "BTC-USDT", "1001", 100.7, 1.0, _at(0.9)),
    # Outside the queries' time range: must not count, nor close or open a gap.
    ("COINBASE", "BTC-USD", "7", 999.0, 5.0, datetime(2024, 3, 2, 0, 0, 1, tzinfo=UTC)),
]


def _naive(ts: datetime) -> datetime:
    # Spark returns naive datetimes in the session zone, which load_spark pins to UTC.
    return ts.astimezone(UTC).replace(tzinfo=None)


@pytest.fixture
def athena_spark(glue_spark, aws: Settings):
    catalog = load_catalog(aws)
    init_tables(catalog, aws)
    table = catalog.load_table(aws.table_id("trades_unified"))
    rows = [
        {
            "exchange": ex,
            "symbol": sym,
            "trade_id": tid,
            "side": "BUY",
            "price": price,
            "quantity": qty,
            "trade_ts": ts,
            "ingest_ts": T0,
            "base_asset": sym.split("-")[0],
            "quote_asset": sym.split("-")[1],
        }
        for ex, sym, tid, price, qty, ts in TRADES
    ]
    table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))
    # A session of its own for `USE` (the database Athena has selected), which would otherwise
    # change the shared session's current catalog; SQL resolves catalogs in its own session.
    session = glue_spark.newSession()
    register_catalog(session, aws)
    session.sql(f"USE {aws.catalog_name}.{aws.namespace}")
    return session


def _run(session, name: str) -> list[dict]:
    return [row.asDict() for row in session.sql((QUERIES / name).read_text()).collect()]


def test_vwap_per_minute(athena_spark):
    got = _run(athena_spark, "vwap_per_minute.sql")
    minute = _naive(T0)
    next_minute = _naive(T0 + timedelta(minutes=1))
    assert [(r["exchange"], r["symbol"], r["minute_start"], r["trades"]) for r in got] == [
        ("COINBASE", "BTC-USD", minute, 2),
        ("KRAKEN", "BTC-USD", minute, 1),
        ("COINBASE", "BTC-USD", next_minute, 2),
        ("KRAKEN", "BTC-USD", next_minute, 2),
        ("BINANCE", "BTC-USDT", minute, 2),
    ]
    assert [r["vwap"] for r in got] == pytest.approx([101.5, 101.0, 110.5, 109.25, 100.6])
    assert [r["volume"] for r in got] == pytest.approx([4.0, 2.0, 4.0, 2.0, 2.0])


def test_cross_venue_spread_per_second(athena_spark):
    got = _run(athena_spark, "cross_venue_spread_per_second.sql")
    # Second 12:00:00: Coinbase VWAP 101.5 vs Kraken 101.0; 12:01:10: 110.0 vs 109.0.
    # Binance BTC-USDT has no second venue; 12:01:20 and 12:01:30 have one venue each.
    assert [(r["symbol"], r["second_start"], r["venues"], r["high_venue"], r["low_venue"]) for r in got] == [
        ("BTC-USD", _naive(T0), 2, "COINBASE", "KRAKEN"),
        ("BTC-USD", _naive(_at(70)), 2, "COINBASE", "KRAKEN"),
    ]
    assert [r["spread"] for r in got] == pytest.approx([0.5, 1.0])
    assert [r["spread_bps"] for r in got] == pytest.approx([0.5 / 101.0 * 1e4, 1.0 / 109.0 * 1e4])


def test_trade_id_gaps(athena_spark):
    got = _run(athena_spark, "trade_id_gaps.sql")
    assert got == [
        {"exchange": "COINBASE", "symbol": "BTC-USD", "first_missing": 4, "last_missing": 4, "missing": 1},
        {"exchange": "KRAKEN", "symbol": "BTC-USD", "first_missing": 12, "last_missing": 14, "missing": 3},
    ]


def test_queries_read_the_glue_registered_iceberg_table(aws, athena_spark, moto_endpoint):
    """What Athena needs from the table: Glue table_type ICEBERG and an s3:// metadata location."""
    from tests.aws.emulator import client

    table = client("glue", moto_endpoint).get_table(DatabaseName="schemahub", Name="trades_unified")["Table"]
    assert table["Parameters"]["table_type"] == "ICEBERG"
    bucket = aws.warehouse.split("/")[2]
    assert table["Parameters"]["metadata_location"].startswith(
        f"s3://{bucket}/lake/schemahub.db/trades_unified/"
    )
    assert athena_spark.sql("SELECT COUNT(*) AS n FROM trades_unified").collect()[0]["n"] == len(TRADES)
