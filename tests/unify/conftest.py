"""Unify test support: raw rows written with PyIceberg in the raw tables' own schemas (as
landing writes them), rows built from the real recorded exchange pages, and table readers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "exchanges"
LANDED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # default _source_ingest_ts


def micros(value: datetime | int) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp()) * 1_000_000 + value.microsecond
    return value


class Lake:
    """An initialised embedded catalog; raw rows go in through PyIceberg, one snapshot per call."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog

    def append(self, table: str, rows: Iterable[dict[str, Any]], ingest: datetime | None = None) -> int:
        """Append `rows` (missing metadata columns filled in); returns the new snapshot id."""
        iceberg = self.catalog.load_table(self.settings.table_id(table))
        schema = iceberg.schema().as_arrow()
        meta = {
            "_source": table.removeprefix("raw_").removesuffix("_trades"),
            "_source_ingest_ts": ingest or LANDED,
            "_raw_payload": "{}",
            "_run_id": "test-run",
        }
        full = [{**meta, **row} for row in rows]
        arrays = []
        for field in schema:
            values = [r.get(field.name) for r in full]
            if pa.types.is_timestamp(field.type):
                ints = [None if v is None else micros(v) for v in values]
                arrays.append(pa.array(ints, pa.int64()).cast(field.type))
            else:
                arrays.append(pa.array(values, field.type))
        iceberg.append(pa.Table.from_arrays(arrays, schema=schema))
        snapshot = iceberg.refresh().current_snapshot()
        assert snapshot is not None
        return snapshot.snapshot_id

    def spark_table(self, table: str = "trades_unified") -> str:
        return self.settings.spark_table(table)


@pytest.fixture
def lake(settings: Settings) -> Lake:
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    return Lake(settings, catalog)


def unified_keys(spark: Any, lake: Lake) -> list[tuple[str, str, str]]:
    rows = spark.table(lake.spark_table()).select("exchange", "symbol", "trade_id").collect()
    return sorted(tuple(r) for r in rows)


def main_history(spark: Any, lake: Lake) -> list[Any]:
    """trades_unified's snapshot log (one entry per commit made current on main), oldest first."""
    return spark.sql(f"SELECT * FROM {lake.spark_table()}.history ORDER BY made_current_at").collect()


def head_summary(spark: Any, lake: Lake) -> dict[str, str]:
    t = lake.spark_table()
    rows = spark.sql(
        f"SELECT s.summary FROM {t}.snapshots s JOIN {t}.refs r ON s.snapshot_id = r.snapshot_id "
        "WHERE r.name = 'main'"
    ).collect()
    return dict(rows[0].summary)


# ---- rows from the real recorded pages (tests/fixtures/exchanges, see SOURCES.md) ----


def _load(relative: str) -> Any:
    # parse_float=Decimal keeps the exact decimal text of prices and Kraken's float seconds.
    return json.loads((FIXTURES / relative).read_text(), parse_float=Decimal)


def _rfc3339_micros(text: str) -> int:
    stamp, _, fraction = text.removesuffix("Z").partition(".")
    whole = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    return int(whole.timestamp()) * 1_000_000 + int((fraction + "000000")[:6])


def coinbase_rows(relative: str, product: str) -> list[dict[str, Any]]:
    return [
        {
            "trade_id": int(t["trade_id"]),
            "product_id": product,
            "price": float(t["price"]),
            "size": float(t["size"]),
            "time": _rfc3339_micros(t["time"]),
            "side": t["side"],
            "_raw_payload": json.dumps(t, default=str),
        }
        for t in _load(relative)
    ]


def binance_rows(relative: str, symbol: str) -> list[dict[str, Any]]:
    return [
        {
            "id": t["id"],
            "symbol": symbol,
            "price": float(t["price"]),
            "qty": float(t["qty"]),
            "quote_qty": float(t["quoteQty"]),
            "time": t["time"] * 1000,  # epoch ms -> µs
            "is_buyer_maker": t["isBuyerMaker"],
            "is_best_match": t["isBestMatch"],
            "_raw_payload": json.dumps(t, default=str),
        }
        for t in _load(relative)
    ]


def kraken_rows(relative: str) -> list[dict[str, Any]]:
    result = _load(relative)["result"]
    (pair,) = [k for k in result if k != "last"]
    rows = []
    for price, volume, seconds, side, order_type, misc, trade_id in result[pair]:
        ns = int(Decimal(seconds) * 1_000_000_000)
        rows.append(
            {
                "trade_id": trade_id,
                "pair": pair,
                "price": float(price),
                "volume": float(volume),
                "time": ns // 1000,
                "time_ns": ns,
                "side": side,
                "order_type": order_type,
                "misc": misc,
            }
        )
    return rows


def write_ddl(folder: Path, name: str, columns: str) -> None:
    """A raw table DDL in the repo's style, for tests that add an exchange."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(
        f"CREATE TABLE IF NOT EXISTS schemahub.schemahub.{name} (\n{columns}\n)\nUSING iceberg\n"
        "PARTITIONED BY (days(_source_ingest_ts))\nTBLPROPERTIES ('format-version' = '2');\n"
    )
