"""Simulator faults during runs: transient ones are retried and the data is still exact;
persistent ones stop that stream with a clear error and leave its watermark where it was."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.landing.conftest import STREAMS, assert_exact, ingest, stream_state, window_start

ALL = tuple(sorted(STREAMS))

TRANSIENT: dict[str, dict[str, Any]] = {
    "rate_limit": {"kind": "rate_limit", "retry_after": 0.2, "count": 2},
    "server_error": {"kind": "server_error", "status": 503, "count": 2},
    "html": {"kind": "html", "count": 2},
    "truncated": {"kind": "truncated", "count": 2},
    "short_read": {"kind": "truncated", "mode": "short_read", "count": 2},
    "disconnect": {"kind": "disconnect", "count": 2},
    "timeout": {"kind": "timeout", "delay_s": 3.0, "count": 1},
    "repeat": {"kind": "repeat", "skip": 1, "count": 2},
    "overlap": {"kind": "overlap", "shift": 25, "skip": 1, "count": 3},
}


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
def test_transient_faults_are_retried_and_data_is_exact(
    land_settings: Settings, sim: SimServer, fault: str
) -> None:
    start = window_start(sim, 3)
    ingest(land_settings, sim, *ALL, cold_start_minutes=3, limit=100)
    sim.clock.advance(60)
    for exchange in ALL:
        sim.faults.add({**TRANSIENT[fault], "exchange": exchange})
    report = ingest(land_settings, sim, *ALL, cold_start_minutes=3, limit=100, http_timeout_s=1.0)
    assert report.exit_code == 0, [s.error for s in report.streams]
    fired = sum(r.fired for r in sim.faults.rules())
    assert fired >= 3
    if fault not in ("repeat", "overlap"):
        assert sum(s.retries for s in report.streams) >= 3
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange, start_ns=start)


def test_persistent_malformed_page_stops_only_that_stream(land_settings: Settings, sim: SimServer) -> None:
    ingest(land_settings, sim, *ALL, cold_start_minutes=2)
    before = stream_state(land_settings, "coinbase")
    sim.clock.advance(30)
    sim.faults.add({"kind": "html", "exchange": "coinbase", "status": 200, "count": None})
    report = ingest(land_settings, sim, *ALL, cold_start_minutes=2)
    assert report.exit_code == 1
    by_exchange = {s.exchange: s for s in report.streams}
    failed = by_exchange["coinbase"]
    assert failed.status == "failed" and failed.trades == 0 and failed.retries == 4
    assert "coinbase" in failed.error and "/products/BTC-USD/trades" in failed.error  # type: ignore[operator]
    assert "HTML page where JSON was expected" in failed.error and "502 Bad Gateway" in failed.error  # type: ignore[operator]
    assert stream_state(land_settings, "coinbase") == before  # the watermark did not move
    assert by_exchange["binance"].status == by_exchange["kraken"].status == "ok"
    assert by_exchange["binance"].trades > 0 and by_exchange["kraken"].trades > 0
    sim.faults.clear()
    assert ingest(land_settings, sim, *ALL, cold_start_minutes=2).exit_code == 0
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange, start_ns=window_start(sim, 2.5))


def test_cli_exit_code_and_message_name_the_failed_stream(
    land_settings: Settings, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from schemahub_lib.commands import ingest as command

    sim.faults.add({"kind": "server_error", "exchange": "kraken", "count": None})
    parser_args = _parse(["ingest", "kraken", "binance", "--cold-start-minutes", "1",
                          "--as-of", str(sim.clock.now_ns() / 1e9)])  # fmt: skip
    code = command.run(parser_args, land_settings)
    assert code == 1
    err = capsys.readouterr().err
    # Both seeded Kraken products failed; Binance's did not.
    assert "2 stream(s) failed" in err and "kraken BTC-USD" in err and "kraken ETH-USD" in err
    assert (
        "/0/public/Trades" in err and "EService:Unavailable" in err and "binance" not in err.split(":", 1)[1]
    )
    out = capsys.readouterr().out
    assert out == "" or "binance" in out


def test_coinbase_walk_resumes_after_a_failed_page(land_settings: Settings, sim: SimServer) -> None:
    start = window_start(sim, 2)
    ingest(land_settings, sim, "coinbase", cold_start_minutes=2)
    sim.clock.advance(6 * 60)
    # The catch-up walks newest-first in flushes of 500; the 4th page fails for good.
    sim.faults.add({"kind": "server_error", "status": 400, "exchange": "coinbase", "skip": 3, "count": None})
    report = ingest(land_settings, sim, "coinbase", cold_start_minutes=2, limit=200, flush_trades=500)
    assert report.streams[0].status == "failed" and report.streams[0].commits >= 1
    walk = stream_state(land_settings, "coinbase").up
    assert walk is not None and walk.low.trade_id < walk.top.trade_id  # landed the top of the walk
    sim.faults.clear()
    sim.clock.advance(20)
    assert ingest(land_settings, sim, "coinbase", cold_start_minutes=2, limit=200).exit_code == 0
    state = stream_state(land_settings, "coinbase")
    assert state.up is None and not state.skipped
    assert assert_exact(land_settings, sim, "coinbase", start_ns=start) > 3_000


def test_binance_long_ban_is_recorded_and_honoured(land_settings: Settings, sim: SimServer) -> None:
    start = window_start(sim, 2)
    ingest(land_settings, sim, "binance", cold_start_minutes=2)
    sim.clock.advance(30)
    # Longer than settings.max_ban_wait_s (180 s by default): recorded, and the stream stops.
    sim.faults.add({"kind": "ban", "exchange": "binance", "retry_after": 600, "count": 1})
    report = ingest(land_settings, sim, "binance", "kraken", cold_start_minutes=2)
    binance = report.streams[0]
    assert binance.status == "failed" and "banned until" in (binance.error or "")
    assert report.streams[1].status == "ok"  # only that exchange's streams stop
    path = Path(land_settings.warehouse) / "_state" / "bans.json"
    bans = json.loads(path.read_text())
    (key,) = bans
    assert key.startswith("binance ") and bans[key]["until_epoch_s"] > time.time() + 500
    requests_before = sim.stats.snapshot()
    again = ingest(land_settings, sim, "binance", cold_start_minutes=2)
    assert again.streams[0].status == "failed" and again.streams[0].requests == 0  # refused locally
    assert "not calling the exchange before then" in (again.streams[0].error or "")
    assert sim.stats.snapshot() == requests_before  # the exchange was not called during the ban
    bans[key]["until_epoch_s"] = time.time() - 1  # the ban ends
    path.write_text(json.dumps(bans))
    assert ingest(land_settings, sim, "binance", cold_start_minutes=2).exit_code == 0
    assert_exact(land_settings, sim, "binance", start_ns=start)


@pytest.mark.parametrize("kind", ["ban", "rate_limit"])
def test_short_bans_are_waited_out_within_the_run(land_settings: Settings, sim: SimServer, kind: str) -> None:
    start = window_start(sim, 2)
    ingest(land_settings, sim, "binance", cold_start_minutes=2)
    sim.clock.advance(30)
    sim.faults.add({"kind": kind, "exchange": "binance", "retry_after": 1, "count": 1})
    began = time.monotonic()
    report = ingest(land_settings, sim, "binance", cold_start_minutes=2)
    assert report.exit_code == 0, report.streams[0].error
    assert report.streams[0].retries == 1 and time.monotonic() - began >= 0.9  # it did wait
    assert sum(r.fired for r in sim.faults.rules()) == 1
    assert_exact(land_settings, sim, "binance", start_ns=start)


def test_a_long_429_is_recorded_as_a_ban(land_settings: Settings, sim: SimServer) -> None:
    ingest(land_settings, sim, "binance", cold_start_minutes=2)
    sim.clock.advance(30)
    sim.faults.add({"kind": "rate_limit", "exchange": "binance", "retry_after": 900, "count": 1})
    report = ingest(land_settings, sim, "binance", cold_start_minutes=2)
    assert report.exit_code == 1 and "Retry-After 900s" in (report.streams[0].error or "")
    bans = json.loads((Path(land_settings.warehouse) / "_state" / "bans.json").read_text())
    (ban,) = bans.values()
    assert ban["until_epoch_s"] > time.time() + 800 and "429" in ban["reason"]


def test_rejects_land_with_reasons_and_are_not_doubled(land_settings: Settings, sim: SimServer) -> None:
    start = window_start(sim, 5)
    variants = ("price_text", "price_zero", "missing_id", "time_unit")
    for exchange in ALL:
        for skip, variant in enumerate(variants, start=3):
            # Past the first pages: a walk from a time cursor confirms its first page by asking
            # twice, and a record corrupted in only one of the answers would land from the other.
            sim.faults.add(
                {"kind": "invalid", "exchange": exchange, "variant": variant, "skip": skip, "count": 1}
            )
    report = ingest(land_settings, sim, *ALL, cold_start_minutes=5, limit=100)
    assert report.exit_code == 0
    rejects = _rejects(land_settings)
    corrupted = {x: sim.truth(x, STREAMS[x][1], start_ns=start).corrupted for x in ALL}
    assert all(len(c) == len(variants) for c in corrupted.values())
    assert report.rejects == len(rejects) == len(ALL) * len(variants)
    for row in rejects:
        assert row["exchange"] in ALL and row["product"] == STREAMS[row["exchange"]][0]
        assert row["reason"] and row["raw_payload"] and row["run_id"] == report.run_id and row["url"]
        if row["trade_id"] is not None:
            assert int(row["trade_id"]) in corrupted[row["exchange"]]
    for exchange in ALL:
        text = " | ".join(r["reason"] for r in rejects if r["exchange"] == exchange)
        assert "not a decimal number" in text and "not a positive number" in text, text
        assert "time" in text or "ts" in text or "MTS" in text, text
        assert "looks like" in text or "not an RFC 3339" in text, text
        missing = ("missing id", "no trade_id", "missing trade_id", "missing tradeId", "has 3 elements")
        assert any(m in text for m in missing), text
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange, start_ns=start)  # corrupted ids are rejects, not raw
    # A re-run that fetches the same pages again (as after a crash) does not double them.
    sim.faults.clear()
    ingest(land_settings, sim, *ALL, cold_start_minutes=5, limit=100, skip_checkpoint=True)
    assert len(_rejects(land_settings)) == len(rejects)


def _rejects(settings: Settings) -> list[dict[str, Any]]:
    table = load_catalog(settings).load_table(settings.table_id("schemahub_rejects"))
    return table.scan().to_arrow().to_pylist()


def _parse(argv: list[str]) -> Any:
    from schemahub_lib.cli import build_parser

    return build_parser().parse_args(argv)
