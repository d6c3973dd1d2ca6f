"""Landing test fixtures: the simulator on loopback, settings pointing at it, and ground truth.

Every check compares what raw holds with what the simulator says it served (`sim.truth`):
the same trade ids exactly once, with the same values.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.landing.backfill import BackfillOptions, BackfillReport, run_backfill
from schemahub_lib.landing.ingest import IngestOptions, IngestReport, run_ingest
from schemahub_lib.landing.state import ExchangeState, StreamState
from schemahub_lib.landing.watermarks import read_exchange_state
from schemahub_lib.settings import Settings
from schemahub_lib.sim.catalog import VENUE_STYLES
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.registry import RAW_ID_COLUMN as REGISTRY_ID_COLUMN
from tests.registry import RAW_PRICE_COLUMN as REGISTRY_PRICE_COLUMN
from tests.registry import RAW_PRODUCT_COLUMN as REGISTRY_PRODUCT_COLUMN
from tests.registry import RAW_TIME_COLUMN as REGISTRY_TIME_COLUMN
from tests.registry import STREAMS as REGISTRY_STREAMS
from tests.registry import seed_text

# Every registered exchange, one test stream each (its first built-in product) and two seeded
# products: exchange -> (canonical, venue symbol, raw key). tests/registry.py derives them.
STREAMS = REGISTRY_STREAMS
SEED = seed_text(count=2)
RAW_PRODUCT_COLUMN = REGISTRY_PRODUCT_COLUMN
RAW_ID_COLUMN = REGISTRY_ID_COLUMN
RAW_TIME_COLUMN = REGISTRY_TIME_COLUMN
RAW_PRICE_COLUMN = REGISTRY_PRICE_COLUMN
NS_PER_MIN = 60 * 10**9
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[SimServer]:
    """20 minutes of history on a manual clock, rate limits off."""
    with running_sim() as server:
        yield server


@pytest.fixture
def seed_path(tmp_path: Path) -> str:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED)
    return str(path)


@pytest.fixture
def land_settings(settings: Settings, sim: SimServer, seed_path: str) -> Settings:
    """The test's warehouse, pointed at the simulator, unpaced (the simulator's limits are off)."""
    return dataclasses.replace(
        settings,
        exchange_urls=dict(sim.urls),
        rate_limits=dict.fromkeys(STREAMS, 0),
        seed_path=seed_path,
    )


def ingest(settings: Settings, sim: SimServer, *streams: str, **options: Any) -> IngestReport:
    """`schemahub ingest` in-process, with the simulator's clock as now."""
    exchanges = tuple(s for s in streams if s in STREAMS)
    products = tuple(s for s in streams if s not in STREAMS) or tuple(STREAMS[e][0] for e in exchanges)
    options.setdefault("as_of_ns", sim.clock.now_ns())
    options.setdefault("workers", 1)
    return run_ingest(settings, IngestOptions(exchanges=exchanges, products=products, **options))


def backfill(settings: Settings, *exchanges: str, **options: Any) -> BackfillReport:
    products = tuple(STREAMS[e][0] for e in exchanges)
    options.setdefault("progress", False)
    return run_backfill(settings, BackfillOptions(exchanges=exchanges, products=products, **options))


def raw_table(settings: Settings, exchange: str) -> pa.Table:
    catalog = load_catalog(settings)
    return catalog.load_table(settings.table_id(f"raw_{exchange}_trades")).scan().to_arrow()


def raw_rows(settings: Settings, exchange: str) -> list[dict[str, Any]]:
    """Rows of the test stream of `exchange`."""
    key = STREAMS[exchange][2]
    return [r for r in raw_table(settings, exchange).to_pylist() if r[RAW_PRODUCT_COLUMN[exchange]] == key]


def stream_state(settings: Settings, exchange: str) -> StreamState:
    return exchange_state(settings, exchange).get(STREAMS[exchange][0])


def exchange_state(settings: Settings, exchange: str) -> ExchangeState:
    catalog = load_catalog(settings)
    return read_exchange_state(catalog.load_table(settings.table_id(f"raw_{exchange}_trades")))


def assert_exact(
    settings: Settings,
    sim: SimServer,
    exchange: str,
    *,
    start_ns: int | None = None,
    from_id: int | None = None,
    to_id: int | None = None,
    end_ns: int | None = None,
    rows: Iterable[dict[str, Any]] | None = None,
) -> int:
    """Raw holds each trade the simulator served in the bounds exactly once, with its values.

    Trades a fault hid from a page were never served; corrupted ones are rejects. Reading raw
    itself (no `rows`), also: the stream state's count of the trades landing committed is
    exactly the rows raw holds for the stream. Returns how many trades were compared."""
    venue = STREAMS[exchange][1]
    truth = sim.truth(exchange, venue, start_ns=start_ns, end_ns=end_ns, from_id=from_id, to_id=to_id)
    left_out = set(truth.hidden) | set(truth.corrupted)
    expected = {r["trade_id"]: r for r in truth.records() if r["trade_id"] not in left_out}
    got = list(raw_rows(settings, exchange) if rows is None else rows)
    ids = [r[RAW_ID_COLUMN[exchange]] for r in got]
    dupes = sorted({i for i in ids if ids.count(i) > 1}) if len(ids) != len(set(ids)) else []
    assert not dupes, f"{exchange}: {len(dupes)} trade ids landed twice, e.g. {dupes[:5]}"
    missing = sorted(set(expected) - set(ids))
    extra = sorted(set(ids) - set(expected))
    assert not missing and not extra, (
        f"{exchange}: {len(missing)} missing (e.g. {missing[:5]}), {len(extra)} unexpected (e.g. {extra[:5]})"
    )
    if rows is None:
        landed = stream_state(settings, exchange).landed
        assert landed == len(got), f"{exchange}: state counts {landed} trades landed, raw holds {len(got)}"
    time_column, price_column = RAW_TIME_COLUMN[exchange], RAW_PRICE_COLUMN[exchange]
    slack = 1 if VENUE_STYLES[exchange].time_unit_ns == 1 else 0  # Kraken's time text: 100 ns
    for row in got:
        want = expected[row[RAW_ID_COLUMN[exchange]]]
        payload = json.loads(row["_raw_payload"])
        assert abs(micros(row[time_column]) - want["time_ns"] // 1000) <= slack
        served = payload.values() if isinstance(payload, dict) else payload
        assert want["price"] in {str(v) for v in served}  # the exact decimal text kept
        assert row[price_column] == float(want["price"])
        assert row["_source"] == exchange
    return len(expected)


def micros(stamp: datetime) -> int:
    return (stamp - EPOCH) // timedelta(microseconds=1)


def window_start(sim: SimServer, minutes: float, now_ns: int | None = None) -> int:
    return (sim.clock.now_ns() if now_ns is None else now_ns) - int(minutes * NS_PER_MIN)
