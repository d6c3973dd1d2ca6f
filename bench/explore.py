"""`schemahub explore`: replay data for a 15-minute, 3-venue window (~100k trades) out of a
10M-row trades_unified, to the client, warm: budget < 1 s (issue 13).

The table is bench/query.py's generated month (30 daily appends, 3 exchanges, 3 symbols)
with 100k fewer rows, plus one dense 15-minute window of BTC-EUR on the three venues
(100k trades, one random walk each venue follows with its own lag: 0, 80 and 250 ms),
appended last. It is kept under
.bench/explore-10m so a re-run only measures. The figure is the wall time of
GET /api/replay over loopback until the whole JSON body has arrived (a real uvicorn server in
this process, median of 5 after one untimed request); the read and the computation are also
reported apart, and the lead-lag request (no budget) beside them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa

from bench import query as qb
from bench.result import Result
from schemahub_lib.catalog import load_catalog
from schemahub_lib.explore.app import Explorer, build_app
from schemahub_lib.explore.events import find_events
from schemahub_lib.explore.replay import Window, build_replay
from schemahub_lib.explore.server import ThreadedServer
from schemahub_lib.explore.source import MarketKey
from schemahub_lib.settings import REPO_ROOT, Settings, load_settings
from schemahub_lib.tables import init_tables

DENSE_ROWS = 100_000
DENSE_SYMBOL = "BTC-EUR"  # a market of its own, so the generated month's BTC-USD rows do not mix in
CACHE = REPO_ROOT / ".bench" / "explore-10m"
WINDOW_START = qb.START + timedelta(days=21, hours=9, minutes=30)
WINDOW = timedelta(minutes=15)
LAGS_MS = {"BINANCE": 0, "COINBASE": 80, "KRAKEN": 250}
SHARE = {"BINANCE": 0.55, "COINBASE": 0.33, "KRAKEN": 0.12}


def run(workdir: Path) -> list[Result]:
    settings = load_settings(env={}, warehouse=str(CACHE))
    rows = _ensure_table(settings)
    explorer = Explorer(settings)
    params = {
        "asset": "BTC",
        "markets": "BINANCE:BTC-EUR,COINBASE:BTC-EUR,KRAKEN:BTC-EUR",
        "start": WINDOW_START.isoformat(),
        "end": (WINDOW_START + WINDOW).isoformat(),
    }
    results = [Result("trades_unified rows", rows, "rows")]
    # First page load on a fresh server: markets from the files' bounds (DuckDB counts the
    # files holding several), events from DuckDB's 10-second bins over the data files; both
    # cached per snapshot. Beside them, in the same run, the read API route they replaced.
    t0 = time.monotonic()
    explorer.catalog(None)
    markets_s = time.monotonic() - t0
    t0 = time.monotonic()
    found = explorer.events("BTC", None)
    events_s = time.monotonic() - t0
    source = explorer.source
    btc = [m for m in source.market_counts() if m.base == "BTC"]
    t0 = time.monotonic()
    source.lake.sql("SELECT exchange, symbol, count(*) AS n FROM trades_unified GROUP BY exchange, symbol")
    old_markets_s = time.monotonic() - t0
    t0 = time.monotonic()
    old_found = find_events(source.prices(btc).values())
    old_events_s = time.monotonic() - t0
    assert [e.as_dict() for e in old_found] == found, "the DuckDB bins found other events"
    old_m = f"read API GROUP BY in the same run: {old_markets_s:.2f} s ({old_markets_s / markets_s:.0f}x)"
    old_e = f"read API + numpy in the same run: {old_events_s:.2f} s ({old_events_s / events_s:.1f}x)"
    results += [
        Result("first load: markets (file bounds + DuckDB), cold", markets_s, "s", note=old_m),
        Result(
            "first load: BTC volatility events (DuckDB 10-s bins), cold",
            events_s,
            "s",
            budget="~1-2 s",
            ok=events_s < 2.0,
            note=f"{len(found)} events; {old_e}",
        ),
        Result("first load: both, cold", markets_s + events_s, "s"),
    ]
    # Data files never change: a snapshot adding a day's file bins that file only. Proxy: drop
    # one file's bins from the per-file cache and the per-snapshot answer, then ask again.
    cache = source._bins_cache
    dropped = next(iter(cache))
    del cache[dropped]
    explorer._cache.clear()
    t0 = time.monotonic()
    assert explorer.events("BTC", None) == found
    results.append(
        Result(
            "events after a snapshot adding one file (that file binned, the rest cached)",
            time.monotonic() - t0,
            "s",
            budget="~1-2 s",
            ok=time.monotonic() - t0 < 2.0,
            note=f"{source.file_stats.files_read} of {source.file_stats.files} files read",
        )
    )
    with ThreadedServer(build_app(explorer)) as server:

        def fetch(path: str) -> dict[str, Any]:
            r = httpx.get(server.url + path, params=params, timeout=60)
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]

        t0 = time.monotonic()
        httpx.get(server.url + "/api/events", params={"asset": "BTC"}, timeout=60).raise_for_status()
        results.append(
            Result(
                "page load after `schemahub explore` warmed up: GET /api/events",
                time.monotonic() - t0,
                "s",
                note="serve() computes markets and events in the background at start",
            )
        )
        body = fetch("/api/replay")
        size = len(httpx.get(server.url + "/api/replay", params=params, timeout=60).content)
        replay_s = qb._median(lambda: fetch("/api/replay"), 5)
        results.append(
            Result(
                "replay: 15-min 3-venue window to the client (HTTP, JSON parsed), warm",
                replay_s,
                "s",
                budget="< 1 s",
                ok=replay_s < 1.0,
                note=f"{body['trades']:,} trades, {body['steps']:,} steps, {size / 1e6:.1f} MB JSON",
            )
        )
        markets = [MarketKey(x, DENSE_SYMBOL) for x in LAGS_MS]
        start_ns = int(WINDOW_START.timestamp() * 1e9)
        end_ns = start_ns + int(WINDOW.total_seconds() * 1e9)
        read_s = qb._median(lambda: explorer.source.trades(markets, start_ns, end_ns), 5)
        results.append(Result("  of which the read (read API trades())", read_s, "s"))
        trades = explorer.source.trades(markets, start_ns, end_ns)
        build_s = qb._median(lambda: build_replay(trades, Window(start_ns, end_ns)), 5)
        results.append(Result("  of which the grid, spread, downsampling", build_s, "s"))
        t0 = time.monotonic()
        ll = fetch("/api/leadlag")
        results.append(Result("lead-lag request, same window", time.monotonic() - t0, "s", note=ll["text"]))
    return results


def _ensure_table(settings: Settings) -> int:
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("trades_unified"))
    snapshot = table.current_snapshot()
    if snapshot is None or qb._summary(snapshot, "total-records") != qb.ROWS:
        if snapshot is not None:
            raise SystemExit(f"{CACHE} holds another table; remove it to regenerate")
        print(f"   generating {qb.ROWS:,} trades into {CACHE} (once)", flush=True)
        schema = table.schema().as_arrow()
        bulk = qb.ROWS - DENSE_ROWS
        per_day = bulk // qb.DAYS
        for day in range(qb.DAYS):
            n = per_day if day < qb.DAYS - 1 else bulk - per_day * (qb.DAYS - 1)
            table.append(
                qb._day_of_trades(schema, qb.START + timedelta(days=day), n, seed=day, first_id=day * per_day)
            )
        table.append(_dense_window(schema))
        snapshot = catalog.load_table(settings.table_id("trades_unified")).current_snapshot()
    assert snapshot is not None
    return qb._summary(snapshot, "total-records")


def _dense_window(schema: pa.Schema) -> pa.Table:
    """DENSE_ROWS trades in the 15-minute window, each venue a lagged copy of one walk."""
    rng = np.random.default_rng(99)
    start_ns = int(WINDOW_START.timestamp() * 1e9)
    span_ns = int(WINDOW.total_seconds() * 1e9)
    grid_ms = np.arange(-1000, span_ns // 1_000_000 + 1)
    walk = 90_000.0 * np.exp(np.cumsum(rng.standard_normal(len(grid_ms)) * 2e-5))
    parts = []
    for exchange, share in SHARE.items():
        n = (
            int(DENSE_ROWS * share)
            if exchange != "KRAKEN"
            else DENSE_ROWS - sum(int(DENSE_ROWS * SHARE[x]) for x in SHARE if x != "KRAKEN")
        )
        t_ns = np.sort(start_ns + rng.integers(0, span_ns, n))
        at = (t_ns - start_ns) // 1_000_000 - LAGS_MS[exchange] + 1000
        price = np.round(walk[at] * (1 + rng.standard_normal(n) * 2e-5), 2)
        parts.append((exchange, t_ns, price))
    now = datetime.now(UTC)
    cols: dict[str, Any] = {
        "exchange": np.concatenate([[x] * len(t) for x, t, _ in parts]),
        "symbol": [DENSE_SYMBOL] * DENSE_ROWS,
        "trade_id": [f"dense-{i}" for i in range(DENSE_ROWS)],
        "side": np.where(rng.random(DENSE_ROWS) < 0.5, "BUY", "SELL"),
        "price": np.concatenate([p for _, _, p in parts]),
        "quantity": np.round(rng.exponential(0.01, DENSE_ROWS), 6) + 1e-6,
        "trade_ts": pa.array(np.concatenate([t for _, t, _ in parts]) // 1000, pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "ingest_ts": pa.array([now] * DENSE_ROWS, pa.timestamp("us", tz="UTC")),
        "base_asset": ["BTC"] * DENSE_ROWS,
        "quote_asset": ["EUR"] * DENSE_ROWS,
    }
    return pa.table(
        {
            name: pa.array(cols[name]) if not isinstance(cols[name], pa.Array) else cols[name]
            for name in schema.names
        }
    ).cast(schema)
