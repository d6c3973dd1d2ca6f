"""`make demo`: the main job end to end on the embedded catalog, against the exchange simulator.

simulator (a real HTTP server on loopback, real rate limits) -> ingest into the raw Iceberg
tables -> unify into trades_unified -> a first query with `schemahub query` (DuckDB, no JVM),
then a replay of the volatility spike across venues. The demo keeps its own warehouse
(`./warehouse/demo` unless --warehouse), so simulated trades never mix with real ones.
Re-running it resumes from the watermarks: the simulated markets are anchored to the first
run's clock, so the same trade ids come back and only new trades land.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import Settings, load_settings
from schemahub_lib.tables import init_tables

if TYPE_CHECKING:
    from schemahub_lib.read import Lakehouse

STATE_FILE = "_demo.json"
SEED = 42
# A longer gap than this between demo runs starts the demo warehouse afresh rather than
# catching up hours of simulated history.
MAX_RESUME_S = 6 * 3600
SPIKE_AGO_S = 8 * 60  # on a first run the spike sits inside the ingested window


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="schemahub demo", description=__doc__)
    parser.add_argument("--warehouse", default="./warehouse/demo", help="demo warehouse folder")
    parser.add_argument("--minutes", type=float, default=30.0, help="cold-start window (default 30)")
    parser.add_argument("--fresh", action="store_true", help="start the demo warehouse afresh")
    args = parser.parse_args(argv)

    started = time.monotonic()
    warehouse = Path(args.warehouse).resolve()
    state = _demo_state(warehouse, args.fresh)
    now = time.time()
    flags = [
        "--seed", str(state["seed"]),
        "--clock", "real",
        "--rate-limits", "real",
        "--history", f"{int(now - state['anchor_s'])}s",
        f"--spike-at={int(state['spike_at_s'] - now)}s",
        "--spike-duration", "90s",
    ]  # fmt: skip

    from schemahub_lib.sim.testing import SimProcess

    _step("Starting the exchange simulator (every venue on loopback, at its real rate limits)")
    with SimProcess(*flags) as sim:
        for exchange, url in sim.urls.items():
            print(f"    {exchange:<9} {url}")
        settings = load_settings(
            warehouse=str(warehouse),
            exchange_urls=sim.urls,
            cold_start_minutes=int(args.minutes),
        )
        code = _pipeline(settings)
    print(f"\nDone in {time.monotonic() - started:.0f}s. Warehouse: {warehouse}")
    print(f"Look yourself: SCHEMAHUB_WAREHOUSE={warehouse} .venv/bin/schemahub status")
    print(
        f"Query it:      SCHEMAHUB_WAREHOUSE={warehouse} .venv/bin/schemahub query "
        '"SELECT exchange, count(*) FROM trades_unified GROUP BY ALL"'
    )
    return code


def _pipeline(settings: Settings) -> int:
    from schemahub_lib.landing.ingest import IngestOptions, run_ingest

    _step(f"Creating the tables in {settings.catalog_db_path}")
    for result in init_tables(load_catalog(settings), settings):
        print(f"    {settings.spark_table(result.table)}: {result.status}")

    _step(
        f"Ingesting every seed market (cold start: the last {settings.cold_start_minutes} minutes; "
        "later runs resume from the watermarks)"
    )
    report = run_ingest(settings, IngestOptions(workers=4))
    for stream in report.streams:
        print(f"    {stream.exchange:<9} {stream.product:<10} {stream.status:<9} {stream.trades:>8,} trades")
    print(f"    {report.trades:,} trades landed, {report.rejects} rejects, run {report.run_id}")
    if report.failed:
        print(f"    {len(report.failed)} stream(s) failed; see the log lines above", file=sys.stderr)

    _step("Starting Spark and unifying the raw tables into trades_unified (one Iceberg commit)")
    from schemahub_lib.spark import load_spark
    from schemahub_lib.unify import run_unify

    spark = load_spark(settings, app_name="schemahub-demo")
    unified = run_unify(settings, spark)
    summary = {k: v for k, v in unified.__dict__.items() if k in ("rows_inserted", "snapshot_id", "seconds")}
    print(f"    {json.dumps(summary, default=str)}")

    spark.stop()  # the JVM's work is done: the queries below run on DuckDB
    _query_step(settings)
    return report.exit_code


# The demo's queries, run with `schemahub query` (DuckDB over the Iceberg tables, no JVM).
VWAP_SQL = """
SELECT exchange, symbol, count(*) AS trades,
       round(sum(price * quantity) / sum(quantity), 2) AS vwap,
       round(sum(quantity), 4) AS volume,
       round(100 * avg(CASE WHEN side = 'BUY' THEN 1 ELSE 0 END), 1) AS pct_buy
FROM trades_unified
WHERE trade_ts >= now() - INTERVAL 15 MINUTES
GROUP BY exchange, symbol ORDER BY symbol, exchange
"""
# The venues of the replay, as trades_unified names them; each lags the fair value by its own
# amount in the simulator (Binance leads, OKX follows closely, Bitfinex and Kraken lag most).
REPLAY_VENUES = ("BINANCE", "OKX", "COINBASE", "BITFINEX", "KRAKEN")


def spike_sql(venues: tuple[str, ...] = REPLAY_VENUES) -> str:
    """The volatility spike, second by second: which venue moved first, how far they disagreed
    (the 12 seconds of widest spread among those where the leader, the first of `venues`, traded
    and at most one other venue was quiet; every venue when there are three or fewer)."""
    columns = ",\n         ".join(
        f"max(last_price) FILTER (WHERE exchange = '{v}') AS {v.lower()}" for v in venues
    )
    names = ", ".join(v.lower() for v in venues)
    present = " + ".join(f"CASE WHEN {v.lower()} IS NOT NULL THEN 1 ELSE 0 END" for v in venues)
    quorum = len(venues) if len(venues) <= 3 else len(venues) - 1
    return f"""
WITH per_second AS (
  SELECT date_trunc('second', trade_ts) AS second, exchange,
         arg_max(price, trade_ts) AS last_price, count(*) AS trades
  FROM trades_unified
  WHERE base_asset = 'BTC' AND quote_asset IN ('USD', 'USDT')
  GROUP BY 1, 2
),
wide AS (
  SELECT second,
         {columns},
         sum(trades) AS trades
  FROM per_second GROUP BY second
),
widest AS (
  SELECT second, {names}, trades,
         round(1e4 * (greatest({names}) - least({names})) / least({names}), 1) AS spread_bps
  FROM wide
  WHERE {venues[0].lower()} IS NOT NULL AND ({present}) >= {quorum}
  ORDER BY spread_bps DESC
  LIMIT 12
)
SELECT * FROM widest ORDER BY second
"""


def replay_venues(lake: Lakehouse) -> tuple[str, ...]:
    """The REPLAY_VENUES that traded BTC in trades_unified, in that order."""
    traded = lake.sql("SELECT DISTINCT exchange FROM trades_unified WHERE base_asset = 'BTC'")
    present = set(traded.column("exchange").to_pylist())
    return tuple(v for v in REPLAY_VENUES if v in present)


def _query_step(settings: Settings) -> None:
    from schemahub_lib.read import load_lakehouse
    from schemahub_lib.read.export import render_table

    lake = load_lakehouse(settings)
    shell = f"SCHEMAHUB_WAREHOUSE={settings.warehouse_path} .venv/bin/schemahub query"
    _step("Trades and VWAP per exchange and symbol, last 15 minutes (schemahub query: DuckDB, no JVM)")
    print(f'    {shell} "SELECT exchange, symbol, count(*) ... FROM trades_unified WHERE trade_ts >= ..."')
    print(render_table(lake.sql(VWAP_SQL)))
    _step("Replay: BTC around the volatility spike, per second (last price per venue, spread in bps)")
    venues = replay_venues(lake)
    if venues:
        print(render_table(lake.sql(spike_sql(venues))))


def _demo_state(warehouse: Path, fresh: bool) -> dict[str, float]:
    """The simulated markets' anchor, kept with the demo warehouse so re-runs line up."""
    path = warehouse / STATE_FILE
    now = time.time()
    if path.exists():
        state = json.loads(path.read_text())
        if not fresh and now - state["anchor_s"] < MAX_RESUME_S:
            _step(f"Resuming the demo warehouse {warehouse} (run `make demo ARGS=--fresh` to start over)")
            return state
        shutil.rmtree(warehouse)  # only ever a folder the demo created: it holds STATE_FILE
    elif warehouse.exists() and any(warehouse.iterdir()):
        raise SystemExit(f"{warehouse} holds something other than a demo warehouse; pass --warehouse DIR")
    warehouse.mkdir(parents=True, exist_ok=True)
    # History reaches back past the cold-start window; the spike sits inside that window.
    state = {"seed": SEED, "anchor_s": now - 3 * 3600, "spike_at_s": now - SPIKE_AGO_S}
    path.write_text(json.dumps(state))
    return state


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
