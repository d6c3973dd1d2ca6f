"""`schemahub backfill [EXCHANGE|PRODUCT...]`: walk history below what is landed."""

from __future__ import annotations

import argparse
from typing import Any

from schemahub_lib.landing.backfill import BackfillOptions, run_backfill
from schemahub_lib.landing.cli import add_common, overrides, print_report, split_streams
from schemahub_lib.landing.context import parse_time
from schemahub_lib.settings import Settings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "backfill",
        help="land the history of the seed's products, below what is landed",
        description="Walk each stream's history below its lowest landed trade down to --since or the "
        "start of the exchange's history. Flushes every --flush-trades trades or --flush-seconds, "
        "each flush one snapshot with its checkpoint.",
    )
    add_common(parser)
    parser.add_argument("--resume", action="store_true", help="continue an interrupted backfill")
    parser.add_argument("--since", metavar="TIME", help="oldest trade time to reach (ISO 8601 or epoch s)")
    parser.add_argument("--until", metavar="TIME", help="newest trade time, for streams with nothing landed")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars (default: on a tty)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    exchanges, products = split_streams(args)
    options = BackfillOptions(
        exchanges=exchanges,
        products=products,
        resume=args.resume,
        dry_run=args.dry_run,
        since_ns=None if args.since is None else parse_time(args.since, "--since"),
        until_ns=None if args.until is None else parse_time(args.until, "--until"),
        progress=args.progress,
        **overrides(
            args, ["seed_path", "limit", "workers", "flush_trades", "flush_seconds", "http_timeout_s"]
        ),
    )
    report = run_backfill(settings, options)
    print_report(report, args.json)
    return report.exit_code
