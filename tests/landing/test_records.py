"""What a run leaves besides raw data: `schemahub_runs`, `schemahub_watermarks`, log lines;
and the ways to start one: the CLI (with the seeds' `run` spelling) and the Glue job script."""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.landing.state import ExchangeState
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.conftest import REPO
from tests.landing.conftest import (
    NS_PER_MIN,
    STREAMS,
    assert_exact,
    exchange_state,
    ingest,
    raw_table,
    window_start,
)
from tests.landing.procs import clean_env, run_cli, start_cli, write_config

ALL = tuple(sorted(STREAMS))


def rows(settings: Settings, table: str) -> list[dict[str, Any]]:
    return load_catalog(settings).load_table(settings.table_id(table)).scan().to_arrow().to_pylist()


def test_runs_table_and_log_lines_describe_each_stream(
    land_settings: Settings, sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="schemahub")
    sim.faults.add({"kind": "server_error", "status": 400, "exchange": "kraken", "count": None})
    report = ingest(land_settings, sim, *ALL, cold_start_minutes=2)
    runs = [r for r in rows(land_settings, "schemahub_runs") if r["run_id"] == report.run_id]
    summary = sorted(r["status"] for r in runs if r["product"] == "*")
    assert summary == ["failed", "running"]
    streams = {r["exchange"]: r for r in runs if r["product"] != "*"}
    assert streams["kraken"]["status"] == "failed" and "/0/public/Trades" in streams["kraken"]["error"]
    for exchange in ("coinbase", "binance"):
        row = streams[exchange]
        result = next(s for s in report.streams if s.exchange == exchange)
        assert row["status"] == "ok" and row["trades"] == result.trades > 0 and row["pages"] == result.pages
        assert (
            row["last_trade_id"] == exchange_state(land_settings, exchange).get(row["product"]).last.trade_id
        )  # type: ignore[union-attr]
        assert 0 <= row["lag_seconds"] < 5
    events = [json.loads(r.getMessage()) for r in caplog.records]
    per_stream = [e for e in events if e["event"] == "ingest.stream"]
    assert {e["exchange"] for e in per_stream} == set(ALL)
    for e in per_stream:
        assert {"pages", "trades", "rejects", "retries", "seconds", "lag_seconds"} <= set(e)
    (summary_line,) = [e for e in events if e["event"] == "ingest.summary"]
    assert summary_line["failed"] == 1 and summary_line["trades"] == report.trades


def test_watermarks_table_tracks_every_advance(land_settings: Settings, sim: SimServer) -> None:
    ingest(land_settings, sim, "binance", cold_start_minutes=2)
    sim.clock.advance(30)
    ingest(land_settings, sim, "binance", cold_start_minutes=2, limit=100, flush_trades=300)
    history = sorted(
        (r for r in rows(land_settings, "schemahub_watermarks") if r["exchange"] == "binance"),
        key=lambda r: r["updated_at"],
    )
    assert len(history) >= 3  # one row per committed advance
    ids = [r["last_trade_id"] for r in history]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    state = exchange_state(land_settings, "binance").get("BTC-USDT")
    latest = history[-1]
    assert latest["last_trade_id"] == state.last.trade_id and latest["first_trade_id"] == state.first.trade_id  # type: ignore[union-attr]
    assert latest["state"] == ExchangeState({"BTC-USDT": state}).to_property()
    raw = load_catalog(land_settings).load_table(land_settings.table_id("raw_binance_trades"))
    assert latest["raw_snapshot_id"] == raw.current_snapshot().snapshot_id  # type: ignore[union-attr]


def test_a_killed_run_is_recorded_as_interrupted_with_what_it_landed(
    land_settings: Settings, sim: SimServer, tmp_path: Path
) -> None:
    config = write_config(land_settings, tmp_path / "config.yaml")
    args = ("ingest", "binance", "--products", "BTC-USDT", "--cold-start-minutes", "4",
            "--as-of", str(sim.clock.now_ns() / 1e9))  # fmt: skip
    proc = start_cli(config, *args, "--limit", "100", "--flush-trades", "200", log=tmp_path / "killed.log")
    metadata = Path(land_settings.warehouse) / "schemahub" / "raw_binance_trades" / "metadata"
    deadline = time.monotonic() + 60
    while len(list(metadata.glob("*.metadata.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    landed_by = {}
    for r in raw_table(land_settings, "binance").select(["_run_id"]).to_pylist():
        landed_by[r["_run_id"]] = landed_by.get(r["_run_id"], 0) + 1
    (killed,) = landed_by
    done = run_cli(config, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = [r for r in rows(land_settings, "schemahub_runs") if r["run_id"] == killed]
    stream = next(r for r in runs if r["product"] == "BTC-USDT")
    summary = [r for r in runs if r["product"] == "*" and r["status"] == "interrupted"]
    assert stream["status"] == "interrupted" and stream["trades"] == landed_by[killed] > 0
    assert len(summary) == 1 and "killed" in summary[0]["error"]
    assert_exact(land_settings, sim, "binance", start_ns=window_start(sim, 4))


def test_cli_accepts_the_seeds_spelling_and_prints_json(
    land_settings: Settings, sim: SimServer, tmp_path: Path
) -> None:
    config = write_config(land_settings, tmp_path / "config.yaml")
    out = run_cli(config, "run", "ingest", "kraken", "coinbase", "--products", "BTC-USD", "--json",
                  "--cold-start-minutes", "2", "--as-of", str(sim.clock.now_ns() / 1e9))  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert sorted((s["exchange"], s["product"], s["status"]) for s in report["streams"]) == [
        ("coinbase", "BTC-USD", "ok"),
        ("kraken", "BTC-USD", "ok"),
    ]
    for exchange in ("coinbase", "kraken"):
        assert_exact(land_settings, sim, exchange, start_ns=window_start(sim, 2))


def test_glue_job_script_runs_outside_glue(settings: Settings, seed_path: str) -> None:
    # The job takes "now" from the wall clock, so the simulator runs on it too.
    with running_sim(clock="real") as sim:
        env = {
            **clean_env(),
            **sim.env(),
            "SCHEMAHUB_SEED_PATH": seed_path,
            "SCHEMAHUB_COLD_START_MINUTES": "2",
        }
        started_ns = time.time_ns()
        job = [sys.executable, "jobs/ingest_job.py", "--JOB_NAME", "schemahub-ingest", "--profile",
               "local", "--exchanges", "coinbase", "--products", "BTC-USD", "--warehouse",
               settings.warehouse]  # fmt: skip
        done = subprocess.run(job, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        summary = [json.loads(x) for x in done.stderr.splitlines() if '"ingest.summary"' in x]
        assert summary and summary[0]["streams"] == 1 and summary[0]["failed"] == 0
        landed = sorted(r["trade_id"] for r in load_catalog(
            dataclasses.replace(settings, catalog_name="schemahub")
        ).load_table("schemahub.raw_coinbase_trades").scan().to_arrow().to_pylist())  # fmt: skip
        truth = sim.truth("coinbase", "BTC-USD", from_id=landed[0], to_id=landed[-1])
        assert landed == truth.trade_id.tolist() and len(landed) > 100  # contiguous, nothing twice
        assert truth.time_ns[0] >= started_ns - 2 * NS_PER_MIN - 5 * 10**9  # within the window
        # The backfill job walks on below the cold start, down to --since.
        since = started_ns // 10**9 - 6 * 60
        job = [sys.executable, "jobs/backfill_job.py", "--JOB_NAME", "schemahub-backfill", "--profile",
               "local", "--exchanges", "coinbase", "--products", "BTC-USD", "--since", str(since),
               "--warehouse", settings.warehouse]  # fmt: skip
        done = subprocess.run(job, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        table = load_catalog(dataclasses.replace(settings, catalog_name="schemahub")).load_table(
            "schemahub.raw_coinbase_trades"
        )
        ids = sorted(r["trade_id"] for r in table.scan().to_arrow().to_pylist())
        assert (
            ids
            == sim.truth("coinbase", "BTC-USD", start_ns=since * 10**9, to_id=landed[-1]).trade_id.tolist()
        )
