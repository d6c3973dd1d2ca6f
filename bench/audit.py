"""Audit throughput: trade-id continuity over raw and trades_unified at a few million trades.

No SPEC budget; the figure shows the set-based audit (Spark LAG over distinct ids, anti-join
reconciliation) scales with rows, not with gaps. Writes one raw table and trades_unified with
the same ids (one in every 1,000 ids missing) and runs a full audit.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.result import Result
from schemahub_lib.catalog import load_catalog
from schemahub_lib.ops import formats
from schemahub_lib.ops.audit import AuditOptions, run_audit
from schemahub_lib.ops.sparkutil import ops_spark
from schemahub_lib.settings import load_settings
from schemahub_lib.tables import init_tables

TRADES = 3_000_000
FIRST = 1_080_000_000


def run(workdir: Path) -> list[Result]:
    settings = load_settings(env={}, warehouse=str(workdir / "warehouse"), catalog_name="bench_audit")
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    ids = np.arange(FIRST, FIRST + TRADES, dtype=np.int64)
    ids = ids[(ids - FIRST) % 1000 != 999]
    t0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1_000_000)
    times = pa.array(t0 + (ids - FIRST) * 10_000, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    now = pa.array(np.full(len(ids), t0, dtype=np.int64)).cast(pa.timestamp("us", tz="UTC"))
    n = len(ids)
    raw = catalog.load_table(settings.table_id(formats.RAW_TABLES["coinbase"]))
    raw_cols = {
        "trade_id": pa.array(ids),
        "product_id": pa.array(["BTC-USD"] * n),
        "price": pa.array(np.ones(n)),
        "size": pa.array(np.ones(n)),
        "time": times,
        "side": pa.array(["buy"] * n),
        "_source": pa.array(["coinbase"] * n),
        "_source_ingest_ts": now,
        "_raw_payload": pa.array(["{}"] * n),
        "_run_id": pa.array(["bench"] * n),
    }
    raw.append(pa.Table.from_pydict(raw_cols, schema=raw.schema().as_arrow()))
    snapshot = raw.current_snapshot()
    assert snapshot is not None  # the append above made one
    consumed = snapshot.snapshot_id
    unified = catalog.load_table(settings.table_id(formats.UNIFIED_TABLE))
    uni_cols = {
        "exchange": pa.array(["COINBASE"] * n),
        "symbol": pa.array(["BTC-USD"] * n),
        "trade_id": pa.array(ids).cast(pa.string()),
        "side": pa.array(["SELL"] * n),
        "price": pa.array(np.ones(n)),
        "quantity": pa.array(np.ones(n)),
        "trade_ts": times,
        "ingest_ts": now,
        "base_asset": pa.array(["BTC"] * n),
        "quote_asset": pa.array(["USD"] * n),
    }
    unified.append(
        pa.Table.from_pydict(uni_cols, schema=unified.schema().as_arrow()),
        snapshot_properties=formats.unify_record({formats.RAW_TABLES["coinbase"]: consumed}),
    )
    spark = ops_spark(settings, app_name="bench-audit")
    started = time.monotonic()
    report = run_audit(settings, spark, AuditOptions(record=False))
    seconds = time.monotonic() - started
    gaps = report.totals()["open_gaps"]
    expected_gaps = 2 * (TRADES // 1000 - 1)  # the last missing id is the tail, not a gap
    return [
        Result(
            "audit rows/s (raw + unified, 1 stream)",
            2 * n / seconds,
            "rows/s",
            note=f"{n:,} trades per layer, {gaps:,} gaps (expected {expected_gaps:,}) in {seconds:.1f}s",
        ),
    ]
