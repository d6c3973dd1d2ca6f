"""Test warehouses for the explorer: the simulator's BTC markets written into trades_unified.

Rows come from the simulator's ground truth (`sim.truth`), mapped the way unify maps raw rows
(exchange upper-cased, canonical symbol, taker side, UTC microseconds), and appended with
PyIceberg. That is what unify would commit for the same trades, without a JVM per test.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from schemahub_lib.catalog import load_catalog
from schemahub_lib.ops.coverage import append_rows
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from schemahub_lib.tables import init_tables

BTC_PRODUCTS = (("binance", "BTCUSDT"), ("coinbase", "BTC-USD"), ("kraken", "XBTUSD"))


def unified_rows(sim: SimServer, exchange: str, product: str, **bounds: int) -> pa.Table:
    truth = sim.truth(exchange, product, **bounds)
    n = len(truth)
    base, quote = truth.symbol.split("-")
    ts = pa.array(truth.time_ns // 1000, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "exchange": pa.array([exchange.upper()] * n),
            "symbol": pa.array([truth.symbol] * n),
            "trade_id": pa.array([str(i) for i in truth.trade_id.tolist()]),
            "side": pa.array([s.upper() for s in truth.taker_side]),
            "price": pa.array(np.array(truth.price, dtype=float)),
            "quantity": pa.array(np.array(truth.size, dtype=float)),
            "trade_ts": ts,
            "ingest_ts": pa.array([datetime.now(UTC)] * n, pa.timestamp("us", tz="UTC")),
            "base_asset": pa.array([base] * n),
            "quote_asset": pa.array([quote] * n),
        }
    )


def write_unified(settings: Settings, tables: Sequence[pa.Table]) -> int:
    """Append the rows in one snapshot; returns its id."""
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("trades_unified"))
    schema = table.schema().as_arrow()
    table.append(pa.concat_tables([t.select(schema.names).cast(schema) for t in tables]))
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def land_btc(settings: Settings, sim: SimServer, **bounds: int) -> int:
    return write_unified(settings, [unified_rows(sim, x, p, **bounds) for x, p in BTC_PRODUCTS])


def plant_gap(settings: Settings, exchange: str, symbol: str, first_ns: int, last_ns: int) -> None:
    """A coverage-ledger gap row, as `schemahub audit` writes one for an open gap."""

    def ts(ns: int) -> datetime:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC)

    append_rows(
        load_catalog(settings),
        settings,
        [
            {
                "audit_id": "test-audit",
                "kind": "gap",
                "layer": "unified",
                "exchange": exchange,
                "symbol": symbol,
                "first_id": 1000,
                "last_id": 1099,
                "first_ts": ts(first_ns),
                "last_ts": ts(last_ns),
                "status": "open",
            }
        ],
    )
