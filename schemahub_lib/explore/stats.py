"""The stats page's figures: `schemahub status` (per table, per stream) plus open gaps.

Rows and bytes per table come from table metadata, rows per exchange and symbol from column
scans, bytes per exchange and symbol of trades_unified are an estimate (each data file's size
apportioned by its rows per market), freshness from landing's watermarks, last runs from the
runs table: the same report `schemahub status --json` prints. Open gaps are the gap rows of
each stream's latest audit.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from schemahub_lib.explore.source import COVERAGE_TABLE, UNIFIED_TABLE, Source
from schemahub_lib.settings import Settings


def collect_stats(settings: Settings, source: Source) -> dict[str, Any]:
    from schemahub_lib.ops.status import run_status

    started = time.monotonic()
    source.lake  # noqa: B018 - fails with a 404 message when there is no catalog (status would create one)
    report = run_status(settings, counts=True)
    streams = [asdict(s) for s in report.streams]
    return jsonable(
        {
            "generated_at": report.generated_at,
            "warehouse": settings.warehouse,
            "tables": [t.as_dict() for t in report.tables],
            "streams": streams,
            "unify": asdict(report.unify),
            "market_bytes": market_bytes(source),
            "open_gaps": open_gaps(source),
            "errors": report.errors,
            "seconds": round(time.monotonic() - started, 3),
        }
    )


def market_bytes(source: Source) -> list[dict[str, Any]]:
    """Per (exchange, symbol) of trades_unified: rows, and bytes estimated by apportioning each
    data file's size by its rows per market (datafiles.market_bytes). Empty when the files
    cannot be read directly (object storage, delete files) or there is no table."""
    from schemahub_lib.explore import datafiles

    if UNIFIED_TABLE not in source.tables():
        return []
    files = source.data_files()
    if files is None:
        return []
    sizes = datafiles.market_bytes(files, datafiles.FileStats())
    return [
        {"exchange": e, "symbol": s, "rows": n, "bytes_estimate": round(b)}
        for (e, s), (n, b) in sorted(sizes.items())
    ]


def open_gaps(source: Source) -> list[dict[str, Any]]:
    """Gap rows still open in the latest audit of each stream."""
    if COVERAGE_TABLE not in source.tables():
        return []
    rows = source.lake.scan(COVERAGE_TABLE).to_pylist()
    latest: dict[tuple[str, str, str], str] = {}
    for r in rows:
        if r["kind"] == "stream":
            key = (r["layer"], r["exchange"], r["symbol"])
            if key not in latest or str(r["recorded_at"]) > latest[key][0]:
                latest[key] = (str(r["recorded_at"]), r["audit_id"])  # type: ignore[assignment]
    keep = {(k, v[1]) for k, v in latest.items()}
    out = [
        {
            k: r[k]
            for k in ("layer", "exchange", "symbol", "first_id", "last_id", "first_ts", "last_ts", "status")
        }
        for r in rows
        if r["kind"] == "gap"
        and r["status"] == "open"
        and (((r["layer"], r["exchange"], r["symbol"]), r["audit_id"]) in keep or not latest)
    ]
    return sorted(out, key=lambda r: (r["exchange"], r["symbol"], r["first_id"] or 0))


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 UTC strings, tuples as lists, 64-bit ids as strings, recursively."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)  # snapshot ids: a JSON number would lose digits in the browser
    return value
