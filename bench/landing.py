"""Landing benchmarks: trades/s into raw Iceberg per worker, and peak RSS of a backfill.

* end to end: `schemahub backfill` (one worker, one Binance stream) against the simulator
  in its own process with rate limits off: HTTP, the connector's parsing, Arrow, Parquet and
  the Iceberg commits, as a user runs it. Peak RSS of that process comes from wait4.
* write path: the landing layer alone (a page of records -> Arrow -> Parquet -> one snapshot
  per flush), fed prebuilt records, so its share is visible apart from HTTP and parsing.

`SCHEMAHUB_BENCH_LANDING_TRADES` sets the backfill size (default 3,000,000; the SPEC's 10M
takes ~2-3 minutes on an idle 2-core machine). RSS is also taken at a third of the size to
show whether it grows with the history (it should not: it is bounded by the flush size).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.result import Result

RATE = 300  # trades/s of the simulated BTCUSDT: the history length follows from the size
SEED = "binance:\n  product_ids: [BTC-USDT]\n  symbols:\n    BTC-USDT: {exchange_symbol: BTCUSDT}\n"
TRADES_BUDGET = 100_000
RSS_BUDGET_MB = 1024


def _backfill(workdir: Path, trades: int) -> tuple[int, float, float, float]:
    """(trades landed, seconds of the stream, peak RSS MB, CPU seconds of the process) for a
    fresh backfill of `trades`. CPU time shows the process's own cost when other work shares
    the cores and stretches the wall-clock figure."""
    from schemahub_lib.sim.testing import SimProcess

    history_s = int(trades / RATE) + 1
    flags = ("--clock", "manual", "--history", f"{history_s}s", "--product-rate", f"binance:BTCUSDT={RATE}",
             "--rate-limits", "off", "--spike-at", "none")  # fmt: skip
    with SimProcess(*flags) as sim:
        run_dir = Path(tempfile.mkdtemp(dir=workdir))
        (run_dir / "seed.yaml").write_text(SEED)
        config = run_dir / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "warehouse": str(run_dir / "warehouse"),
                    "seed_path": str(run_dir / "seed.yaml"),
                    "exchange_urls": sim.urls,
                    "rate_limits": {"binance": 0},
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMAHUB_")}
        cmd = [sys.executable, "-m", "schemahub_lib.cli", "--config", str(config), "backfill", "binance",
               "--no-progress", "--json", "--workers", "1"]  # fmt: skip
        usage_file = run_dir / "usage.json"
        launcher = [sys.executable, "-c", _LAUNCHER, str(usage_file)]
        out = subprocess.run([*launcher, *cmd], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                             check=True).stdout  # fmt: skip
        usage = json.loads(usage_file.read_text())
        if usage["status"] != 0:
            raise RuntimeError(f"backfill exited with status {usage['status']}")
    (stream,) = json.loads(out)["streams"]
    return int(stream["trades"]), float(stream["seconds"]), usage["maxrss_kb"] / 1024, usage["cpu_s"]


# Runs the measured command and writes its rusage. Linux folds the memory high-water mark of the
# process that spawned a child into the child's ru_maxrss at exec (and Python spawns with vfork),
# so a child of this bench process, which holds a million-trade table by then, would report this
# process's peak. Spawned from this small launcher instead, the child reports its own.
_LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"status": status, "maxrss_kb": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime}, out)
"""


def _write_path(workdir: Path, trades: int, flush: int) -> float:
    """Trades/s of the landing layer alone: page -> Arrow -> Parquet -> commit."""
    import pyarrow as pa

    from schemahub_lib.catalog import load_catalog
    from schemahub_lib.connectors.base import RawTrade
    from schemahub_lib.landing.state import ExchangeState, Position, StreamState
    from schemahub_lib.landing.watermarks import STATE_PROPERTY
    from schemahub_lib.landing.writer import ArrowBuilder, commit_files, write_data_files
    from schemahub_lib.settings import load_settings
    from schemahub_lib.tables import init_tables

    settings = load_settings(env={}, warehouse=str(Path(tempfile.mkdtemp(dir=workdir)) / "warehouse"))
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("raw_binance_trades"))
    builder = ArrowBuilder(table, "binance")
    t0 = 1_750_000_000_000
    pages = []
    for p in range(flush // 1000):  # one flush worth of distinct pages, reused with new ids
        page = []
        for i in range(1000):
            n = p * 1000 + i
            record = {"id": n, "symbol": "BTCUSDT", "price": 68_000.0 + n % 97, "qty": 0.001 * (n % 13 + 1),
                      "quote_qty": 68.0, "time": (t0 + n) * 1000, "is_buyer_maker": n % 2 == 0,
                      "is_best_match": True}  # fmt: skip
            wire = {"id": n, "price": "68000.00", "qty": "0.00100", "quoteQty": "68.0", "time": t0 + n,
                    "isBuyerMaker": n % 2 == 0, "isBestMatch": True}  # fmt: skip
            payload = json.dumps(wire, separators=(",", ":"))
            page.append(RawTrade(n, (t0 + n) * 10**6, record, payload))
        pages.append(page)
    landed, started = 0, time.perf_counter()
    while landed < trades:
        arrow = builder.finish(
            pa.concat_tables([builder.page(p) for p in pages]), "bench", time.time_ns() // 1000
        )
        table = catalog.load_table(settings.table_id("raw_binance_trades"))
        state = ExchangeState({"BTC-USDT": StreamState(first=Position(0, 0), last=Position(landed, 0))})
        commit_files(table, write_data_files(table, arrow), {STATE_PROPERTY: state.to_property()})
        landed += arrow.num_rows
    return landed / (time.perf_counter() - started)


def run(workdir: Path) -> list[Result]:
    size = int(os.environ.get("SCHEMAHUB_BENCH_LANDING_TRADES", "3000000"))
    results = []
    write_rate = _write_path(workdir, 1_000_000, 100_000)
    results.append(
        Result(
            "landing write path (Arrow + Parquet + commit), 1 worker",
            write_rate,
            "trades/s",
            note="prebuilt records, flushes of 100k; excludes HTTP and the connector's parsing",
        )
    )
    small_trades, _, small_rss, _ = _backfill(workdir, size // 3)
    trades, seconds, rss, cpu = _backfill(workdir, size)
    results.append(
        Result(
            "landing end to end from the unthrottled simulator, 1 worker",
            trades / seconds,
            "trades/s",
            budget=f">= {TRADES_BUDGET:,} trades/s per worker",
            ok=trades / seconds >= TRADES_BUDGET,
            note=f"{trades:,} trades in {seconds:.1f}s; the simulator runs in its own process, same 2 cores; "
            f"backfill process CPU {cpu / trades * 1e6:.1f} µs/trade (user + system, with start-up)",
        )
    )
    results.append(
        Result(
            f"peak RSS, {trades:,}-trade backfill",
            rss,
            "MB",
            budget=f"< {RSS_BUDGET_MB} MB for 10M trades",
            ok=rss < RSS_BUDGET_MB,
            note=f"{small_rss:.0f} MB at {small_trades:,} trades (bounded by the flush, not the history)",
        )
    )
    return results
