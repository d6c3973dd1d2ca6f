"""Maintenance compacts many small files, keeps results, and never breaks incremental reads."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

import pytest

from schemahub_lib.ops import formats
from schemahub_lib.ops.maintenance import MaintainOptions, run_maintenance
from schemahub_lib.unify import run_unify

pytestmark = pytest.mark.spark

CB = 1_080_000_000
RAW = formats.RAW_TABLES["coinbase"]
AGGRESSIVE = dict(retain_days=0, retain_last=1, min_input_files=2, min_manifests=2)


def _watermark(last_id: int) -> dict[str, str]:
    return {formats.WATERMARK_KEY: json.dumps({"v": 1, "streams": {"BTC-USD": {"last": [last_id, 0]}}})}


def _land_chunks(lake, chunks):
    """One raw commit per chunk, each carrying the watermark, like landing's flushes."""
    return [lake.raw("coinbase", "BTC-USD", ids, CB, properties=_watermark(ids[-1])) for ids in chunks]


def _ids(spark, settings, table, column, **read_options):
    spark.sql(f"REFRESH TABLE {settings.spark_table(table)}")  # PyIceberg wrote behind Spark's cache
    reader = spark.read.format("iceberg")
    for k, v in read_options.items():
        reader = reader.option(k, str(v))
    return sorted(r[0] for r in reader.load(settings.spark_table(table)).select(column).collect())


def _data_files_on_disk(settings, table):
    return sorted(
        p for p in (settings.warehouse_path / settings.namespace / table / "data").rglob("*.parquet")
    )


def test_compaction_keeps_results_and_the_incremental_read(spark, settings, lake):
    chunks = [list(range(CB + 10 * k, CB + 10 * k + 10)) for k in range(12)]
    snaps = _land_chunks(lake, chunks)
    consumed = snaps[7]  # unify consumed the first 8 commits
    for k in range(8):
        last = k == 7
        lake.unified("coinbase", "BTC-USD", chunks[k], CB, consumed={RAW: consumed} if last else None)
    before_raw = _ids(spark, settings, RAW, "trade_id")
    before_unified = _ids(spark, settings, "trades_unified", "trade_id")
    pending = _ids(spark, settings, RAW, "trade_id", **{"start-snapshot-id": consumed})
    assert pending == [i for ids in chunks[8:] for i in ids]

    report = run_maintenance(settings, spark, MaintainOptions(tables=(RAW, "trades_unified"), **AGGRESSIVE))

    by_table = {t.table: t for t in report.tables}
    raw, unified = by_table[RAW], by_table["trades_unified"]
    assert (raw.before.data_files, raw.after.data_files) == (12, 1)
    assert (unified.before.data_files, unified.after.data_files) == (8, 1)
    assert raw.steps["compact"]["rewritten_data_files_count"] == 12
    assert _ids(spark, settings, RAW, "trade_id") == before_raw
    assert _ids(spark, settings, "trades_unified", "trade_id") == before_unified
    # The consumed snapshot and everything after it survive expiry, so the incremental read
    # from it still works and still yields only the trades landed after it.
    assert {p.snapshot_id for p in raw.protected} == {consumed, snaps[-1]}
    table = lake.table(RAW)
    assert table.snapshot_by_id(consumed) is not None
    assert all(table.snapshot_by_id(s) is None for s in snaps[:7])
    assert _ids(spark, settings, RAW, "trade_id", **{"start-snapshot-id": consumed}) == pending
    more = list(range(CB + 120, CB + 125))
    _land_chunks(lake, [more])
    assert _ids(spark, settings, RAW, "trade_id", **{"start-snapshot-id": consumed}) == pending + more

    # Once unify consumed the newest raw snapshot, the pre-compaction snapshots and their small
    # files can go: the files on disk shrink to what the current snapshot needs.
    current = lake.table(RAW).current_snapshot().snapshot_id
    lake.unified("coinbase", "BTC-USD", [], CB, consumed={RAW: current})
    on_disk_before = len(_data_files_on_disk(settings, RAW))
    run_maintenance(settings, spark, MaintainOptions(tables=(RAW,), **AGGRESSIVE))
    on_disk_after = len(_data_files_on_disk(settings, RAW))
    assert on_disk_before == 14 and on_disk_after == 3  # compacted 12 + 'more', then compacted again
    assert _ids(spark, settings, RAW, "trade_id") == before_raw + more


def test_dry_run_changes_nothing_and_a_second_run_is_a_no_op(spark, settings, lake):
    _land_chunks(lake, [list(range(CB + 10 * k, CB + 10 * k + 10)) for k in range(6)])
    data_dir = settings.warehouse_path / settings.namespace / RAW / "data"
    old_orphan, new_orphan = data_dir / "old-orphan.parquet", data_dir / "new-orphan.parquet"
    for path in (old_orphan, new_orphan):
        path.write_bytes(b"not referenced by any snapshot")
    four_days_ago = time.time() - 4 * 86400
    os.utime(old_orphan, (four_days_ago, four_days_ago))

    def metadata():
        return {t: lake.table(t).metadata_location for t in (RAW, "trades_unified", "schemahub_watermarks")}

    before = metadata()
    dry = run_maintenance(settings, spark, MaintainOptions(dry_run=True, **AGGRESSIVE))
    assert metadata() == before and old_orphan.exists()
    raw = {t.table: t for t in dry.tables}[RAW]
    assert raw.steps["compact"] == {"would_rewrite_small_files": 6}
    assert [p.rsplit("/", 1)[-1] for p in raw.orphan_files] == ["old-orphan.parquet"]
    assert raw.expirable_snapshots == 0  # unify never consumed raw: everything is kept
    assert raw.protected[-1].reason == "not consumed by unify yet; keep all"

    run_maintenance(settings, spark, MaintainOptions(**AGGRESSIVE))
    assert not old_orphan.exists() and new_orphan.exists()
    assert lake.table(RAW).inspect.data_files().num_rows == 1
    after = metadata()
    run_maintenance(settings, spark, MaintainOptions(**AGGRESSIVE))
    assert metadata() == after


def test_unsafe_options_are_refused(settings):
    from schemahub_lib.errors import ConfigError

    with pytest.raises(ConfigError, match="below Iceberg's 1-day floor"):
        run_maintenance(settings, None, MaintainOptions(orphan_days=0.5))
    with pytest.raises(ConfigError, match="unknown steps"):
        run_maintenance(settings, None, MaintainOptions(steps=("vacuum",)))


def test_maintenance_between_runs_leaves_landing_and_the_next_unify_exact(spark, sim_settings, sim):
    """Real landing and unify around a maintenance run with the most aggressive retention."""
    from schemahub_lib.ops.audit import run_audit
    from tests.ops.conftest import VENUE, ingest

    for _ in range(2):  # small flushes: many small raw files, one unify file per run
        assert ingest(sim_settings, sim, flush_trades=150, cold_start_minutes=2).exit_code == 0
        assert run_unify(sim_settings, spark).rows_inserted > 0
        sim.clock.advance(20)
    raw_tables = [formats.RAW_TABLES[e] for e in VENUE]
    before = {
        t: _ids(spark, sim_settings, t, formats.RAW_COLUMNS[e][0]) for e, t in formats.RAW_TABLES.items()
    }
    unified_before = _ids(spark, sim_settings, "trades_unified", "trade_id")

    options = MaintainOptions(tables=(*raw_tables, "trades_unified"), **AGGRESSIVE)
    report = run_maintenance(sim_settings, spark, options)

    by_table = {t.table: t for t in report.tables}
    for name in [*raw_tables, "trades_unified"]:
        assert by_table[name].before.data_files > by_table[name].after.data_files >= 1, name
        assert by_table[name].after.small_files < by_table[name].before.small_files, name
    for exchange, table in formats.RAW_TABLES.items():
        assert _ids(spark, sim_settings, table, formats.RAW_COLUMNS[exchange][0]) == before[table]
    assert _ids(spark, sim_settings, "trades_unified", "trade_id") == unified_before

    # Landing resumes from its watermark (a lost watermark would cold-start and re-land or
    # skip trades), and unify reads only what landing added since.
    landed = ingest(sim_settings, sim)
    assert landed.exit_code == 0 and landed.trades > 0
    after = run_unify(sim_settings, spark)
    assert {s.mode for s in after.sources} == {"incremental"}
    assert after.rows_read == after.rows_inserted == landed.trades
    audit = run_audit(sim_settings, spark)
    assert audit.ok, audit.totals()
    for s in audit.streams:  # raw and unified: every trade of the span exactly once
        truth = sim.truth(s.exchange, VENUE[s.exchange][1], from_id=s.first_id, to_id=s.last_id)
        assert (s.seen, s.duplicates) == (len(truth), 0), (s.layer, s.exchange)


def test_branches_of_dead_unify_runs_are_dropped(spark, settings, lake):
    from schemahub_lib.unify.commit import BRANCH_PREFIX, STALE_BRANCH_MS, create_branch

    _land_chunks(lake, [list(range(CB, CB + 10))])
    run_unify(settings, spark=spark)
    unified = settings.spark_table("trades_unified")
    head = lake.table("trades_unified").current_snapshot().snapshot_id
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    dead = f"{BRANCH_PREFIX}{now_ms - STALE_BRANCH_MS - 60_000}_deadbeef"
    recent = f"{BRANCH_PREFIX}{now_ms - 60_000}_cafecafe"  # may belong to a run still going
    for branch in (dead, recent):
        create_branch(spark, unified, branch, head)

    dry = run_maintenance(settings, spark, MaintainOptions(dry_run=True, tables=("trades_unified",), now=now))
    assert dry.tables[0].steps["expire"]["dead_run_branches"] == [dead]
    assert {dead, recent} <= set(lake.table("trades_unified").metadata.refs)

    done = run_maintenance(settings, spark, MaintainOptions(tables=("trades_unified",), now=now))
    assert done.tables[0].steps["expire"]["dead_run_branches"] == [dead]
    refs = set(lake.table("trades_unified").metadata.refs)
    assert dead not in refs and recent in refs
