"""`schemahub ingest [EXCHANGE|PRODUCT...]`: land every trade after each stream's watermark."""

from __future__ import annotations

import argparse
from typing import Any

from schemahub_lib.landing.cli import add_common, overrides, print_report, split_streams
from schemahub_lib.landing.context import parse_time
from schemahub_lib.landing.ingest import IngestOptions, run_ingest
from schemahub_lib.settings import Settings

OPTION_FLAGS = (
    "seed_path",
    "limit",
    "workers",
    "flush_trades",
    "flush_seconds",
    "before_id",
    "after_id",
    "max_catch_up_minutes",
    "cold_start_minutes",
    "http_timeout_s",
)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "ingest",
        help="land new trades after each stream's watermark (the scheduled micro-batch)",
        description="Land every trade after each stream's watermark; a stream without one lands "
        "the cold-start window. Data and watermark commit in one Iceberg snapshot.",
    )
    add_common(parser)
    parser.add_argument(
        "--before", dest="before_id", type=int, metavar="TRADE_ID", help="land ids below this"
    )
    parser.add_argument("--after", dest="after_id", type=int, metavar="TRADE_ID", help="land ids above this")
    parser.add_argument(
        "--skip-checkpoint",
        action="store_true",
        help="do not resume from an old watermark: fetch only the cold-start window (never re-lands trades)",
    )
    parser.add_argument(
        "--max-catch-up",
        dest="max_catch_up_minutes",
        type=float,
        metavar="MINUTES",
        help="cap a long catch-up: skip (and record) trades older than this",
    )
    parser.add_argument(
        "--cold-start-minutes", type=float, help="window of a stream's first run (default: settings, 90)"
    )
    parser.add_argument("--as-of", metavar="TIME", help="treat TIME (ISO 8601 or epoch s) as now")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    exchanges, products = split_streams(args)
    options = IngestOptions(
        exchanges=exchanges,
        products=products,
        skip_checkpoint=args.skip_checkpoint,
        dry_run=args.dry_run,
        as_of_ns=None if args.as_of is None else parse_time(args.as_of, "--as-of"),
        **overrides(args, OPTION_FLAGS),
    )
    report = run_ingest(settings, options)
    print_report(report, args.json)
    return report.exit_code
