"""Venue behaviours that must not matter: ids the exchange never issued, Kraken's `since`
boundary being exclusive instead of inclusive, and short pages (the old 100-trade limit)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.landing.conftest import STREAMS, assert_exact, backfill, ingest, window_start

ALL = tuple(sorted(STREAMS))


@pytest.fixture
def odd_sim() -> Iterator[SimServer]:
    gaps = dict.fromkeys(STREAMS, 0.02)
    with running_sim(id_gap_rate=gaps, kraken_since_inclusive=False) as server:
        yield server


def test_id_gaps_exclusive_since_and_short_pages(
    settings: Settings, odd_sim: SimServer, seed_path: str
) -> None:
    sim = odd_sim
    land = dataclasses.replace(
        settings, exchange_urls=dict(sim.urls), rate_limits=dict.fromkeys(ALL, 0), seed_path=seed_path
    )
    start = window_start(sim, 3)
    assert ingest(land, sim, *ALL, cold_start_minutes=3, limit=100).exit_code == 0
    sim.clock.advance(150)
    assert ingest(land, sim, *ALL, cold_start_minutes=3, limit=100, flush_trades=400).exit_code == 0
    for exchange in ALL:
        truth = sim.truth(exchange, STREAMS[exchange][1], start_ns=start)
        assert truth.never_issued, f"{exchange}: the simulator issued every id; the test needs gaps"
        assert_exact(land, sim, exchange, start_ns=start)
    assert backfill(land, *ALL, limit=100, flush_trades=3_000).exit_code == 0
    for exchange in ALL:
        assert_exact(land, sim, exchange)
