"""The audit, maintain and repair commands: flags, exit codes, JSON output and JSON log lines."""

from __future__ import annotations

import json
import logging

import pytest

from schemahub_lib.cli import build_parser
from tests.ops.conftest import trade_time

pytestmark = pytest.mark.spark

CB = 1_080_000_000


def _run(argv, settings):
    args = build_parser().parse_args(argv)
    return args.handler(args, settings)


def _events(caplog, name):
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "schemahub"]
    return [line for line in lines if line["event"] == name]


def test_audit_exit_codes_json_and_log_lines(spark, settings, lake, capsys, caplog):
    caplog.set_level(logging.INFO, logger="schemahub")
    ids = [i for i in range(CB, CB + 50) if i != CB + 7]
    snapshot = lake.raw("coinbase", "BTC-USD", ids, CB)
    lake.unified("coinbase", "BTC-USD", ids, CB, consumed={"raw_coinbase_trades": snapshot})

    assert _run(["audit", "--json", "--exchange", "coinbase"], settings) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["totals"]["open_gaps"] == 2  # raw and unified
    gaps = [(g["first_id"], g["last_id"], g["status"]) for s in report["streams"] for g in s["gaps"]]
    assert gaps == [(CB + 7, CB + 7, "open")] * 2
    streams = _events(caplog, "audit.stream")
    assert {(e["layer"], e["exchange"], e["missing"]) for e in streams} == {
        ("raw", "coinbase", 1),
        ("unified", "coinbase", 1),
    }
    (summary,) = _events(caplog, "audit.summary")
    assert summary["ok"] is False and summary["missing_trades"] == 2

    since = trade_time(CB + 8, CB).isoformat()
    assert _run(["audit", "--since", since, "--layer", "raw", "--no-record"], settings) == 0
    text = capsys.readouterr().out
    assert "OK: 0 open gaps" in text and "coinbase  BTC-USD" in text


def test_maintain_dry_run_and_repair_dry_run(spark, settings, lake, capsys, caplog):
    caplog.set_level(logging.INFO, logger="schemahub")
    for k in range(3):
        lake.raw("coinbase", "BTC-USD", range(CB + 10 * k, CB + 10 * k + 9), CB)  # each chunk misses one id
    before = lake.table("raw_coinbase_trades").metadata_location

    assert (
        _run(
            ["maintain", "--dry-run", "--json", "--table", "raw_coinbase_trades", "--min-input-files", "2"],
            settings,
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    (table,) = report["tables"]
    assert report["dry_run"] is True and table["steps"]["compact"] == {"would_rewrite_small_files": 3}
    assert lake.table("raw_coinbase_trades").metadata_location == before
    (logged,) = _events(caplog, "maintain.table")
    assert logged["data_files_before"] == logged["data_files_after"] == 3

    assert _run(["repair", "--dry-run", "--json"], settings) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(g["first_id"], g["last_id"]) for g in plan["gaps"]] == [(CB + 9, CB + 9), (CB + 19, CB + 19)]
    assert lake.table("raw_coinbase_trades").metadata_location == before
    (summary,) = _events(caplog, "repair.summary")
    assert summary["gaps"] == 2 and summary["filled_ids"] == 0
