"""Issue 10: an exchange answer that contradicts the cursor is never read as the end of history.

The issue's own examples against the real simulator: a repeated Binance page made a cold
start, a backfill and `backfill --resume` report `ok` with most trades missing; an overlapping
page lost ten trades. Each run here must end with raw exactly the simulator's ground truth,
or with the stream failed and a non-zero exit, never `ok` with trades missing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.settings import Settings
from schemahub_lib.sim.config import LimitConfig, SimConfig
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.landing.conftest import (
    RAW_ID_COLUMN,
    RAW_PRODUCT_COLUMN,
    STREAMS,
    assert_exact,
    backfill,
    ingest,
    raw_rows,
    stream_state,
    window_start,
)

REPEAT = {"kind": "repeat", "exchange": "binance", "product": "BTCUSDT", "skip": 5, "count": 1}
OVERLAP = {"kind": "overlap", "exchange": "binance", "product": "BTCUSDT", "shift": 10, "skip": 5, "count": 1}


@pytest.mark.parametrize("fault", [REPEAT, OVERLAP], ids=["repeat", "overlap"])
def test_cold_start_survives_a_bad_page(
    land_settings: Settings, sim: SimServer, fault: dict[str, Any]
) -> None:
    start = window_start(sim, 10)
    sim.faults.add(fault)
    report = ingest(land_settings, sim, "binance", cold_start_minutes=10, limit=100)
    assert sum(r.fired for r in sim.faults.rules()) == 1
    assert report.exit_code == 0, report.streams[0].error
    assert assert_exact(land_settings, sim, "binance", start_ns=start) > 3_000


@pytest.mark.parametrize("fault", [REPEAT, OVERLAP], ids=["repeat", "overlap"])
def test_backfill_and_resume_survive_a_bad_page(
    land_settings: Settings, sim: SimServer, fault: dict[str, Any]
) -> None:
    since = window_start(sim, 8)
    ingest(land_settings, sim, "binance", cold_start_minutes=2, limit=100)
    sim.faults.add(fault)
    report = backfill(land_settings, "binance", since_ns=since, limit=100)
    assert sum(r.fired for r in sim.faults.rules()) == 1
    assert report.exit_code == 0, report.streams[0].error
    assert assert_exact(land_settings, sim, "binance", start_ns=since) > 3_000
    again = backfill(land_settings, "binance", since_ns=since, limit=100, resume=True)
    assert again.streams[0].status == "skipped" and again.streams[0].trades == 0
    assert assert_exact(land_settings, sim, "binance", start_ns=since) > 3_000


def test_a_persistent_repeat_fails_the_stream_with_a_clear_error(
    land_settings: Settings, sim: SimServer
) -> None:
    sim.faults.add({**REPEAT, "count": None})
    report = ingest(land_settings, sim, "binance", cold_start_minutes=10, limit=100)
    stream = report.streams[0]
    assert report.exit_code == 1 and stream.status == "failed", stream
    error = stream.error or ""
    assert "binance" in error and "/api/v3/historicalTrades" in error and "fromId=" in error, error
    assert "expected" in error, error
    # What did land is still exact (a complete range), and the next clean run finishes the walk.
    sim.faults.clear()
    assert ingest(land_settings, sim, "binance", cold_start_minutes=10, limit=100).exit_code == 0
    assert stream_state(land_settings, "binance").down is None
    assert_exact(land_settings, sim, "binance", start_ns=window_start(sim, 10))


def test_ingest_after_a_watermark_survives_a_repeat(land_settings: Settings, sim: SimServer) -> None:
    start = window_start(sim, 2)
    ingest(land_settings, sim, "binance", "kraken", "coinbase", cold_start_minutes=2, limit=100)
    sim.clock.advance(120)
    for exchange in ("binance", "kraken", "coinbase"):
        sim.faults.add({"kind": "repeat", "exchange": exchange, "skip": 3, "count": 1})
    report = ingest(land_settings, sim, "binance", "kraken", "coinbase", cold_start_minutes=2, limit=100)
    assert report.exit_code == 0, [s.error for s in report.streams]
    for exchange in ("binance", "kraken", "coinbase"):
        assert_exact(land_settings, sim, exchange, start_ns=start)


@pytest.mark.parametrize("exchange", sorted(STREAMS))
def test_bad_records_at_the_edges_are_rejects_with_the_right_reason(
    land_settings: Settings, sim: SimServer, exchange: str
) -> None:
    """An id past BIGINT (was an OverflowError crash), one id twice with different content on
    one page (both were landed), and a Kraken row that lost one field (was "legacy row")."""
    start = window_start(sim, 5)
    for skip, variant in enumerate(("id_overflow", "duplicate_id", "missing_field"), start=3):
        # Past the first pages: a walk from a time cursor confirms its first page (forward.py).
        sim.faults.add(
            {"kind": "invalid", "exchange": exchange, "variant": variant, "skip": skip, "count": 1}
        )
    report = ingest(land_settings, sim, exchange, cold_start_minutes=5, limit=100)
    assert report.exit_code == 0, report.streams[0].error
    rejects = _rejects(land_settings)
    corrupted = sim.truth(exchange, STREAMS[exchange][1], start_ns=start).corrupted
    assert sorted(corrupted.values()) == ["duplicate_id", "id_overflow", "missing_field"]
    reasons = {r["reason"]: r for r in rejects}
    text = " | ".join(reasons)
    assert str(2**63) in text and "above 9223372036854775807" in text, text
    (dupe,) = [i for i, v in corrupted.items() if v == "duplicate_id"]
    assert f"trade id {dupe} appears 2 times on one page with different content" in text, text
    assert sum(r["trade_id"] == str(dupe) for r in rejects) == 2
    (lost_field,) = [i for i, v in corrupted.items() if v == "missing_field"]
    if exchange == "kraken":
        assert "a field is missing" in text and "legacy" not in text, text
        assert any(r["trade_id"] == str(lost_field) for r in rejects)
    else:  # Binance qty, Coinbase size, OKX sz; a Bitfinex row without AMOUNT is 3 elements long
        assert any(f in text for f in ("missing qty", "missing size", "missing sz", "has 3 elements")), text
    assert report.rejects == len(rejects) == 4
    assert_exact(land_settings, sim, exchange, start_ns=start)


def _rejects(settings: Settings) -> list[dict[str, Any]]:
    from schemahub_lib.catalog import load_catalog

    table = load_catalog(settings).load_table(settings.table_id("schemahub_rejects"))
    return table.scan().to_arrow().to_pylist()


@pytest.mark.parametrize("exchange", ["binance", "kraken", "okx", "bitfinex"])
def test_backfill_records_its_start_proof_and_resume_doubts_a_record_without_one(
    land_settings: Settings, sim: SimServer, exchange: str
) -> None:
    """A "backfilled to" record is checked against the lowest landed trade: one holding no
    evidence (as the old walks wrote when a repeated page ended them) is walked again."""
    from schemahub_lib.landing.commit import Change
    from schemahub_lib.landing.context import LandingContext
    from schemahub_lib.landing.state import History

    late, early = window_start(sim, 3), window_start(sim, 8)
    ingest(land_settings, sim, exchange, cold_start_minutes=1, limit=100)
    cold = stream_state(land_settings, exchange).history
    assert cold is not None and cold.proven and cold.since_ns == window_start(sim, 1)  # the cold start's
    assert backfill(land_settings, exchange, since_ns=late, limit=100).exit_code == 0
    state = stream_state(land_settings, exchange)
    assert state.history is not None and state.history.proven and state.history.since_ns == late
    if exchange == "binance":  # the trade just below the lowest landed one is older than --since
        before = state.history.before
        assert before is not None and state.first is not None
        assert before.time_ns < late <= state.first.time_ns and before.trade_id < state.first.trade_id
    # The old bug's record: "backfilled to `early`", no evidence, trades missing below.
    committer = LandingContext(land_settings, "test", None).committer(exchange)
    forged = state.replace(history=History(early, True))
    committer.commit(Change(STREAMS[exchange][0], state, forged, frozenset({"history"})))
    again = backfill(land_settings, exchange, since_ns=early, limit=100, resume=True)
    assert again.exit_code == 0 and again.streams[0].status == "ok" and again.streams[0].trades > 100, again
    assert assert_exact(land_settings, sim, exchange, start_ns=early) > 1_000
    assert stream_state(land_settings, exchange).history.proven  # type: ignore[union-attr]
    done = backfill(land_settings, exchange, since_ns=early, limit=100, resume=True)
    assert done.streams[0].status == "skipped" and "already backfilled" in (done.streams[0].error or "")


def test_a_stale_newest_page_is_not_read_as_nothing_new(land_settings: Settings, sim: SimServer) -> None:
    """Found by the soak: Coinbase catches up newest-first; its first request served the
    previous run's newest page again, which read as "nothing after the watermark"."""
    start = window_start(sim, 2)
    ingest(land_settings, sim, "coinbase", cold_start_minutes=2, limit=100)
    sim.clock.advance(120)
    sim.faults.add({"kind": "repeat", "exchange": "coinbase", "count": 1})
    report = ingest(land_settings, sim, "coinbase", cold_start_minutes=2, limit=100)
    assert sum(r.fired for r in sim.faults.rules()) == 1
    assert report.exit_code == 0 and report.streams[0].trades > 1_000, report.streams[0]
    assert_exact(land_settings, sim, "coinbase", start_ns=start)


@pytest.mark.parametrize("exchange", [e for e in STREAMS if CONNECTORS[e].pages_by_time])
def test_a_live_market_short_first_page_is_not_a_contradiction(
    settings: Settings, seed_path: str, exchange: str
) -> None:
    # On a live market the first page of a walk from a time, when it holds fewer trades than a
    # page can, gains the trades made between the two asks that confirm it. Its start is what
    # is confirmed; a longer second answer with the same first trades is the same answer. Paced
    # at one request every 2 s, as a real exchange is, so trades are made between the asks.
    config = SimConfig(seed=3, clock="real", history_s=600, spike_offset_s=None, limits=LimitConfig("off"))
    with running_sim(config) as live:
        land = dataclasses.replace(
            settings,
            exchange_urls=dict(live.urls),
            rate_limits=dict.fromkeys(STREAMS, 0.5),
            seed_path=seed_path,
        )
        start = window_start(live, 3)
        report = ingest(land, live, exchange, cold_start_minutes=3)
        assert report.exit_code == 0, report.streams[0].error
        assert report.streams[0].trades > 0
        landed = stream_state(land, exchange)
        assert landed.last is not None
        assert assert_exact(land, live, exchange, start_ns=start, to_id=landed.last.trade_id) > 0


@pytest.mark.parametrize("exchange", ["coinbase", "kraken", "bitfinex"])
def test_resume_checks_its_record_against_the_lowest_trade_in_raw(
    land_settings: Settings, sim: SimServer, exchange: str
) -> None:
    """Issue 10 item 2: "backfilled to" is evidence about the lowest landed trade. With the
    stream's lowest rows gone from raw (a PyIceberg delete: the state still promises them), a
    resume must not answer "already backfilled": it fails and names the ids for repair."""
    from pyiceberg.expressions import And, EqualTo, LessThan

    from schemahub_lib.catalog import load_catalog

    late = window_start(sim, 3)
    ingest(land_settings, sim, exchange, cold_start_minutes=1, limit=100)
    assert backfill(land_settings, exchange, since_ns=late, limit=100).exit_code == 0
    state = stream_state(land_settings, exchange)
    ids = sorted(r[RAW_ID_COLUMN[exchange]] for r in raw_rows(land_settings, exchange))
    assert state.first is not None and state.first.trade_id == ids[0]
    table = load_catalog(land_settings).load_table(land_settings.table_id(f"raw_{exchange}_trades"))
    key, id_col = STREAMS[exchange][2], RAW_ID_COLUMN[exchange]
    table.delete(delete_filter=And(EqualTo(RAW_PRODUCT_COLUMN[exchange], key), LessThan(id_col, ids[5])))

    again = backfill(land_settings, exchange, since_ns=late, limit=100, resume=True)

    (stream,) = again.streams
    assert again.exit_code == 1 and stream.status == "failed", stream
    assert f"ids {ids[0]}..{ids[5] - 1} are missing from raw" in (stream.error or ""), stream.error
    assert f"schemahub repair --exchange {exchange}" in (stream.error or "")
