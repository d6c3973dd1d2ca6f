"""SIGKILL `schemahub ingest` and `schemahub backfill` at random points, re-run, and compare raw
with the simulator's ground truth: nothing lost, nothing landed twice.

22 kill points: 11 runs of ingest, 9 of backfill and 2 of ingest between backfills, each killed
after a random number of raw commits plus a random delay (each test asserts that at least 10
of its kills hit a live process, most of them after it had committed). Kill points are drawn
from a seeded generator; the seed is printed (pytest -s shows it) and `SCHEMAHUB_KILL_SEED=<n>`
replays a run. Small pages and flushes make every run commit many snapshots, so kills land
before, between and during commits.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.landing.state import ExchangeState
from schemahub_lib.landing.watermarks import WatermarkLog
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.landing.conftest import STREAMS, assert_exact, exchange_state, stream_state, window_start
from tests.landing.procs import run_cli, start_cli, write_config

ALL = tuple(sorted(STREAMS))
FLAGS = ("--limit", "100", "--flush-trades", "150", "--workers", "3")


def kill_seed() -> int:
    seed = int(os.environ.get("SCHEMAHUB_KILL_SEED") or random.SystemRandom().randrange(1 << 30))
    print(f"kill seed: {seed} (replay with SCHEMAHUB_KILL_SEED={seed})")
    return seed


class Killer:
    """Runs the CLI and SIGKILLs it at a random point of its progress: after a random number
    of raw commits (0: during start-up or the first fetches) plus a random delay. Counting
    commits instead of seconds keeps the kill points spread whatever the machine's load."""

    def __init__(self, settings: Settings, config: Path, rng: random.Random, logs: Path) -> None:
        self.settings, self.config, self.rng, self.logs = settings, config, rng, logs
        self.kills = self.mid_run = self.runs = 0

    def commits(self) -> int:
        """Raw-table metadata versions written so far (one per commit attempt)."""
        total = 0
        for exchange in ALL:
            folder = (
                Path(self.settings.warehouse)
                / self.settings.namespace
                / f"raw_{exchange}_trades"
                / "metadata"
            )
            versions = [int(p.name[:5]) for p in folder.glob("*.metadata.json")] if folder.exists() else []
            total += max(versions, default=0)
        return total

    def run(self, *args: str, max_commits: int = 12) -> None:
        self.runs += 1
        target = self.rng.randint(0, max_commits)
        jitter = self.rng.uniform(0.0, 0.25)
        start = self.commits()
        proc = start_cli(self.config, *args, log=self.logs / f"run{self.runs}.log")
        deadline = time.monotonic() + 60
        while proc.poll() is None and self.commits() - start < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(jitter)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            self.kills += 1
            self.mid_run += self.commits() > start
        proc.wait(timeout=30)


def check_bookkeeping(settings: Settings) -> None:
    """After a clean run, the queryable tables agree with the snapshot summaries again."""
    catalog = load_catalog(settings)
    log = WatermarkLog(catalog, settings)
    for exchange in ALL:
        state = exchange_state(settings, exchange)
        latest = log.latest(exchange)
        for product, stream in state.streams.items():
            assert latest[product] == ExchangeState({product: stream}).to_property()
    runs = catalog.load_table(settings.table_id("schemahub_runs")).scan().to_arrow().to_pylist()
    summaries: dict[str, set[str]] = {}
    for row in runs:
        if row["product"] == "*":
            summaries.setdefault(row["run_id"], set()).add(row["status"])
    # Every run that started has ended: ok, failed, or recorded as interrupted by a later run.
    unfinished = {r for r, s in summaries.items() if s == {"running"}}
    assert not unfinished, unfinished
    assert sum("interrupted" in s for s in summaries.values()) >= 5


@pytest.mark.slow
def test_ingest_survives_sigkill_anywhere(land_settings: Settings, sim: SimServer, tmp_path: Path) -> None:
    rng = random.Random(kill_seed())
    config = write_config(land_settings, tmp_path / "config.yaml")
    killer = Killer(land_settings, config, rng, tmp_path)
    windows = []
    for i in range(11):
        if i:
            sim.clock.advance(rng.uniform(60, 240))
        windows.append(window_start(sim, 3))
        killer.run(
            "ingest", *ALL, "--cold-start-minutes", "3", "--as-of", str(sim.clock.now_ns() / 1e9), *FLAGS
        )
    windows.append(window_start(sim, 3))
    done = run_cli(
        config, "ingest", *ALL, "--cold-start-minutes", "3", "--as-of", str(sim.clock.now_ns() / 1e9)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"ingest: {killer.kills} kills of a running process, {killer.mid_run} after it had committed")
    assert killer.kills >= 10 and killer.mid_run >= 5
    for exchange in ALL:
        # The start point is the cold-start window of the first run that committed (a run
        # killed before its first commit left nothing); from there on, every trade once.
        first = stream_state(land_settings, exchange).first
        assert first is not None
        starts = [
            w
            for w in windows
            if int(sim.truth(exchange, STREAMS[exchange][1], start_ns=w).trade_id[0]) == first.trade_id
        ]
        assert starts, f"{exchange}: the first landed trade {first} starts no run's cold-start window"
        assert_exact(land_settings, sim, exchange, start_ns=starts[0])
    check_bookkeeping(land_settings)


@pytest.mark.slow
def test_backfill_survives_sigkill_anywhere(land_settings: Settings, sim: SimServer, tmp_path: Path) -> None:
    rng = random.Random(kill_seed())
    config = write_config(land_settings, tmp_path / "config.yaml")
    cold = run_cli(
        config, "ingest", *ALL, "--cold-start-minutes", "2", "--as-of", str(sim.clock.now_ns() / 1e9)
    )
    assert cold.returncode == 0, cold.stderr[-3000:]
    killer = Killer(land_settings, config, rng, tmp_path)
    for i in range(9):
        killer.run("backfill", *ALL, "--resume", "--no-progress", *FLAGS, max_commits=20)
        if i % 4 == 3:  # ingest keeps running between backfills, as on a schedule
            sim.clock.advance(rng.uniform(10, 60))
            killer.run("ingest", *ALL, "--as-of", str(sim.clock.now_ns() / 1e9), *FLAGS)
    finished = run_cli(config, "backfill", *ALL, "--resume", "--no-progress", timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    caught_up = run_cli(config, "ingest", *ALL, "--as-of", str(sim.clock.now_ns() / 1e9))
    assert caught_up.returncode == 0, caught_up.stderr[-3000:]
    print(f"backfill: {killer.kills} kills of a running process, {killer.mid_run} after it had committed")
    assert killer.kills >= 10 and killer.mid_run >= 5
    for exchange in ALL:
        assert assert_exact(land_settings, sim, exchange) > 3_000  # the whole history
    check_bookkeeping(land_settings)
