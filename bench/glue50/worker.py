"""One side of `python -m bench.glue50`: a warm Spark session running unify on prepared batches.

Run by the driver with a tree's own interpreter and `-P`, so `schemahub_lib` (and its ddl/,
mappings/ and .jars/) are that tree's: the Glue 5.0 baseline's or the current one's. It uses
only what both trees share (load_settings, init_tables, load_spark, run_unify) and talks
JSON lines: a request on stdin, an answer on stdout prefixed with MARK (Spark may print too).

    {"cmd": "batch", "files": {"coinbase": "<parquet>", ...}}  append each file to its raw
        table (PyIceberg, one snapshot per product, as landing commits), then time `run_unify`.
    {"cmd": "quit"}
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

MARK = "@@worker "
SYMBOL_COLUMNS = {"coinbase": "product_id", "binance": "symbol", "kraken": "pair"}  # raw symbol columns


def _answer(payload: dict[str, Any]) -> None:
    sys.__stdout__.write(MARK + json.dumps(payload) + "\n")  # type: ignore[union-attr]
    sys.__stdout__.flush()  # type: ignore[union-attr]


# Where a run's time goes, in both trees: label -> the function (or alternatives: the one a
# tree has) timed where run.py calls it.
TIMED: dict[str, str | tuple[str, ...]] = {
    "stats": "batch_stats",  # the Spark job over symbols and times
    # building the mapped DataFrames (driver side); this tree builds the whole batch as one statement
    "map": ("map_source", "unified_rows"),
    "branch": "create_branch",
    "write": "append_to_branch",  # read, map, dedup, anti-join, sort, Parquet, branch commit
    # the baseline fast-forwards, then drops the branch; this tree does both in one commit
    "publish": ("fast_forward_main", "publish_branch"),
    "drop": "drop_branch",
}


def _time_steps(times: dict[str, float]) -> None:
    """Wrap TIMED's functions where run.py calls them, adding their seconds to `times`."""
    from schemahub_lib.unify import commit
    from schemahub_lib.unify import run as unify_run

    for label, names in TIMED.items():
        for name in (names,) if isinstance(names, str) else names:
            module = unify_run if hasattr(unify_run, name) else commit
            if hasattr(module, name):
                _wrap(module, name, label, times)


def _wrap(module: Any, name: str, label: str, times: dict[str, float]) -> None:
    real = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            times[label] = times.get(label, 0.0) + time.perf_counter() - started

    setattr(module, name, timed)


def _cpu_seconds() -> float:
    """CPU seconds used so far by this worker and its child processes (the Spark JVM, local
    mode: driver and executor threads), from /proc. Less sensitive than wall time to other load
    on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    ours = {os.getpid()}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours |= more
        grew = bool(more)
    return sum(times.get(pid, 0) for pid in ours) / tick


def _seed(raw: dict[str, list[list[Any]]]) -> dict[str, list[Any]]:
    from schemahub_lib.connectors.base import Product

    return {ex: [Product(p[0], p[1], p[2], p[3], p[4], tuple(p[5])) for p in ps] for ex, ps in raw.items()}


def main(warehouse: str, seed_file: str) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import pyspark

    from schemahub_lib.catalog import load_catalog
    from schemahub_lib.settings import load_settings
    from schemahub_lib.spark import ICEBERG_VERSION, load_spark
    from schemahub_lib.tables import init_tables
    from schemahub_lib.unify import run_unify

    sys.stdout = sys.stderr  # only _answer writes to the driver's pipe
    with open(seed_file) as f:
        seed = _seed(json.load(f))
    settings = load_settings(env={}, warehouse=warehouse, catalog_name="bench_glue50")
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    spark = load_spark(settings, app_name="schemahub-bench-glue50")
    times: dict[str, float] = {}
    _time_steps(times)
    raw = catalog.load_table(settings.table_id("raw_coinbase_trades"))
    _answer(
        {
            "pyspark": pyspark.__version__,
            "iceberg": ICEBERG_VERSION,
            "table_vectorization": raw.properties.get("read.parquet.vectorization.enabled", "default (true)"),
            "session_vectorization": spark.conf.get(
                "spark.sql.iceberg.vectorization.enabled", "default (true)"
            ),
        }
    )
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "quit":
            break
        for exchange, path in request["files"].items():
            table = catalog.load_table(settings.table_id(f"raw_{exchange}_trades"))
            data = pq.read_table(path).cast(table.schema().as_arrow())
            symbol = SYMBOL_COLUMNS[exchange]
            for product in sorted(pc.unique(data[symbol]).to_pylist()):  # one snapshot per product
                table.append(data.filter(pc.equal(data[symbol], product)))
        times.clear()
        cpu = _cpu_seconds()
        started = time.perf_counter()
        report = run_unify(settings, spark, products=seed)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
        _answer(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "rows_read": report.rows_read,
                "rows_inserted": report.rows_inserted,
                "steps": {k: round(v, 3) for k, v in times.items()},
            }
        )
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
