"""`run_pipeline` (jobs/pipeline_job.py and `schemahub pipeline`): ingest, then unify when its
cadence is due, one process.

Against the simulator and a real embedded catalog; unify runs in the shared Spark session.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.cli import main
from schemahub_lib.connectors import CONNECTORS
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


def test_the_command_runs_the_glue_jobs_pipeline_with_its_cadence(
    spark, settings, sim, tmp_path, monkeypatch, capsys
):
    """`schemahub pipeline` is `run_pipeline`, the Glue job's code path: the same unify cadence
    (`--unify-every-minutes`), its reason in --json, ingest's exit code."""
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    config = tmp_path / "config.yaml"
    rate_limits = json.dumps(dict.fromkeys(CONNECTORS, 0))
    config.write_text(f"catalog_name: {settings.catalog_name}\nrate_limits: {rate_limits}\n")
    monkeypatch.setenv("SCHEMAHUB_CONFIG", str(config))
    for var, url in sim.env().items():
        monkeypatch.setenv(var, url)
    warehouse = str(settings.warehouse_path)
    catalog = load_catalog(settings)
    init_tables(catalog, settings)

    def pipeline(*extra: str) -> tuple[int, str]:
        as_of = str(sim.clock.now_ns() / 1e9)
        common = ("--seed-path", str(seed), "--cold-start-minutes", "2", "--as-of", as_of)
        code = main(["--warehouse", warehouse, "pipeline", *common, *extra])
        return code, capsys.readouterr().out

    code, out = pipeline("--unify-every-minutes", "180", "--json")
    first = json.loads(out)
    landed = sum(s["trades"] for s in first["ingest"]["streams"])
    assert code == 0 and landed > 100
    assert first["unify"]["rows_inserted"] == landed
    assert first["unify_reason"] == "trades_unified has no unify commit yet"

    sim.clock.advance(60)
    code, out = pipeline("--unify-every-minutes", "180", "--json")
    second = json.loads(out)
    more = sum(s["trades"] for s in second["ingest"]["streams"])
    assert code == 0 and more > 0
    assert second["unify"] is None  # not due: raw lands, trades_unified waits for its cadence
    assert second["unify_reason"].startswith("last unify commit 0.")
    assert _unified(catalog, settings) == landed

    sim.clock.advance(60)
    code, out = pipeline("--json")  # no cadence: every run unifies, catching up the second's trades
    third = json.loads(out)
    latest = sum(s["trades"] for s in third["ingest"]["streams"])
    assert code == 0 and third["unify_reason"] == "unify runs every pipeline run"
    assert third["unify"]["rows_inserted"] == more + latest
    assert _unified(catalog, settings) == landed + more + latest

    sim.clock.advance(60)
    code, out = pipeline("--dry-run")  # lands nothing; unify reads and maps, writes nothing
    assert code == 0 and "nothing written" in out
    (line,) = [x for x in out.splitlines() if x.startswith("unify ")]
    assert "; dry run (" in line and "inserted 0," in line
    assert _unified(catalog, settings) == landed + more + latest
