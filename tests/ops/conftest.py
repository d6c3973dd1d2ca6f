"""Ops test helpers: tables filled with chosen trade ids, written the way the jobs write them.

Raw rows go in with PyIceberg (as landing does), unified rows too, each call one snapshot.
`unify_record` stamps a trades_unified snapshot with what unify consumed, in unify's format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.landing.ingest import IngestOptions, run_ingest
from schemahub_lib.ops import formats
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from schemahub_lib.tables import init_tables
from tests.registry import STREAMS, seed_text

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
RAW_SYMBOL = {
    ("coinbase", "BTC-USD"): "BTC-USD",
    ("binance", "BTC-USDT"): "BTCUSDT",
    ("kraken", "BTC-USD"): "XXBTZUSD",
    ("bitfinex", "BTC-USD"): "tBTCUSD",
}


def trade_time(trade_id: int, first_id: int) -> datetime:
    """One trade per second from T0: ids and times move together, so windows select id ranges."""
    return T0 + timedelta(seconds=trade_id - first_id)


def _raw_record(exchange: str, source_symbol: str, trade_id: int, ts: datetime) -> dict:
    now = datetime.now(UTC)
    meta = {"_source": exchange, "_source_ingest_ts": now, "_raw_payload": "{}", "_run_id": "test"}
    if exchange == "coinbase":
        return {
            "trade_id": trade_id,
            "product_id": source_symbol,
            "price": 1.0,
            "size": 1.0,
            "time": ts,
            "side": "buy",
            **meta,
        }
    if exchange == "binance":
        return {
            "id": trade_id,
            "symbol": source_symbol,
            "price": 1.0,
            "qty": 1.0,
            "quote_qty": 1.0,
            "time": ts,
            "is_buyer_maker": True,
            "is_best_match": True,
            **meta,
        }
    if exchange == "bitfinex":
        return {"id": trade_id, "symbol": source_symbol, "mts": ts, "amount": -1.0, "price": 1.0, **meta}
    return {
        "trade_id": trade_id,
        "pair": source_symbol,
        "price": 1.0,
        "volume": 1.0,
        "time": ts,
        "time_ns": int(ts.timestamp()) * 10**9,
        "side": "b",
        "order_type": "m",
        "misc": "",
        **meta,
    }


def _append(table, records: list[dict], properties: dict[str, str] | None = None) -> int:
    schema = table.schema().as_arrow()
    columns = {f.name: [r.get(f.name) for r in records] for f in schema}
    table.append(pa.Table.from_pydict(columns, schema=schema), snapshot_properties=properties or {})
    return table.current_snapshot().snapshot_id


class Lake:
    """The test's warehouse: initialised tables and writers for chosen ids."""

    def __init__(self, settings):
        self.settings = settings
        self.catalog = load_catalog(settings)
        init_tables(self.catalog, settings)

    def table(self, name: str):
        return self.catalog.load_table(self.settings.table_id(name))

    def raw(self, exchange: str, symbol: str, ids: Iterable[int], first_id: int, properties=None) -> int:
        source = RAW_SYMBOL[(exchange, symbol)]
        records = [_raw_record(exchange, source, i, trade_time(i, first_id)) for i in ids]
        return _append(self.table(formats.RAW_TABLES[exchange]), records, properties)

    def unified(self, exchange: str, symbol: str, ids: Iterable[int], first_id: int, consumed=None) -> int:
        base, quote = symbol.split("-")
        now = datetime.now(UTC)
        records = [
            {
                "exchange": exchange.upper(),
                "symbol": symbol,
                "trade_id": str(i),
                "side": "BUY",
                "price": 1.0,
                "quantity": 1.0,
                "trade_ts": trade_time(i, first_id),
                "ingest_ts": now,
                "base_asset": base,
                "quote_asset": quote,
            }
            for i in ids
        ]
        props = formats.unify_record(consumed) if consumed is not None else None
        return _append(self.table(formats.UNIFIED_TABLE), records, props)


@pytest.fixture
def lake(settings) -> Lake:
    return Lake(settings)


@pytest.fixture
def spark(spark, settings):
    """The shared session, its catalog set up the way ops sets it up before first use."""
    from schemahub_lib.ops.sparkutil import ops_spark

    return ops_spark(settings, spark)


# One product per registered exchange keeps runs short: exchange -> (canonical symbol, venue symbol).
VENUE = {exchange: stream[:2] for exchange, stream in STREAMS.items()}
SEED = seed_text()


@pytest.fixture
def sim() -> Iterator[SimServer]:
    """The simulator on loopback: manual clock, 20 minutes of history, no rate limits."""
    with running_sim() as server:
        yield server


@pytest.fixture
def sim_settings(settings, sim, tmp_path):
    """The test's warehouse pointed at the simulator, with a one-product-per-exchange seed."""
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    return dataclasses.replace(
        settings, exchange_urls=dict(sim.urls), rate_limits=dict.fromkeys(VENUE, 0.0), seed_path=str(seed)
    )


def ingest(settings, sim, **options):
    """`schemahub ingest` in-process with the simulator's clock as now (4-minute cold start)."""
    # Pages of 100: within every exchange's maximum (OKX serves at most 100).
    values = {"cold_start_minutes": 4, "limit": 100, "workers": 1, "as_of_ns": sim.clock.now_ns(), **options}
    return run_ingest(settings, IngestOptions(**values))
