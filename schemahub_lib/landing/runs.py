"""The record of landing runs: `schemahub_runs`, one row per run and stream.

A run appends its summary row with status `running` before it lands anything and its stream
rows plus a final summary row when it ends (a followed stream, see ingest's `Follow`, also
appends a row when an outage starts and when it ends). A killed run leaves only those; the
next run (`repair_interrupted`) appends `interrupted` rows for it, with the trades and commits
its raw snapshots carry (each raw snapshot names its run and stream in its summary); a stream
whose latest row said `failed` gets a `failed` row instead, its error kept.
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

    def failed_streams(self, run_ids: Iterable[str], *, now_s: float) -> dict[tuple[str, str, str], str]:
        """(run, exchange, product) -> error of each stream of those runs whose latest row says
        `failed` (a followed stream records its outage when it starts, before its run ends)."""
        ids = set(run_ids)
        table = self.catalog.load_table(self.identifier)
        rows = (
            table.scan(
                row_filter=ge("started_at", int((now_s - LOOKBACK_S) * 1e6)),
                selected_fields=("run_id", "exchange", "product", "status", "error", "finished_at"),
            )
            .to_arrow()
            .to_pylist()
        )
        latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in sorted((r for r in rows if r["run_id"] in ids and r["product"] != ALL and r["finished_at"]),
                        key=lambda r: r["finished_at"]):  # fmt: skip
            latest[(r["run_id"], r["exchange"], r["product"])] = r
        return {k: r["error"] or "failed" for k, r in latest.items() if r["status"] == "failed"}


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
    # A stream already recorded as failing stays failed: the kill does not make it any better.
    failed = log.failed_streams((r["run_id"] for r in stale), now_s=now_s)
    for run in stale:
        started_us = int(run["started_at"].timestamp() * 1e6)
        streams = [(k, v) for k, v in counts.items() if k[0] == run["run_id"]]
        for key, (trades, commits) in sorted(streams):
            _, exchange, product = key
            status, error = "interrupted", None
            if key in failed:
                status, error = (
                    "failed",
                    f"{failed[key]}; then the run ended without recording its end (killed?)",
                )
            rows.append(
                RunRow(run["run_id"], run["kind"], exchange, product, status, started_us,
                       trades=trades, commits=commits, error=error, finished_at_us=now_us, host=run["host"],
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
