"""Small synthetic trades_unified data, appended through PyIceberg (no Spark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from pyiceberg.table import Table

EXCHANGES = ("BINANCE", "COINBASE", "KRAKEN")
SYMBOLS = ("BTC-USD", "ETH-USD")
START = datetime(2026, 11, 1, tzinfo=UTC)


def trades_batch(
    table: Table, start: datetime, hours: float, per_hour: int, seed: int, id_offset: int = 0
) -> pa.Table:
    """`per_hour` trades an hour from `start`, spread over every exchange and symbol, with
    prices and quantities from `seed`; trade ids unique from `id_offset`."""
    rng = np.random.default_rng(seed)
    n = int(hours * per_hour)
    offsets_us = np.sort(rng.integers(0, int(hours * 3600e6), n))
    ts = pa.array(int(start.timestamp() * 1e6) + offsets_us, pa.timestamp("us", tz="UTC"))
    exchange = np.array(EXCHANGES)[rng.integers(0, len(EXCHANGES), n)]
    symbol = np.array(SYMBOLS)[rng.integers(0, len(SYMBOLS), n)]
    price = np.round(np.where(symbol == "BTC-USD", 90_000.0, 3_000.0) * (1 + rng.normal(0, 0.01, n)), 2)
    columns = {
        "exchange": exchange,
        "symbol": symbol,
        "trade_id": np.char.mod("%d", np.arange(id_offset, id_offset + n)),
        "side": np.array(["BUY", "SELL"])[rng.integers(0, 2, n)],
        "price": price,
        "quantity": np.round(rng.exponential(0.1, n), 6),
        "trade_ts": ts,
        "ingest_ts": pa.array([int(datetime.now(UTC).timestamp() * 1e6)] * n, pa.timestamp("us", tz="UTC")),
        "base_asset": np.char.partition(symbol.astype(str), "-")[:, 0],
        "quote_asset": np.char.partition(symbol.astype(str), "-")[:, 2],
    }
    return pa.table(columns, schema=table.schema().as_arrow())


def append_days(table: Table, days: int, per_hour: int, seed: int = 1, start: datetime = START) -> int:
    """One append per day (so one data file per day); returns the rows appended."""
    total = 0
    for day in range(days):
        batch = trades_batch(table, start + timedelta(days=day), 24, per_hour, seed + day, total)
        table.append(batch)
        total += batch.num_rows
    return total
