"""Against the simulator: a stream's head and tail are part of the proof (issue 10 item 2).

Landing's state says which trade is the stream's first (with the evidence that it is the
exchange's first at or after the promised start) and which its newest. Rows deleted from
either end of raw after landing leave raw's lowest trade without that evidence (or raw's
newest below the watermark): the audit must report exactly those ids as a head or tail gap
with their times, in its text, its JSON and schemahub_coverage, and repair must refetch them
so that raw again equals the simulator's ground truth.
"""

from __future__ import annotations

import json

import pytest
from pyiceberg.expressions import GreaterThan, LessThan

from schemahub_lib.catalog import load_catalog
from schemahub_lib.commands.audit import render
from schemahub_lib.landing.commit import Change
from schemahub_lib.landing.context import LandingContext
from schemahub_lib.landing.state import History
from schemahub_lib.ops import formats
from schemahub_lib.ops.audit import AuditOptions, run_audit
from schemahub_lib.ops.repair import RepairOptions, run_repair
from tests.ops.conftest import VENUE, ingest

pytestmark = pytest.mark.spark
# Id-paged newest-first (Coinbase), id-paged upwards (Binance), time-paged (Kraken), and ids
# counted across products (Bitfinex: the gap's id range holds other products' ids too).
HEADS = ("coinbase", "binance", "kraken", "bitfinex")
TAIL = "binance"
CUT = 7  # rows deleted from an end


def _raw(settings, exchange):
    return load_catalog(settings).load_table(settings.table_id(formats.RAW_TABLES[exchange]))


def _ids(settings, exchange):
    id_col = formats.RAW_COLUMNS[exchange][0]
    return sorted(_raw(settings, exchange).scan(selected_fields=(id_col,)).to_arrow().column(0).to_pylist())


def _cut(settings, exchange, *, head: bool):
    """Delete CUT rows from one end of the stream (the seed lands one product per exchange), as a
    PyIceberg delete: landing's state still promises them."""
    id_col = formats.RAW_COLUMNS[exchange][0]
    ids = _ids(settings, exchange)
    cond = LessThan(id_col, ids[CUT]) if head else GreaterThan(id_col, ids[-CUT - 1])
    _raw(settings, exchange).delete(delete_filter=cond)
    return (ids[0], ids[CUT] - 1) if head else (ids[-CUT - 1] + 1, ids[-1])


def _truth_ts(sim, exchange, trade_id):
    truth = sim.truth(exchange, VENUE[exchange][1], from_id=trade_id, to_id=trade_id)
    return int(truth.time_ns[0])


def _ns(dt):
    return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000


def test_audit_reports_a_missing_head_and_tail_and_repair_fills_them(spark, sim_settings, sim, capsys):
    report = ingest(sim_settings, sim)
    assert report.exit_code == 0, [s.error for s in report.streams]
    landed = {e: _ids(sim_settings, e) for e in HEADS}
    cut = {(e, "head"): _cut(sim_settings, e, head=True) for e in HEADS}
    cut[(TAIL, "tail")] = _cut(sim_settings, TAIL, head=False)

    audit = run_audit(sim_settings, spark, AuditOptions(exchanges=HEADS, layers=("raw",)))

    assert audit.exit_code == 1
    for e in HEADS:
        (stream,) = [s for s in audit.streams if s.exchange == e]
        edges = {g.edge: g for g in stream.gaps if g.edge}
        assert stream.start is not None and stream.start["first_id"] == landed[e][0], e
        assert stream.start["proven"], (e, stream.start)
        want = {"head"} | ({"tail"} if e == TAIL else set())
        assert set(edges) == want, (e, stream.gaps)
        for edge in want:
            g = edges[edge]
            assert (g.first_id, g.last_id) == cut[(e, edge)], (e, edge)
            # Landing's count sees the same trades gone (it cannot say which; the edge can).
            assert g.status == "open" and stream.status == "gaps,count_short"
            assert stream.count_short == CUT * len(want), e
            # The times of the trades either side; past the watermark, the watermark's own.
            if edge == "tail":
                assert _ns(g.after_ts) // 1000 == _truth_ts(sim, e, g.first_id - 1) // 1000, e
            else:
                assert _ns(g.after_ts) <= _truth_ts(sim, e, g.first_id), e
            before = _truth_ts(sim, e, g.last_id + 1 if edge == "head" else g.last_id)
            assert _ns(g.before_ts) // 1000 == before // 1000, (e, edge)
        assert stream.missing == sum(b - a + 1 for (x, _), (a, b) in cut.items() if x == e)
    text = render(audit)
    assert f"{cut[('coinbase', 'head')][0]}" in text and "open (head)" in text and "open (tail)" in text
    as_json = json.loads(json.dumps(audit.as_dict(), default=str))
    (cb,) = [s for s in as_json["streams"] if s["exchange"] == "coinbase"]
    gaps = [(g["first_id"], g["last_id"], g["edge"]) for g in cb["gaps"]]
    assert gaps == [(*cut[("coinbase", "head")], "head")]
    assert cb["start"]["proof"]

    # Recorded: the start evidence in the stream row, the edge in the gap row.
    recorded = run_audit(sim_settings, spark, AuditOptions(exchanges=("coinbase",), layers=("raw",)))
    rows = (
        load_catalog(sim_settings)
        .load_table(sim_settings.table_id(formats.COVERAGE_TABLE))
        .scan(row_filter=f"audit_id = '{recorded.audit_id}'")
        .to_arrow()
        .to_pylist()
    )
    (stream_row,) = [r for r in rows if r["kind"] == "stream"]
    assert json.loads(stream_row["detail"])["start"]["first_id"] == landed["coinbase"][0]
    (gap_row, count_row) = [r for r in rows if r["kind"] == "gap"]
    assert (gap_row["first_id"], gap_row["last_id"]) == cut[("coinbase", "head")]
    assert (count_row["first_id"], count_row["expected"]) == (None, CUT)  # the count: ids unknown
    assert json.loads(gap_row["detail"]) == {"edge": "head"}

    repaired = run_repair(sim_settings, spark, RepairOptions(exchanges=HEADS, unify=False))

    assert repaired.audit is not None and repaired.audit.ok, [
        (s.exchange, s.gaps) for s in repaired.audit.streams if s.gaps
    ]
    for e in HEADS:
        assert _ids(sim_settings, e) == landed[e], e  # every trade back, each once
        truth = sim.truth(e, VENUE[e][1], from_id=landed[e][0], to_id=landed[e][-1])
        assert landed[e] == truth.trade_id.tolist(), e
    assert {s.status for s in repaired.audit.streams} == {"complete"}

    # A record without evidence (as walks wrote before proofs were kept) is not `complete`.
    committer = LandingContext(sim_settings, "test", None).committer("coinbase")
    state = committer.load_state().get(VENUE["coinbase"][0])
    assert state.history is not None
    forged = state.replace(history=History(state.history.since_ns, True))
    committer.commit(Change(VENUE["coinbase"][0], state, forged, frozenset({"history"})))
    unproven = run_audit(sim_settings, spark, AuditOptions(exchanges=("coinbase",), layers=("raw",)))
    (stream,) = unproven.streams
    assert stream.status == "unproven_start" and stream.start is not None and not stream.start["proven"]
    assert not stream.gaps and unproven.ok  # nothing is known missing: reported, not alarmed
