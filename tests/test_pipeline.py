"""`run_pipeline` (jobs/pipeline_job.py): ingest, then unify when its cadence is due, one process.

Against the simulator and a real embedded catalog; unify runs in the shared Spark session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.errors import ConfigError
from schemahub_lib.landing.ingest import IngestOptions
from schemahub_lib.pipeline import PipelineOptions, last_unify_ms, run_pipeline, unify_due
from schemahub_lib.settings import load_settings
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from schemahub_lib.tables import init_tables

pytestmark = pytest.mark.spark

SEED = """
coinbase:
  product_ids: [BTC-USD]
binance:
  product_ids: [ETH-USDT]
  symbols:
    ETH-USDT: {exchange_symbol: ETHUSDT}
"""


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with running_sim() as server:
        yield server


def _unified(catalog, settings) -> int:
    return len(catalog.load_table(settings.table_id("trades_unified")).scan().to_arrow())


def test_pipeline_unifies_on_its_own_cadence(spark, settings, sim, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    settings = load_settings(
        env=sim.env(),
        warehouse=str(settings.warehouse_path),
        catalog_name=settings.catalog_name,
        seed_path=str(seed),
        cold_start_minutes=2,
        rate_limits={"coinbase": 0, "binance": 0},
    )
    catalog = load_catalog(settings)
    init_tables(catalog, settings)

    def run(every: float | None):
        options = IngestOptions(as_of_ns=sim.clock.now_ns())
        return run_pipeline(settings, PipelineOptions(options, unify_every_minutes=every), spark=spark)

    first = run(180)  # no unify commit yet: due
    landed = first.ingest.trades
    assert first.exit_code == 0 and landed > 100
    assert first.unify is not None and first.unify.rows_inserted == landed
    assert first.unify_reason == "trades_unified has no unify commit yet"
    assert _unified(catalog, settings) == landed

    sim.clock.advance(60)  # the simulator's market moves on a minute
    second = run(180)  # unified a moment ago: not due, raw still lands
    more = second.ingest.trades
    assert more > 0
    assert second.unify is None and second.unify_reason.startswith("last unify commit 0.")
    assert _unified(catalog, settings) == landed

    third = run(None)  # no cadence: every run unifies, and catches up what the second landed
    assert third.unify is not None
    assert _unified(catalog, settings) == landed + more + third.ingest.trades


def test_unify_is_due_after_nine_tenths_of_the_cadence(settings):
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    assert unify_due(settings, None, time.time()) == (True, "unify runs every pipeline run")
    assert unify_due(settings, 60, time.time())[0]  # no unify commit at all
    table = catalog.load_table(settings.table_id("trades_unified"))
    assert last_unify_ms(table) is None


def test_bad_cadence_fails_before_anything_lands(settings):
    with pytest.raises(ConfigError, match="--unify-every-minutes must be positive minutes, got 0"):
        run_pipeline(settings, PipelineOptions(IngestOptions(), unify_every_minutes=0))
