"""Two runs on one stream at once never land a trade twice: each commit re-reads the stream's
position in the table's current snapshot and keeps only what is still missing, or stops."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from schemahub_lib.http import HttpCounters
from schemahub_lib.landing.backward import walk_up
from schemahub_lib.landing.context import LandingContext
from schemahub_lib.landing.forward import walk_forward
from schemahub_lib.landing.stream import StreamRun, StreamStopped
from schemahub_lib.seed import load_seed
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.landing.conftest import STREAMS, assert_exact, ingest, raw_rows, stream_state, window_start
from tests.landing.procs import start_cli, write_config

ALL = tuple(sorted(STREAMS))


def stream_run(settings: Settings, exchange: str, **flush: int) -> StreamRun:
    """A stream of a fresh run (its own run id), starting from the table's current position."""
    ctx = LandingContext(settings, "ingest")
    product = next(p for p in load_seed(settings.seed_path)[exchange] if p.symbol == STREAMS[exchange][0])
    committer = ctx.committer(exchange)
    return StreamRun(
        product,
        ctx.connector(exchange, HttpCounters()),
        committer,
        committer.load_state().get(product.symbol),
        flush_trades=flush.get("flush_trades", 1_000_000),
        flush_seconds=60,
    )


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_a_slower_run_keeps_only_what_the_faster_one_did_not_land(
    land_settings: Settings, sim: SimServer, exchange: str
) -> None:
    start = window_start(sim, 2)
    ingest(land_settings, sim, exchange, cold_start_minutes=2)
    sim.clock.advance(90)
    slow, fast, stale = (stream_run(land_settings, exchange) for _ in range(3))
    last = slow.state.last
    assert last is not None and slow.state == fast.state == stale.state
    newer = sim.truth(exchange, STREAMS[exchange][1], from_id=last.trade_id + 1).trade_id.tolist()
    # `fast` lands the first half of the new trades; `slow` and `stale` started from the same position.
    walk_forward(
        fast,
        fast.connector.cursor_after(last.trade_id, last.time_ns, slow.state.cursor),
        stop_id=newer[len(newer) // 2],
    )
    walk_forward(slow, slow.connector.cursor_after(last.trade_id, last.time_ns, slow.state.cursor))
    assert slow.stats.merged == 1 and slow.stats.trades == len(newer) - len(newer) // 2
    with pytest.raises(StreamStopped) as stopped:
        walk_forward(
            stale, stale.connector.cursor_after(last.trade_id, last.time_ns, None), stop_id=newer[10]
        )
    assert stopped.value.outcome.status == "superseded" and stale.stats.trades == 0
    assert stream_state(land_settings, exchange).last.trade_id == newer[-1]  # type: ignore[union-attr]
    assert_exact(land_settings, sim, exchange, start_ns=start)


@pytest.mark.parametrize(("flush", "status"), [(300, "conflict"), (1_000_000, "superseded")])
def test_a_second_coinbase_walk_from_the_same_watermark_stops(
    land_settings: Settings, sim: SimServer, flush: int, status: str
) -> None:
    start = window_start(sim, 2)
    ingest(land_settings, sim, "coinbase", cold_start_minutes=2)
    sim.clock.advance(4 * 60)
    first = stream_run(land_settings, "coinbase", flush_trades=300)
    second = stream_run(land_settings, "coinbase", flush_trades=flush)
    watermark = first.state.last.trade_id  # type: ignore[union-attr]
    walk_up(first, floor_id=watermark, floor_ns=None, start=None)
    assert first.stats.commits >= 2  # several snapshots, the walk's progress in between
    rows_before = len(raw_rows(land_settings, "coinbase"))
    # A partial walk cannot be merged (conflict); a whole one finds its trades landed (superseded).
    with pytest.raises(StreamStopped) as stopped:
        walk_up(second, floor_id=watermark, floor_ns=None, start=None)
    assert stopped.value.outcome.status == status and second.stats.trades == 0
    assert len(raw_rows(land_settings, "coinbase")) == rows_before
    assert_exact(land_settings, sim, "coinbase", start_ns=start)


def test_two_ingests_at_once_in_threads(land_settings: Settings, sim: SimServer) -> None:
    start = window_start(sim, 3)
    ingest(land_settings, sim, *ALL, cold_start_minutes=3)
    sim.clock.advance(5 * 60)
    reports = []

    def run() -> None:
        reports.append(
            ingest(land_settings, sim, *ALL, cold_start_minutes=3, limit=100, flush_trades=200, workers=3)
        )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [s.status for r in reports for s in r.streams]
    assert "failed" not in statuses, [s.error for r in reports for s in r.streams]
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange, start_ns=start)


@pytest.mark.slow
def test_two_ingest_processes_at_once(land_settings: Settings, sim: SimServer, tmp_path: Path) -> None:
    start = window_start(sim, 3)
    config = write_config(land_settings, tmp_path / "config.yaml")
    as_of = str(sim.clock.now_ns() / 1e9)
    args = (
        "ingest",
        *ALL,
        "--cold-start-minutes",
        "3",
        "--limit",
        "100",
        "--flush-trades",
        "300",
        "--as-of",
        as_of,
    )
    procs = [start_cli(config, *args, log=tmp_path / f"run{i}.log") for i in range(2)]
    codes = [p.wait(timeout=180) for p in procs]
    logs = "\n".join((tmp_path / f"run{i}.log").read_text() for i in range(2))
    assert codes == [0, 0], logs[-3000:]
    for exchange in ALL:
        assert_exact(land_settings, sim, exchange, start_ns=start)
