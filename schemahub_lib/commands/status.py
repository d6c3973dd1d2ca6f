"""`schemahub status [--json]`: every stream's watermark, lag, row counts and last run; every table's shape.

    schemahub status                 # readable tables
    schemahub status --json          # the same, for machines
    schemahub status --no-counts     # skip the per-stream row counts (the only data scans)

Exits 0 when all is well, 1 on trouble: a stream whose last landing run failed (listed first,
with its error) or stream state that could not be read; 2 on errors. Lag is how far a stream's
newest landed trade is behind now, never negative.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from schemahub_lib.ops.text import human_bytes, human_span, table, to_json
from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    from schemahub_lib.ops.status import StatusReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="per stream: watermark, lag, rows, last run; per table: snapshots, files, bytes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.add_argument("--no-counts", action="store_true", help="skip row counts per stream")
    parser.add_argument(
        "--publish-metrics", action="store_true", help="send LagSeconds, DataFiles, SmallFiles (aws profile)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.ops.status import run_status

    report = run_status(settings, counts=not args.no_counts, publish=args.publish_metrics)
    print(to_json(report.as_dict()) if args.json else render(report))
    return report.exit_code


def render(report: StatusReport) -> str:
    lines = [f"trouble: {t}" for t in report.trouble]
    lines += [""] if lines else []
    lines.append(f"streams (as of {report.generated_at:%Y-%m-%d %H:%M:%S} UTC)")
    rows = [
        (
            s.exchange,
            s.product,
            s.watermark_id,
            s.newest_trade_ts,
            human_span(s.lag_s),
            s.raw_rows,
            s.unified_rows,
            s.in_progress,
            f"{s.last_run_kind} {s.last_run_status}" if s.last_run_status else None,
            s.last_run_at,
            s.last_run_error[:60] if s.last_run_error else None,
        )
        for s in report.streams
    ]
    headers = (
        "exchange",
        "product",
        "watermark",
        "newest trade",
        "lag",
        "raw rows",
        "unified rows",
        "walk",
        "last run",
        "finished",
        "error",
    )
    lines.append(table(headers, rows) if rows else "no streams")
    u = report.unify
    if u.snapshot_id is None:
        lines.append("\nunify: no commit yet")
    else:
        pending = ", ".join(f"{t} {n}" for t, n in sorted(u.pending_commits.items())) or "none"
        lines.append(
            f"\nunify: last commit {u.last_commit_at:%Y-%m-%d %H:%M:%S} UTC; raw commits pending: {pending}"
        )
    lines.append("\ntables")
    trows = [
        (t.table, t.snapshots, t.data_files, human_bytes(t.bytes), t.records, t.small_files, t.manifests)
        for t in report.tables
    ]
    lines.append(
        table(("table", "snapshots", "data files", "size", "rows", "small files", "manifests"), trows)
    )
    return "\n".join(lines)
