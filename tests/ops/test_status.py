"""`schemahub status`: stream positions, counts and last runs, table shapes; no JVM needed."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from schemahub_lib.commands.status import render
from schemahub_lib.ops import formats
from schemahub_lib.ops.status import run_status
from tests.conftest import REPO
from tests.ops.conftest import VENUE, Lake, ingest


def _raw_ids(lake, exchange):
    table = lake.table(formats.RAW_TABLES[exchange])
    return table.scan(selected_fields=(formats.RAW_COLUMNS[exchange][0],)).to_arrow().column(0).to_pylist()


def test_status_reports_streams_tables_and_unify(sim_settings, sim):
    report_in = ingest(sim_settings, sim)
    assert report_in.exit_code == 0
    lake = Lake(sim_settings)
    cb_ids = sorted(_raw_ids(lake, "coinbase"))
    coinbase_raw = lake.table(formats.RAW_TABLES["coinbase"]).current_snapshot().snapshot_id
    lake.unified(
        "coinbase", "BTC-USD", cb_ids[:10], cb_ids[0], consumed={formats.RAW_TABLES["coinbase"]: coinbase_raw}
    )

    status = run_status(sim_settings)

    streams = {(s.exchange, s.product): s for s in status.streams}
    assert set(streams) == {(e, v[0]) for e, v in VENUE.items()}
    for exchange, (product, venue) in VENUE.items():
        s = streams[(exchange, product)]
        ids = _raw_ids(lake, exchange)
        assert s.watermark_id == max(ids) and s.landed_ranges == [(min(ids), max(ids))]
        assert s.raw_rows == len(ids)
        newest = sim.truth(exchange, venue, from_id=max(ids), to_id=max(ids)).time_ns[0]
        assert abs(s.newest_trade_ts.timestamp() - newest / 1e9) < 1e-3
        assert abs(s.lag_s - (status.generated_at.timestamp() - newest / 1e9)) < 1.0
        assert (s.last_run_kind, s.last_run_status, s.last_run_trades) == ("ingest", "ok", len(ids))
        assert s.last_run_id == report_in.run_id
    assert streams[("coinbase", "BTC-USD")].unified_rows == 10
    assert streams[("binance", "BTC-USDT")].unified_rows == 0
    assert status.unify.consumed == {"raw_coinbase_trades": coinbase_raw}
    assert status.unify.pending_commits["raw_coinbase_trades"] == 0
    assert status.unify.pending_commits["raw_binance_trades"] >= 1  # unify never consumed it
    tables = {t.table: t for t in status.tables}
    raw = lake.table(formats.RAW_TABLES["kraken"])
    assert tables["raw_kraken_trades"].data_files == raw.inspect.data_files().num_rows
    assert tables["raw_kraken_trades"].records == len(_raw_ids(lake, "kraken"))
    assert tables["raw_kraken_trades"].snapshots == len(raw.metadata.snapshots)
    assert tables["schemahub_coverage"].data_files == 0


def test_status_json_from_the_command_line(sim_settings, sim, tmp_path):
    ingest(sim_settings, sim)
    config = tmp_path / "schemahub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouse": sim_settings.warehouse,
                "catalog_name": sim_settings.catalog_name,
                "seed_path": sim_settings.seed_path,
            }
        )
    )
    cmd = [sys.executable, "-m", "schemahub_lib.cli", "--config", str(config), "status"]
    out = subprocess.run(
        [*cmd, "--json"], cwd=REPO, capture_output=True, text=True, check=True, env={"PATH": "/usr/bin"}
    )
    data = json.loads(out.stdout)
    by_stream = {(s["exchange"], s["product"]): s for s in data["streams"]}
    assert by_stream[("binance", "BTC-USDT")]["last_run_status"] == "ok"
    assert by_stream[("binance", "BTC-USDT")]["raw_rows"] > 0
    assert "raw_binance_trades" in {t["table"] for t in data["tables"]}
    text = render(run_status(sim_settings, counts=False))
    assert "binance   BTC-USDT" in text and "ingest ok" in text and "raw_binance_trades" in text
    assert text.count("\n") > len(data["tables"])
