"""Against the simulator: the audit finds exactly the hidden trades; repair fills or marks them.

The simulator skips ids it never issues (`id_gap_rate`) and a `drop` fault swallows trades
from the middle of one page per exchange. A walk down (Coinbase, Binance) cannot notice either;
a forward walk (Kraken) confirms an id jump by asking again, and so lands what the fault hid.
Ground truth says which ids are which, so the audit must report exactly the ranges still
missing, no more, no fewer. Coinbase and Binance gaps are refetched by id, Kraken's by time
from the trade before them (the Kraken test removes landed rows to make a gap landing missed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.ops import formats
from schemahub_lib.ops.audit import AuditOptions, run_audit
from schemahub_lib.ops.refetch import ranges_of
from schemahub_lib.ops.repair import RepairOptions, run_repair
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from schemahub_lib.unify import run_unify
from tests.ops.conftest import VENUE, ingest

pytestmark = pytest.mark.spark
# The exchanges whose ids are consecutive per product: an id gap there is a missing trade.
DENSE = [x for x in VENUE if CONNECTORS[x].dense_ids]


@pytest.fixture
def sim() -> Iterator[SimServer]:
    """Overrides conftest's clean simulator: this one skips ids it never issues."""
    with running_sim(id_gap_rate=dict.fromkeys(VENUE, 0.01)) as server:
        yield server


def _ingest(settings, sim):
    report = ingest(settings, sim)
    assert report.exit_code == 0, [s.error for s in report.streams]
    return report


def _landed_ids(settings, exchange):
    table = load_catalog(settings).load_table(settings.table_id(formats.RAW_TABLES[exchange]))
    return table.scan(selected_fields=(formats.RAW_COLUMNS[exchange][0],)).to_arrow().column(0).to_pylist()


def _truth_gaps(sim, settings, exchange, removed=()):
    """The ranges missing between the first and last landed trade: ids never issued, and trades
    a fault hid (or the test `removed`) that are not in raw. Also: whether the fault fired."""
    ids = _landed_ids(settings, exchange)
    lo, hi = min(ids), max(ids)
    truth = sim.truth(exchange, VENUE[exchange][1], from_id=lo, to_id=hi)
    never = [i for i in truth.never_issued if lo <= i <= hi]
    swallowed = [i for i in truth.dropped if lo <= i <= hi]  # hidden by the fault, maybe refetched since
    assert len(swallowed) == 3, exchange  # the fault hid something real
    landed = set(ids)
    hidden = sorted({i for i in swallowed if i not in landed} | set(removed))
    return ranges_of(never + hidden), never, hidden, truth


def _remove_landed(settings, exchange, count=3):
    """Delete `count` consecutive landed trades from the middle of raw (PyIceberg): a gap that
    landing did not see, for repair to fill. Returns their ids."""
    from pyiceberg.expressions import In

    ids = sorted(_landed_ids(settings, exchange))
    middle = len(ids) // 2
    start = next(i for i in range(middle, len(ids) - count) if ids[i + count - 1] == ids[i] + count - 1)
    gone = ids[start : start + count]
    table = load_catalog(settings).load_table(settings.table_id(formats.RAW_TABLES[exchange]))
    table.delete(delete_filter=In(formats.RAW_COLUMNS[exchange][0], gone))
    return gone


def _drop_a_page_everywhere(sim):
    for exchange in VENUE:
        sim.faults.add({"kind": "drop", "exchange": exchange, "drop": 3, "skip": 2, "count": 1})


def test_audit_reports_exactly_the_hidden_ranges(spark, sim_settings, sim):
    _drop_a_page_everywhere(sim)
    _ingest(sim_settings, sim)
    run_unify(sim_settings, spark)

    report = run_audit(sim_settings, spark)

    assert report.exit_code == 1
    for exchange in sorted(set(VENUE) - set(DENSE)):
        # Ids counted across products (Bitfinex): no id gap is evidence, so none is reported.
        assert all(not s.gaps for s in report.streams if s.exchange == exchange), exchange
    for exchange in DENSE:
        want, never, hidden, truth = _truth_gaps(sim, sim_settings, exchange)
        assert len(never) >= 3, exchange  # ids never issued are in the range
        for layer in ("raw", "unified"):
            (stream,) = [s for s in report.streams if s.exchange == exchange and s.layer == layer]
            assert stream.symbol == VENUE[exchange][0]
            assert [(g.first_id, g.last_id) for g in stream.gaps] == want, (exchange, layer)
            assert {g.status for g in stream.gaps} == {"open"}
            assert stream.missing == len(never) + len(hidden)
            assert stream.seen == len(truth) - len(hidden)
            assert stream.duplicates == stream.unreconciled == 0


def test_repair_fills_what_exists_marks_what_never_was_and_audit_is_clean(spark, sim_settings, sim):
    _drop_a_page_everywhere(sim)
    _ingest(sim_settings, sim)
    run_unify(sim_settings, spark)
    expected = {e: _truth_gaps(sim, sim_settings, e) for e in ("coinbase", "binance")}

    report = run_repair(sim_settings, spark, RepairOptions(exchanges=("coinbase", "binance")))

    assert report.audit is not None and report.audit.ok and report.exit_code == 0
    assert report.unify == "ran"
    assert {s.layer for s in report.audit.streams} == {"raw", "unified"}
    for exchange, (_, never, hidden, truth) in expected.items():
        gaps = [g for g in report.gaps if g.exchange == exchange]
        assert sorted(i for g in gaps for a, b in g.filled for i in range(a, b + 1)) == sorted(hidden)
        assert sorted(r for g in gaps for r in g.unfillable) == ranges_of(never)
        assert all(not g.unresolved for g in gaps)
        assert sorted(_landed_ids(sim_settings, exchange)) == truth.trade_id.tolist()  # each trade once
    # The marks persist: a later audit does not alarm, and shows the ranges as unfillable.
    again = run_audit(sim_settings, spark, AuditOptions(exchanges=("coinbase", "binance")))
    assert again.ok
    for exchange, (_, never, _, truth) in expected.items():
        for layer in ("raw", "unified"):
            (stream,) = [s for s in again.streams if s.exchange == exchange and s.layer == layer]
            assert [(g.first_id, g.last_id, g.status) for g in stream.gaps] == [
                (a, b, "unfillable") for a, b in ranges_of(never)
            ]
            assert stream.unfillable_ids == len(never) and stream.expected == stream.seen == len(truth)


@pytest.mark.parametrize("chunk_ids", [100_000, 2], ids=["whole-gaps", "pieces-of-2-ids"])
def test_repair_refetches_kraken_by_time_marks_never_issued_and_audit_is_clean(
    spark, sim_settings, sim, chunk_ids
):
    _drop_a_page_everywhere(sim)
    _ingest(sim_settings, sim)
    removed = _remove_landed(sim_settings, "kraken")
    run_unify(sim_settings, spark)
    want, never, hidden, truth = _truth_gaps(sim, sim_settings, "kraken", removed)
    assert len(hidden) >= 3 and len(never) >= 3  # trades missing from raw and ids Kraken never issued
    before = run_audit(sim_settings, spark, AuditOptions(exchanges=("kraken",), record=False))
    (stream,) = [s for s in before.streams if s.layer == "raw"]
    assert [(g.first_id, g.last_id, g.status) for g in stream.gaps] == [(a, b, "open") for a, b in want]

    options = RepairOptions(exchanges=("kraken",), chunk_ids=chunk_ids)
    report = run_repair(sim_settings, spark, options)

    assert report.audit is not None and report.audit.ok and report.exit_code == 0
    assert [(g.first_id, g.last_id) for g in report.gaps] == want
    assert all(g.after_ns is not None and not g.unresolved and not g.note for g in report.gaps)
    assert sorted(i for g in report.gaps for a, b in g.filled for i in range(a, b + 1)) == sorted(hidden)
    assert sorted(r for g in report.gaps for r in g.unfillable) == ranges_of(never)
    assert sorted(_landed_ids(sim_settings, "kraken")) == truth.trade_id.tolist()  # each trade once
    again = run_audit(sim_settings, spark, AuditOptions(exchanges=("kraken",)))
    assert again.ok
    for layer in ("raw", "unified"):
        (stream,) = [s for s in again.streams if s.layer == layer]
        assert [(g.first_id, g.last_id, g.status) for g in stream.gaps] == [
            (a, b, "unfillable") for a, b in ranges_of(never)
        ]
        assert stream.unfillable_ids == len(never) and stream.expected == stream.seen == len(truth)


def test_a_capped_catch_up_is_reported_as_skipped_and_repair_lands_it(spark, sim_settings, sim):
    from schemahub_lib.landing.watermarks import read_exchange_state

    def state():
        table = load_catalog(sim_settings).load_table(sim_settings.table_id("raw_binance_trades"))
        return read_exchange_state(table).get("BTC-USDT")

    assert ingest(sim_settings, sim, exchanges=("binance",), cold_start_minutes=1).exit_code == 0
    sim.clock.advance(300)
    assert ingest(sim_settings, sim, exchanges=("binance",), max_catch_up_minutes=1).exit_code == 0
    ((a, b),) = state().skipped

    audit = run_audit(sim_settings, spark, AuditOptions(layers=("raw",)))
    (stream,) = audit.streams
    skipped = [(g.first_id, g.last_id) for g in stream.gaps if g.status == "skipped"]
    truth = sim.truth("binance", "BTCUSDT", from_id=a, to_id=b)
    assert skipped == [(a, b)] and len(truth) > 0
    assert not audit.ok and stream.status == "gaps"

    report = run_repair(sim_settings, spark, RepairOptions(exchanges=("binance",), unify=False))

    assert report.audit.ok and state().skipped == ()
    filled = sorted(i for g in report.gaps for x, y in g.filled for i in range(x, y + 1))
    assert filled == truth.trade_id.tolist()
    never = sorted(set(range(a, b + 1)) - set(filled))
    # The skipped range, and ids the venue never issued inside the landed block, are marked.
    marked = [r for g in report.gaps for r in g.unfillable]
    assert [r for r in marked if a <= r[0] <= b] == ranges_of(never)
    assert all(g.status == "open" for g in report.gaps if not a <= g.first_id <= b)
