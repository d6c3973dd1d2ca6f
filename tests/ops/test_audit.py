"""The audit finds exactly the hidden ids, as ranges with time bounds, in raw and unified."""

from __future__ import annotations

import json

import pytest

from schemahub_lib.ops import coverage, formats
from schemahub_lib.ops.audit import AuditOptions, run_audit
from tests.ops.conftest import trade_time

pytestmark = pytest.mark.spark

CB, BN = 1_080_000_100, 5_200_000_000


def _ranges(report, layer, exchange, status="open"):
    (stream,) = [s for s in report.streams if s.layer == layer and s.exchange == exchange]
    return stream, [(g.first_id, g.last_id) for g in stream.gaps if g.status == status]


def _both_layers(lake, cb_ids, bn_ids, unified_cb=None, unified_bn=None):
    raw_cb = lake.raw("coinbase", "BTC-USD", cb_ids, CB)
    raw_bn = lake.raw("binance", "BTC-USDT", bn_ids, BN)
    consumed = {"raw_coinbase_trades": raw_cb, "raw_binance_trades": raw_bn}
    lake.unified("coinbase", "BTC-USD", cb_ids if unified_cb is None else unified_cb, CB)
    lake.unified("binance", "BTC-USDT", bn_ids if unified_bn is None else unified_bn, BN, consumed=consumed)


def test_audit_reports_every_gap_as_a_range_in_both_layers(spark, settings, lake):
    hidden_cb = {CB + 20, CB + 21, CB + 22, CB + 50}
    cb_ids = [i for i in range(CB, CB + 100) if i not in hidden_cb]
    bn_ids = [i for i in range(BN, BN + 50) if i != BN + 10]
    _both_layers(lake, cb_ids, bn_ids)

    report = run_audit(settings, spark)

    for layer in ("raw", "unified"):
        stream, gaps = _ranges(report, layer, "coinbase")
        assert gaps == [(CB + 20, CB + 22), (CB + 50, CB + 50)]
        assert (stream.symbol, stream.first_id, stream.last_id) == ("BTC-USD", CB, CB + 99)
        assert (stream.expected, stream.seen, stream.missing) == (100, 96, 4)
        first = stream.gaps[0]
        assert (first.after_ts, first.before_ts) == (trade_time(CB + 19, CB), trade_time(CB + 23, CB))
        stream, gaps = _ranges(report, layer, "binance")
        assert stream.symbol == "BTC-USDT" and gaps == [(BN + 10, BN + 10)]
    assert report.totals() == {
        "streams": 4,
        "open_gaps": 6,
        "missing_trades": 10,
        "unfillable_ids": 0,
        "unified_duplicates": 0,
        "unreconciled": 0,
        "count_short": 0,
        "count_over": 0,
    }
    assert report.exit_code == 1

    rows = lake.table(formats.COVERAGE_TABLE).scan().to_arrow().to_pylist()
    stream_rows = {(r["layer"], r["exchange"]): r for r in rows if r["kind"] == "stream"}
    assert json.loads(stream_rows[("raw", "coinbase")]["gap_ranges"]) == [
        [CB + 20, CB + 22],
        [CB + 50, CB + 50],
    ]
    assert stream_rows[("unified", "binance")]["status"] == "gaps"
    assert stream_rows[("raw", "binance")]["source_symbol"] == "BTCUSDT"
    cb_gap_rows = [r for r in rows if r["kind"] == "gap" and r["exchange"] == "coinbase"]
    assert sorted((r["first_id"], r["last_id"]) for r in cb_gap_rows) == [
        (CB + 20, CB + 22),
        (CB + 20, CB + 22),
        (CB + 50, CB + 50),
        (CB + 50, CB + 50),
    ]
    assert {r["audit_id"] for r in rows} == {report.audit_id}


def test_clean_streams_exit_zero(spark, settings, lake):
    _both_layers(lake, range(CB, CB + 30), range(BN, BN + 30))
    report = run_audit(settings, spark)
    assert report.ok and report.exit_code == 0
    assert {(s.layer, s.exchange, s.status, s.seen) for s in report.streams} == {
        ("raw", "coinbase", "complete", 30),
        ("raw", "binance", "complete", 30),
        ("unified", "coinbase", "complete", 30),
        ("unified", "binance", "complete", 30),
    }


def test_unified_duplicates_and_unreconciled_keys_fail_the_audit(spark, settings, lake):
    ids = list(range(CB, CB + 40))
    # Unify lost CB+5 and CB+39 (its tail, which no gap can show) and wrote CB+7 twice.
    _both_layers(lake, ids, range(BN, BN + 5), unified_cb=[i for i in ids if i not in (CB + 5, CB + 39)])
    lake.unified("coinbase", "BTC-USD", [CB + 7], CB)
    lake.raw("coinbase", "BTC-USD", [CB + 40], CB)  # landed after unify consumed: not missing

    report = run_audit(settings, spark)
    (unified,) = [s for s in report.streams if s.layer == "unified" and s.exchange == "coinbase"]
    assert unified.duplicates == 1 and unified.unreconciled == 2
    assert unified.unreconciled_samples == [CB + 5, CB + 39]
    assert unified.status == "gaps,duplicates,unreconciled"
    assert report.duplicate_samples == [{"exchange": "coinbase", "symbol": "BTC-USD", "id": CB + 7, "n": 2}]
    (raw,) = [s for s in report.streams if s.layer == "raw" and s.exchange == "coinbase"]
    assert raw.status == "complete" and raw.last_id == CB + 40
    assert not report.ok


def test_unfillable_marks_stop_alarming_and_reduce_expected(spark, settings, lake):
    cb_ids = [i for i in range(CB, CB + 60) if i not in (CB + 10, CB + 11, CB + 12, CB + 30)]
    _both_layers(lake, cb_ids, range(BN, BN + 5))
    mark = {
        "audit_id": "repair-x",
        "kind": "unfillable",
        "layer": "exchange",
        "exchange": "coinbase",
        "symbol": "BTC-USD",
        "status": "unfillable",
    }
    coverage.append_rows(lake.catalog, settings, [{**mark, "first_id": CB + 10, "last_id": CB + 11}])

    report = run_audit(settings, spark, AuditOptions(layers=("raw",), exchanges=("coinbase",)))
    stream, open_gaps = _ranges(report, "raw", "coinbase")
    assert open_gaps == [(CB + 12, CB + 12), (CB + 30, CB + 30)]
    assert [(g.first_id, g.last_id) for g in stream.gaps if g.status == "unfillable"] == [(CB + 10, CB + 11)]
    assert (stream.expected, stream.seen, stream.missing, stream.unfillable_ids) == (58, 56, 2, 2)

    coverage.append_rows(
        lake.catalog,
        settings,
        [
            {**mark, "first_id": CB + 12, "last_id": CB + 12},
            {**mark, "first_id": CB + 30, "last_id": CB + 30},
        ],
    )
    assert run_audit(settings, spark).ok


def test_window_limits_the_audit_to_trade_time(spark, settings, lake):
    cb_ids = [i for i in range(CB, CB + 100) if i not in (CB + 10, CB + 70)]
    _both_layers(lake, cb_ids, range(BN, BN + 5))
    options = AuditOptions(
        exchanges=("coinbase",), since=trade_time(CB + 50, CB), until=trade_time(CB + 90, CB), record=False
    )
    report = run_audit(settings, spark, options)
    assert {s.layer for s in report.streams} == {"raw", "unified"}
    for layer in ("raw", "unified"):
        stream, gaps = _ranges(report, layer, "coinbase")
        assert (stream.first_id, stream.last_id, stream.seen) == (CB + 50, CB + 89, 39)
        assert gaps == [(CB + 70, CB + 70)]
    assert lake.table(formats.COVERAGE_TABLE).current_snapshot() is None


def test_an_exchange_whose_ids_are_global_shows_no_id_gaps(spark, settings, lake):
    """Bitfinex numbers trades across all pairs: a pair's ids skip the other pairs' trades, so
    an id gap there is no evidence of a lost trade (the connector's `dense_ids` is false)."""
    bfx = 1_560_452_000
    ids = [bfx, bfx + 3, bfx + 4, bfx + 11, bfx + 40]
    raw = lake.raw("bitfinex", "BTC-USD", ids, bfx)
    lake.unified("bitfinex", "BTC-USD", ids, bfx, consumed={"raw_bitfinex_trades": raw})
    report = run_audit(settings, spark)
    for layer, status in (("raw", "unproven_count"), ("unified", "complete")):
        stream, gaps = _ranges(report, layer, "bitfinex")
        # Raw written without landing's state has no count: the middle is unproven there.
        assert (gaps, stream.gaps, stream.status) == ([], [], status)
        assert (stream.seen, stream.expected, stream.missing) == (5, 5, 0)
    assert report.ok
