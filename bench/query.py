"""`schemahub query` and the read API on a 10M-row trades_unified (SPEC budgets):

- a 1-hour VWAP per exchange and symbol, and a 15-minute window of one symbol on three venues:
  warm < 1 s each (read API in this process, after one untimed run);
- `schemahub query` end to end as a subprocess (Python start included) >= 10x faster than the
  same SQL through Spark SQL started cold (a fresh `load_spark` process);
- files read for the 15-minute window: only that day's files;
- the engine choice: the same two queries through DuckDB's Iceberg extension (`iceberg_scan`
  loaded from the PyPI wheels, no download), when those wheels are installed (`.[bench]`).

The table (10M rows, 30 days, 3 exchanges, 3 symbols, one append per day like a daily unify)
is generated with numpy, appended through PyIceberg and kept under .bench/query-10m, so a
re-run only queries.

Growth (SPEC: the same 15-minute window on 100M rows <= 1.5x its time on 10M): the 100M table
is the same market over 300 days rather than a denser one, so the window holds the same trades
and only the history around it grows. Generating it takes ~10 minutes and 1.5 GB, so it runs
only with BENCH_QUERY_GROWTH=1 or when .bench/query-100m exists already.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bench.result import Result
from schemahub_lib.catalog import load_catalog
from schemahub_lib.read import Lakehouse, load_lakehouse
from schemahub_lib.settings import REPO_ROOT, Settings, load_settings
from schemahub_lib.tables import init_tables

ROWS = 10_000_000
DAYS = 30
EXCHANGES = ("BINANCE", "COINBASE", "KRAKEN")
SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")
BASE_PRICE = {"BTC-USD": 90_000.0, "ETH-USD": 3_000.0, "SOL-USD": 150.0}
START = datetime(2026, 10, 1, tzinfo=UTC)
CACHE = REPO_ROOT / ".bench" / "query-10m"
GROWTH_CACHE = REPO_ROOT / ".bench" / "query-100m"
GROWTH_DAYS = 300
HOUR_START = START + timedelta(days=17, hours=14)
WINDOW_START = START + timedelta(days=21, hours=9, minutes=30)

VWAP_SQL = """
SELECT exchange, symbol, count(*) AS trades,
       sum(price * quantity) / sum(quantity) AS vwap, sum(quantity) AS volume
FROM trades_unified
WHERE trade_ts >= TIMESTAMP '{start}' AND trade_ts < TIMESTAMP '{end}'
GROUP BY exchange, symbol ORDER BY exchange, symbol
"""
WINDOW_SQL = """
SELECT exchange, trade_ts, price, quantity, side
FROM trades_unified
WHERE symbol = 'BTC-USD' AND exchange IN ('BINANCE', 'COINBASE', 'KRAKEN')
  AND trade_ts >= TIMESTAMP '{start}' AND trade_ts < TIMESTAMP '{end}'
ORDER BY trade_ts
"""

SPARK_SCRIPT = """
import sys, time
from schemahub_lib.settings import load_settings
from schemahub_lib.spark import load_spark
spark = load_spark(load_settings(warehouse=sys.argv[1]), app_name="bench-query")
rows = spark.sql(sys.argv[2]).collect()
print(len(rows))
"""


def run(workdir: Path) -> list[Result]:
    settings = load_settings(env={}, warehouse=str(CACHE))
    rows, files = _ensure_table(settings, DAYS)
    lake = load_lakehouse(settings)
    vwap = _fmt(VWAP_SQL, HOUR_START, timedelta(hours=1))
    window = _fmt(WINDOW_SQL, WINDOW_START, timedelta(minutes=15))
    results: list[Result] = []

    vwap_s = _warm(lambda: lake.sql(vwap))
    vwap_rows = lake.sql(vwap).num_rows
    results.append(
        _budget("read API: 1-hour VWAP per exchange+symbol, warm", vwap_s, 1.0, f"{vwap_rows} groups")
    )
    window_s = _warm(lambda: lake.sql(window))
    window_rows = lake.sql(window).num_rows
    window_files = lake.files_read
    results.append(
        _budget("read API: 15-min 3-venue window (SQL), warm", window_s, 1.0, f"{window_rows:,} trades")
    )
    trades_s = _warm(
        lambda: lake.trades(
            exchanges=EXCHANGES,
            symbols="BTC-USD",
            start=WINDOW_START,
            end=WINDOW_START + timedelta(minutes=15),
        )
    )
    results.append(_budget("read API: 15-min 3-venue window (trades()), warm", trades_s, 1.0))
    day_files = _files_of_day(lake, WINDOW_START)
    results.append(
        Result(
            "files read for the 15-min window",
            window_files,
            "files",
            budget=f"only that day's ({day_files} of {files})",
            ok=window_files <= day_files,
        )
    )

    results += _extension_route(settings, lake, vwap, window)

    cli_s = _median(lambda: _cli(settings, vwap), 3)
    results.append(_budget("schemahub query end to end (process start included), VWAP", cli_s, None))
    cli_window_s = _median(lambda: _cli(settings, window), 3)
    results.append(_budget("schemahub query end to end (process start included), window", cli_window_s, None))
    spark_s = _spark_cold(settings, vwap)
    results.append(Result("Spark SQL from cold, same VWAP", spark_s, "s"))
    ratio = spark_s / cli_s
    results.append(
        Result("cold Spark SQL / schemahub query (VWAP)", ratio, "x", budget=">= 10x", ok=ratio >= 10)
    )
    results.append(
        Result("table size", rows, "rows", note=f"{files} data files, {DAYS} days, cached in {CACHE}")
    )
    results += _growth(window, window_s)
    return results


def _growth(window: str, window_s: float) -> list[Result]:
    """The same window on the 300-day, 100M-row table, against its time on 10M rows."""
    if os.environ.get("BENCH_QUERY_GROWTH") != "1" and not GROWTH_CACHE.exists():
        return [Result("15-min window, 100M / 10M rows", 0, "", note="skipped: set BENCH_QUERY_GROWTH=1")]
    settings = load_settings(env={}, warehouse=str(GROWTH_CACHE))
    rows, files = _ensure_table(settings, GROWTH_DAYS)
    lake = load_lakehouse(settings)
    big_s = _warm(lambda: lake.sql(window))
    note = f"{rows:,} rows, {files} files, {lake.files_read} read"
    ratio = big_s / window_s
    return [
        Result("15-min window on 100M rows (300 days), warm", big_s, "s", note=note),
        Result("15-min window, 100M / 10M rows", ratio, "x", budget="<= 1.5x", ok=ratio <= 1.5),
    ]


def _fmt(template: str, start: datetime, span: timedelta) -> str:
    def text(t: datetime) -> str:
        return t.strftime("%Y-%m-%d %H:%M:%S")

    return template.format(start=text(start), end=text(start + span)).strip()


def _budget(name: str, seconds: float, budget_s: float | None, note: str = "") -> Result:
    if budget_s is None:
        return Result(name, seconds, "s", note=note)
    return Result(name, seconds, "s", budget=f"< {budget_s:g} s", ok=seconds < budget_s, note=note)


def _median(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _warm(fn: Callable[[], Any]) -> float:
    fn()
    return _median(fn, 5)


def _files_of_day(lake: Lakehouse, when: datetime) -> int:
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    lake.trades(start=day, end=day + timedelta(days=1), columns=["price"])
    return lake.files_read


def _cli(settings: Settings, query: str) -> None:
    cmd = [str(Path(sys.executable).parent / "schemahub"), "--warehouse", settings.warehouse]
    subprocess.run([*cmd, "query", query, "--format", "csv"], check=True, capture_output=True)


def _spark_cold(settings: Settings, query: str) -> float:
    spark_query = query.replace("FROM trades_unified", f"FROM {settings.spark_table('trades_unified')}")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", SPARK_SCRIPT, settings.warehouse, spark_query],
        check=True,
        capture_output=True,
        env=env,
    )
    return time.perf_counter() - started


def _extension_route(settings: Settings, lake: Lakehouse, vwap: str, window: str) -> list[Result]:
    """The same queries through DuckDB's Iceberg extension over the table's metadata file."""
    try:
        import duckdb_extension_avro  # type: ignore[import-not-found]
        import duckdb_extension_iceberg  # type: ignore[import-not-found]
    except ImportError:
        return [Result("DuckDB iceberg extension", 0, "", note="not installed: pip install -e '.[bench]'")]
    import duckdb

    def extension(module: Any, name: str) -> str:
        version = duckdb.__version__
        return str(Path(module.__file__).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension")

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"LOAD '{extension(duckdb_extension_avro, 'avro')}'")
    con.execute(f"LOAD '{extension(duckdb_extension_iceberg, 'iceberg')}'")

    def run_query(sql: str) -> Any:
        # Resolve the current metadata file through the catalog on every query, as the read
        # API does: DuckDB cannot attach a SQLite or Glue catalog itself.
        location = lake.table("trades_unified").metadata_location
        con.execute(f"CREATE OR REPLACE VIEW trades_unified AS SELECT * FROM iceberg_scan('{location}')")
        return con.execute(sql).to_arrow_table()

    same = run_query(vwap).equals(lake.sql(vwap)) and run_query(window).num_rows == lake.sql(window).num_rows
    return [
        _budget("iceberg extension: 1-hour VWAP, warm", _warm(lambda: run_query(vwap)), 1.0),
        _budget(
            "iceberg extension: 15-min window, warm",
            _warm(lambda: run_query(window)),
            1.0,
            f"same rows: {same}",
        ),
    ]


def _ensure_table(settings: Settings, days: int) -> tuple[int, int]:
    """The cached table of `days` days at 10M rows per 30 days, made on first use: (rows, files)."""
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("trades_unified"))
    snapshot = table.current_snapshot()
    total = ROWS * days // DAYS
    if snapshot is None or _summary(snapshot, "total-records") != total:
        if snapshot is not None:
            raise SystemExit(f"{settings.warehouse} holds another table; remove it to regenerate")
        print(f"   generating {total:,} trades into {settings.warehouse} (once)", flush=True)
        arrow_schema = table.schema().as_arrow()
        per_day = ROWS // DAYS
        for day in range(days):
            n = per_day if day < days - 1 else total - per_day * (days - 1)
            table.append(
                _day_of_trades(arrow_schema, START + timedelta(days=day), n, seed=day, first_id=day * per_day)
            )
        table = catalog.load_table(settings.table_id("trades_unified"))
        snapshot = table.current_snapshot()
    assert snapshot is not None
    return _summary(snapshot, "total-records"), _summary(snapshot, "total-data-files")


def _summary(snapshot: Any, key: str) -> int:
    return int((snapshot.summary or {}).get(key) or 0)


def _day_of_trades(schema: pa.Schema, day: datetime, n: int, seed: int, first_id: int) -> pa.Table:
    """One day of trades, sorted like the table's write order (exchange, symbol, trade_ts)."""
    rng = np.random.default_rng(seed)
    exchange = np.array(EXCHANGES)[rng.integers(0, len(EXCHANGES), n)]
    symbol = np.array(SYMBOLS)[rng.integers(0, len(SYMBOLS), n)]
    ts = int(day.timestamp() * 1e6) + rng.integers(0, 86_400_000_000, n)
    order = np.lexsort((ts, symbol, exchange))
    exchange, symbol, ts = exchange[order], symbol[order], ts[order]
    base = np.vectorize(BASE_PRICE.__getitem__)(symbol)
    parts = np.char.partition(symbol.astype(str), "-")
    now = int(time.time() * 1e6)
    return pa.table(
        {
            "exchange": exchange,
            "symbol": symbol,
            "trade_id": np.char.mod("%d", np.arange(first_id, first_id + n)),
            "side": np.array(["BUY", "SELL"])[rng.integers(0, 2, n)],
            "price": np.round(base * (1 + rng.normal(0, 0.002, n)), 2),
            "quantity": np.round(rng.exponential(0.05, n), 6),
            "trade_ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "ingest_ts": pa.array(np.full(n, now), pa.timestamp("us", tz="UTC")),
            "base_asset": parts[:, 0],
            "quote_asset": parts[:, 2],
        },
        schema=schema,
    )
