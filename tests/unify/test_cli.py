"""`schemahub pipeline` and `schemahub unify` as a user runs them: a separate process, against
the simulator, checked against the simulator's ground truth (taker side, symbol, price)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.settings import load_settings
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from schemahub_lib.tables import init_tables
from tests.conftest import REPO
from tests.registry import STREAMS, seed_text

pytestmark = pytest.mark.spark

# One market per registered exchange: the pipeline covers every connector.
SEED = seed_text()
VENUE = {name: stream[1] for name, stream in STREAMS.items()}
CANONICAL = {name: stream[0] for name, stream in STREAMS.items()}


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with running_sim() as server:
        yield server


def schemahub(tmp_path: Path, sim: SimServer, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(f"rate_limits: {json.dumps(dict.fromkeys(CONNECTORS, 0))}\n")
    env = {**os.environ, **sim.env(), "SCHEMAHUB_CONFIG": str(config), "SCHEMAHUB_SHUFFLE_PARTITIONS": "2"}
    cmd = [sys.executable, "-m", "schemahub_lib.cli", "--warehouse", str(tmp_path / "wh"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=500)


def test_pipeline_lands_then_unifies_every_trade_once_with_taker_sides(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = load_settings(env={}, warehouse=str(tmp_path / "wh"))
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    as_of = str(sim.clock.now_ns() / 1e9)
    common = ("--seed-path", str(seed), "--cold-start-minutes", "2", "--as-of", as_of, "--json")
    out = schemahub(tmp_path, sim, "pipeline", *common)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    landed = {s["exchange"]: s["trades"] for s in report["ingest"]["streams"]}
    unify = report["unify"]
    assert unify["rows_inserted"] == unify["rows_read"] == sum(landed.values()) > 300
    summary = [json.loads(line) for line in out.stderr.splitlines() if line.startswith('{"ts"')]
    assert [s["rows_inserted"] for s in summary if s["event"] == "unify"] == [unify["rows_inserted"]]

    rows = catalog.load_table(settings.table_id("trades_unified")).scan().to_arrow().to_pylist()
    keys = [(r["exchange"], r["symbol"], r["trade_id"]) for r in rows]
    assert len(keys) == len(set(keys)) == unify["rows_inserted"]
    for exchange, venue in VENUE.items():
        mine = {int(r["trade_id"]): r for r in rows if r["exchange"] == exchange.upper()}
        assert len(mine) == landed[exchange]
        truth = {t["trade_id"]: t for t in sim.truth(exchange, venue).records() if t["trade_id"] in mine}
        assert set(truth) == set(mine)
        for trade_id, t in truth.items():
            row: dict[str, Any] = mine[trade_id]
            assert row["side"] == t["taker_side"].upper(), (exchange, trade_id)
            assert (row["symbol"], row["price"]) == (CANONICAL[exchange], float(t["price"]))
            assert (row["base_asset"] + "-" + row["quote_asset"]) == CANONICAL[exchange]

    again = schemahub(tmp_path, sim, "unify", "--seed-path", str(seed), "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["snapshot_id"] is None  # nothing new


def test_a_bad_mapping_stops_the_pipeline_before_anything_lands(tmp_path: Path, sim: SimServer) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    for f in (REPO / "mappings").glob("*_trades.yaml"):
        (mappings / f.name).write_text(f.read_text())
    text = (REPO / "mappings" / "kraken_trades.yaml").read_text().replace("volume: quantity", "vol: quantity")
    (mappings / "kraken_trades.yaml").write_text(text)
    out = schemahub(tmp_path, sim, "pipeline", "kraken", "--mappings-dir", str(mappings))
    assert out.returncode == 2
    columns = "trade_id, pair, price, volume, time, time_ns, side, order_type, misc, _source, "
    columns += "_source_ingest_ts, _raw_payload, _run_id"
    assert out.stderr.strip() == (
        f"schemahub pipeline: {mappings / 'kraken_trades.yaml'}: mappings.vol: "
        f"unknown column 'vol' in the raw table; expected one of {columns}"
    )
    assert not (tmp_path / "wh").exists()
