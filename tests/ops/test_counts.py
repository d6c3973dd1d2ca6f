"""The count proof: landing counts the trades it commits per stream; audit compares raw's rows.

Bitfinex numbers trades across all its pairs, so a pair's ids skip and no id gap is evidence:
three trades deleted from the middle of raw leave no gap, and before counts the audit said
`complete` and repair exited 0 with the trades still missing. The count is the only proof of
the middle there; on an exchange with consecutive ids (Binance) it agrees with the id gaps,
and after repair refills them it matches again.
"""

from __future__ import annotations

import json

import pytest
from pyiceberg.expressions import In

from schemahub_lib.catalog import load_catalog
from schemahub_lib.commands.audit import render
from schemahub_lib.landing.watermarks import read_exchange_state
from schemahub_lib.ops import formats
from schemahub_lib.ops.audit import AuditOptions, run_audit
from schemahub_lib.ops.repair import RepairOptions, run_repair
from tests.ops.conftest import T0, VENUE, ingest

pytestmark = pytest.mark.spark


def _raw(settings, exchange):
    return load_catalog(settings).load_table(settings.table_id(formats.RAW_TABLES[exchange]))


def _ids(settings, exchange):
    column = formats.RAW_COLUMNS[exchange][0]
    return sorted(_raw(settings, exchange).scan(selected_fields=(column,)).to_arrow().column(0).to_pylist())


def _landed_count(settings, exchange):
    return read_exchange_state(_raw(settings, exchange)).get(VENUE[exchange][0]).landed


def _delete_middle(settings, exchange, count=3):
    """Delete `count` neighbouring landed trades from the middle of raw (PyIceberg)."""
    ids = _ids(settings, exchange)
    gone = ids[len(ids) // 2 : len(ids) // 2 + count]
    _raw(settings, exchange).delete(delete_filter=In(formats.RAW_COLUMNS[exchange][0], gone))
    return gone


def _audit(settings, spark, exchange, **window):
    report = run_audit(settings, spark, AuditOptions(exchanges=(exchange,), layers=("raw",), **window))
    (stream,) = report.streams
    return report, stream


def _coverage(settings, audit_id):
    table = load_catalog(settings).load_table(settings.table_id(formats.COVERAGE_TABLE))
    return [r for r in table.scan().to_arrow().to_pylist() if r["audit_id"] == audit_id]


def test_bitfinex_trades_deleted_from_the_middle_fail_audit_and_repair(spark, sim_settings, sim):
    assert ingest(sim_settings, sim, exchanges=("bitfinex",)).exit_code == 0
    landed = len(_ids(sim_settings, "bitfinex"))
    assert landed >= 20 and _landed_count(sim_settings, "bitfinex") == landed
    clean, stream = _audit(sim_settings, spark, "bitfinex")
    assert clean.ok and stream.status == "complete" and (stream.landed, stream.rows) == (landed, landed)

    gone = _delete_middle(sim_settings, "bitfinex")

    report, stream = _audit(sim_settings, spark, "bitfinex")
    assert report.exit_code == 1 and not report.ok
    assert stream.gaps == []  # no id gap: ids are global on bitfinex
    assert (stream.count_short, stream.count_over, stream.missing) == (3, 0, 3)
    assert "count_short" in stream.status and stream.status != "complete"
    assert report.totals()["missing_trades"] == 3
    assert report.as_dict()["streams"][0]["count_short"] == 3
    text = render(report)
    assert (
        f"raw holds {landed - 3:,} of the {landed:,} trades landing committed: 3 missing, ids unknown" in text
    )
    rows = _coverage(sim_settings, report.audit_id)
    (count_row,) = [r for r in rows if r["kind"] == "gap"]
    assert (count_row["first_id"], count_row["status"], count_row["expected"]) == (None, "open", 3)
    assert json.loads(count_row["detail"])["ids"] == "unknown"
    (stream_row,) = [r for r in rows if r["kind"] == "stream"]
    assert "count_short" in stream_row["status"]

    # A window cannot prove the count: it says so and never calls the stream complete.
    windowed, stream = _audit(sim_settings, spark, "bitfinex", since=T0.replace(year=2000))
    assert stream.rows is None and "not compared" in (stream.count_note or "")
    assert stream.status == "unproven_count" and windowed.exit_code == 0

    repaired = run_repair(sim_settings, spark, RepairOptions(exchanges=("bitfinex",), unify=False))

    assert repaired.exit_code != 0
    (note,) = repaired.notes
    assert "raw holds" in note and "not consecutive on bitfinex" in note
    assert not set(gone) & set(_ids(sim_settings, "bitfinex"))  # nothing found, nothing claimed
    assert _landed_count(sim_settings, "bitfinex") == landed  # the count still says what is owed


def test_binance_deletion_is_reported_by_ids_and_count_alike_and_repair_restores_both(
    spark, sim_settings, sim
):
    assert ingest(sim_settings, sim, exchanges=("binance",)).exit_code == 0
    ids = _ids(sim_settings, "binance")
    assert _landed_count(sim_settings, "binance") == len(ids)
    gone = _delete_middle(sim_settings, "binance")

    report, stream = _audit(sim_settings, spark, "binance")
    assert report.exit_code == 1
    assert [(g.first_id, g.last_id, g.status) for g in stream.gaps] == [(gone[0], gone[-1], "open")]
    assert (stream.count_short, stream.missing) == (3, 3)
    assert "the id gaps above show which" in render(report)

    repaired = run_repair(sim_settings, spark, RepairOptions(exchanges=("binance",), unify=False))

    assert repaired.exit_code == 0 and not repaired.notes
    assert _ids(sim_settings, "binance") == ids
    assert _landed_count(sim_settings, "binance") == len(ids)  # restored, not counted twice
    (stream,) = repaired.audit.streams if repaired.audit else ()
    assert stream.status == "complete" and stream.rows == stream.landed == len(ids)


def test_rows_beyond_the_count_are_a_finding(spark, sim_settings, sim, lake):
    assert ingest(sim_settings, sim, exchanges=("binance",)).exit_code == 0
    ids = _ids(sim_settings, "binance")
    lake.raw("binance", "BTC-USDT", ids[:2], ids[0])  # two rows landing never wrote

    report, stream = _audit(sim_settings, spark, "binance")

    assert report.exit_code == 1 and (stream.count_short, stream.count_over) == (0, 2)
    assert "count_over" in stream.status
    assert "2 more than the" in render(report)


def test_a_state_from_before_counts_is_unproven_not_failed_and_stays_uncounted(spark, sim_settings, sim):
    from schemahub_lib.landing.watermarks import STATE_PROPERTY
    from schemahub_lib.landing.writer import commit_files

    assert ingest(sim_settings, sim, exchanges=("bitfinex",)).exit_code == 0
    table = _raw(sim_settings, "bitfinex")
    body = json.loads(read_exchange_state(table).to_property())
    for stream in body["streams"].values():
        del stream["landed"]  # as landing wrote it before counts were kept
    commit_files(table, [], {STATE_PROPERTY: json.dumps(body)})
    assert _landed_count(sim_settings, "bitfinex") is None

    report, stream = _audit(sim_settings, spark, "bitfinex")
    assert report.exit_code == 0 and stream.status == "unproven_count"
    assert "before counts were kept" in (stream.count_note or "")
    assert "unproven count" in render(report)

    # Landing goes on without making a count up: what raw held before is not known to it.
    sim.clock.advance(60)
    assert ingest(sim_settings, sim, exchanges=("bitfinex",)).exit_code == 0
    assert _landed_count(sim_settings, "bitfinex") is None
