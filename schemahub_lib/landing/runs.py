"""The record of landing runs: `schemahub_runs`, one row per run and stream.

A run appends its summary row with status `running` before it lands anything and its stream
rows plus a final summary row when it ends. A killed run leaves only `running`; the next run
(`repair_interrupted`) appends `interrupted` rows for it, with the trades and commits its raw
snapshots carry (each raw snapshot names its run and stream in its summary).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog

from schemahub_lib.landing.filters import ge
from schemahub_lib.landing.retry import retry_commit
from schemahub_lib.landing.watermarks import RUN_PROPERTY, STREAM_PROPERTY
from schemahub_lib.landing.writer import TABLE_LOCKS
from schemahub_lib.logs import log_event
from schemahub_lib.settings import Settings

RUNS_TABLE = "schemahub_runs"
ALL = "*"
# A run on another host counts as dead when it started this long ago without finishing.
STALE_AFTER_S = 24 * 3600
LOOKBACK_S = 14 * 86400  # how far back repair looks for unfinished runs


@dataclass
class RunRow:
    run_id: str
    kind: str
    exchange: str
    product: str
    status: str
    started_at_us: int
    pages: int | None = None
    trades: int | None = None
    rejects: int | None = None
    retries: int | None = None
    commits: int | None = None
    seconds: float | None = None
    lag_seconds: float | None = None
    first_trade_id: int | None = None
    last_trade_id: int | None = None
    error: str | None = None
    finished_at_us: int | None = None
    host: str | None = field(default_factory=socket.gethostname)
    pid: int | None = None
    options: str | None = None


class RunLog:
    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.identifier = settings.table_id(RUNS_TABLE)
        self._lock = TABLE_LOCKS.get(f"{settings.warehouse}/{self.identifier}")

    def append(self, rows: Sequence[RunRow]) -> None:
        if not rows:
            return

        def attempt() -> None:
            table = self.catalog.load_table(self.identifier)
            table.append(_arrow(table.schema().as_arrow(), rows))

        with self._lock:
            retry_commit(attempt, what=f"append to {self.identifier}")

    def unfinished(self, *, now_s: float, alive: Any) -> list[dict[str, Any]]:
        """Summary rows of runs that started, never finished, and whose process is gone."""
        table = self.catalog.load_table(self.identifier)
        if table.current_snapshot() is None:
            return []
        since_us = int((now_s - LOOKBACK_S) * 1e6)
        rows = (
            table.scan(
                row_filter=ge("started_at", since_us),
                selected_fields=(
                    "run_id",
                    "kind",
                    "exchange",
                    "product",
                    "status",
                    "started_at",
                    "host",
                    "pid",
                ),
            )
            .to_arrow()
            .to_pylist()
        )
        finished = {r["run_id"] for r in rows if r["product"] == ALL and r["status"] != "running"}
        out = []
        for r in rows:
            if r["product"] != ALL or r["status"] != "running" or r["run_id"] in finished:
                continue
            started_s = r["started_at"].timestamp()
            same_host = r["host"] == socket.gethostname()
            dead = not alive(int(r["pid"])) if same_host and r["pid"] else now_s - started_s > STALE_AFTER_S
            if dead:
                out.append(r)
        return out


def repair_interrupted(
    log: RunLog, catalog: Catalog, settings: Settings, raw_tables: Iterable[str], alive: Any
) -> list[str]:
    """Append `interrupted` rows for killed runs, counted from the raw snapshots they made."""
    now_s = time.time()
    stale = log.unfinished(now_s=now_s, alive=alive)
    if not stale:
        return []
    counts: dict[tuple[str, str, str], list[int]] = {}
    for name in raw_tables:
        identifier = settings.table_id(name)
        if not catalog.table_exists(identifier):
            continue
        exchange = name.removeprefix("raw_").removesuffix("_trades")
        for snapshot in catalog.load_table(identifier).metadata.snapshots:
            summary = snapshot.summary
            if summary is None or summary[RUN_PROPERTY] is None:
                continue
            key = (str(summary[RUN_PROPERTY]), exchange, str(summary[STREAM_PROPERTY]))
            entry = counts.setdefault(key, [0, 0])
            entry[0] += int(summary["added-records"] or 0)
            entry[1] += 1
    rows = []
    now_us = int(now_s * 1e6)
    for run in stale:
        started_us = int(run["started_at"].timestamp() * 1e6)
        streams = [(k, v) for k, v in counts.items() if k[0] == run["run_id"]]
        for (_, exchange, product), (trades, commits) in sorted(streams):
            rows.append(
                RunRow(run["run_id"], run["kind"], exchange, product, "interrupted", started_us,
                       trades=trades, commits=commits, finished_at_us=now_us, host=run["host"],
                       pid=run["pid"])
            )  # fmt: skip
        rows.append(
            RunRow(run["run_id"], run["kind"], ALL, ALL, "interrupted", started_us,
                   trades=sum(v[0] for _, v in streams), commits=sum(v[1] for _, v in streams),
                   error="the run ended without recording its end (killed?)", finished_at_us=now_us,
                   host=run["host"], pid=run["pid"])
        )  # fmt: skip
    log.append(rows)
    ids = sorted({r["run_id"] for r in stale})
    log_event("runs.repair", interrupted=ids)
    return ids


def options_json(options: Any) -> str:
    return json.dumps(asdict(options), default=str, sort_keys=True)


def _arrow(schema: pa.Schema, rows: Sequence[RunRow]) -> pa.Table:
    columns: dict[str, list[Any]] = {f.name: [] for f in schema}
    for row in rows:
        values = asdict(row)
        values["started_at"] = values.pop("started_at_us")
        values["finished_at"] = values.pop("finished_at_us")
        for name in columns:
            columns[name].append(values.get(name))
    arrays = []
    for f in schema:
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(columns[f.name], pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(columns[f.name], f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
