"""`schemahub unify` and `schemahub pipeline` (ingest, then unify).

`schemahub run unify trades_unified` and `schemahub run pipeline trades_unified` (the seeds'
spelling) reach the same handlers through cli.py's alias rewrite.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from schemahub_lib.settings import Settings


def register(sub: Any) -> None:
    unify = sub.add_parser(
        "unify",
        help="map what the raw tables gained into trades_unified (one Iceberg commit)",
        description="Read what each raw table appended since the last unify, map it with "
        "mappings/*_trades.yaml, drop duplicates by (exchange, symbol, trade_id) and append the "
        "new rows to trades_unified in one snapshot that records what was consumed.",
    )
    unify.add_argument("--seed-path", help="product seed YAML (default: settings seed_path)")
    unify.add_argument("--json", action="store_true", help="print the report as JSON")
    unify.add_argument("--dry-run", action="store_true", help="read, map and check; write nothing")
    _add_mappings_dir(unify)
    unify.set_defaults(handler=run)

    pipeline = sub.add_parser(
        "pipeline",
        help="ingest, then unify when due (what the Glue pipeline job runs)",
        description="`schemahub ingest` (same arguments) then `schemahub unify`, through "
        "schemahub_lib.pipeline.run_pipeline, the code jobs/pipeline_job.py runs on Glue. The "
        "mappings are validated first, so a bad mapping stops the pipeline before anything lands. "
        "With --unify-every-minutes, unify runs only when the last unify commit on trades_unified "
        "is at least 90% of that old. Unify runs even if some streams failed (what landed is "
        "committed and consistent); the exit code is then ingest's. --dry-run lands nothing and "
        "unifies as a dry run.",
    )
    ingest_command().register(_Into(pipeline))  # ingest's own flags, kept in step with it
    _add_mappings_dir(pipeline)
    pipeline.add_argument(
        "--unify-every-minutes",
        type=float,
        metavar="MINUTES",
        help="unify only when the last unify commit is this old (default: every run unifies)",
    )
    pipeline.set_defaults(handler=run_pipeline)


class _Into:
    """Stands in for the subparsers object so `schemahub ingest`'s register() adds its flags
    to the pipeline parser."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def add_parser(self, *_: Any, **__: Any) -> argparse.ArgumentParser:
        return self.parser


def ingest_command() -> Any:
    import importlib

    return importlib.import_module("schemahub_lib.commands.ingest")


def _add_mappings_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mappings-dir", help="folder of <exchange>_trades.yaml (default: settings)")


def _settings(args: argparse.Namespace, settings: Settings) -> Settings:
    changes = {k: getattr(args, k) for k in ("seed_path", "mappings_dir") if getattr(args, k, None)}
    return dataclasses.replace(settings, **changes)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.unify import run_unify

    report = run_unify(_settings(args, settings), dry_run=args.dry_run)
    if args.json:
        print(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        print_unify_report(report)
    return 0


def run_pipeline(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.landing.cli import print_report
    from schemahub_lib.pipeline import PipelineOptions
    from schemahub_lib.pipeline import run_pipeline as pipeline

    options = PipelineOptions(ingest_command().ingest_options(args), args.unify_every_minutes)
    report = pipeline(_settings(args, settings), options)
    if args.json:  # one JSON document for both steps
        document = {
            "ingest": dataclasses.asdict(report.ingest),
            "unify": None if report.unify is None else dataclasses.asdict(report.unify),
            "unify_reason": report.unify_reason,
        }
        print(json.dumps(document, default=str, indent=2))
        return report.exit_code
    print_report(report.ingest, False)
    if report.unify is None:
        print(f"unify not due: {report.unify_reason}")
    else:
        print_unify_report(report.unify)
    return report.exit_code


def print_unify_report(report: Any) -> None:
    what = "dry run" if report.dry_run else f"snapshot {report.snapshot_id or 'none (nothing new)'}"
    print(
        f"unify {report.run_id}: read {report.rows_read:,}, inserted {report.rows_inserted:,}, "
        f"duplicates dropped {report.duplicates_dropped:,}; {what} ({report.seconds:.1f}s, "
        f"{report.attempts} attempt{'s' if report.attempts != 1 else ''})"
    )
    for s in report.sources:
        span = f"({s.start_snapshot or '-'}, {s.end_snapshot or '-'}]"
        print(f"  {s.table:22} {s.mode:11} {span:45} rows {s.rows_read:>10,}")
        if s.mode == "fallback":
            print(f"    {s.reason}")
