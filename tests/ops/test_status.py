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


def test_status_exits_1_when_a_streams_last_run_failed_and_lists_it_first(sim_settings, sim, tmp_path):
    assert ingest(sim_settings, sim).exit_code == 0
    sim.clock.advance(30)
    sim.faults.add({"kind": "server_error", "exchange": "kraken", "count": None})
    assert ingest(sim_settings, sim, http_timeout_s=1.0).exit_code == 1
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
    cmd = [sys.executable, "-m", "schemahub_lib.cli", "--config", str(config), "status", "--no-counts"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("trouble: kraken BTC-USD: last ingest run ingest-") and "failed" in lines[0]
    assert "EService:Unavailable" in lines[0]
    rows = lines[lines.index(next(x for x in lines if x.startswith("exchange"))) + 2 :]
    assert rows[0].startswith("kraken") and "ingest failed" in rows[0]  # the failed stream first
    data = json.loads(subprocess.run([*cmd, "--json"], cwd=REPO, capture_output=True, text=True,
                                     env={"PATH": "/usr/bin"}).stdout)  # fmt: skip
    assert data["streams"][0]["exchange"] == "kraken" and len(data["trouble"]) == 1

    sim.faults.clear()
    assert ingest(sim_settings, sim).exit_code == 0  # the stream recovers: status is clean again
    assert subprocess.run(cmd, cwd=REPO, capture_output=True, env={"PATH": "/usr/bin"}).returncode == 0
