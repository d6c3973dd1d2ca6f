"""`schemahub maintain`: compaction, manifest rewrite, snapshot expiry, orphan cleanup.

    schemahub maintain --dry-run             # what each step would do, nothing changed
    schemahub maintain                       # every table, safe defaults
    schemahub maintain --table raw_coinbase_trades --step compact --step expire

Snapshot expiry never removes the raw snapshot unify last consumed, the newest snapshot
carrying landing's watermark, or unify's newest commit record (or anything newer than them).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from schemahub_lib.ops.text import human_bytes, table, to_json
from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    from schemahub_lib.ops.maintenance import MaintainReport

# ops/maintenance.py's steps and MaintainOptions defaults, copied so --help loads no pyiceberg
# (tests/test_cli.py checks they agree).
STEPS = ("compact", "manifests", "expire", "orphans")
DEFAULTS = {"retain_days": 7.0, "orphan_days": 3.0, "min_input_files": 5}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "maintain",
        help="compact, rewrite manifests, expire snapshots, remove orphan files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would be done; change nothing")
    parser.add_argument("--table", action="append", help="limit to a table (repeatable; default all)")
    parser.add_argument("--step", action="append", choices=STEPS, help="run only these steps (repeatable)")
    parser.add_argument(
        "--retain-days",
        type=float,
        default=DEFAULTS["retain_days"],
        help=f"keep snapshots younger than this (default {DEFAULTS['retain_days']:g})",
    )
    parser.add_argument(
        "--retain-last", type=int, help="always keep this many snapshots (default: the table's setting)"
    )
    parser.add_argument(
        "--orphan-days",
        type=float,
        default=DEFAULTS["orphan_days"],
        help=f"remove unreferenced files older than this (default {DEFAULTS['orphan_days']:g}, minimum 1)",
    )
    parser.add_argument(
        "--min-input-files",
        type=int,
        default=DEFAULTS["min_input_files"],
        help=f"compact a table when it has this many small files (default {DEFAULTS['min_input_files']})",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.ops.maintenance import MaintainOptions, run_maintenance

    options = MaintainOptions(
        dry_run=args.dry_run,
        tables=tuple(args.table or ()),
        steps=tuple(args.step or STEPS),
        retain_days=args.retain_days,
        retain_last=args.retain_last,
        orphan_days=args.orphan_days,
        min_input_files=args.min_input_files,
    )
    report = run_maintenance(settings, options=options)
    print(to_json(report.as_dict()) if args.json else render(report))
    return 0


def render(report: MaintainReport) -> str:
    rows = []
    for t in report.tables:
        after = t.after or t.before
        rows.append(
            (
                t.table,
                f"{t.before.data_files} -> {after.data_files}",
                f"{t.before.small_files} -> {after.small_files}",
                f"{t.before.snapshots} -> {after.snapshots}",
                human_bytes(after.bytes),
                len(t.orphan_files),
                ", ".join(f"{p.snapshot_id} ({p.reason})" for p in t.protected) or "-",
            )
        )
    head = "maintain (dry run: nothing changed)" if report.dry_run else "maintain"
    headers = ("table", "data files", "small files", "snapshots", "size", "orphans", "protected snapshots")
    lines = [head, table(headers, rows)]
    if report.dry_run:
        for t in report.tables:
            todo = [f"{step}: {detail}" for step, detail in t.steps.items()]
            todo.append(f"would expire {t.expirable_snapshots} snapshots")
            lines.append(f"  {t.table}: " + "; ".join(todo))
    lines.append(f"{len(report.tables)} tables in {report.duration_s:.1f}s")
    return "\n".join(lines)
