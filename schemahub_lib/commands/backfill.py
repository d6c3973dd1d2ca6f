"""`schemahub backfill [EXCHANGE|PRODUCT...]`: walk history below what is landed."""

from __future__ import annotations

import argparse
import time
from typing import Any

from schemahub_lib.landing.cli import (
    add_common,
    check_limit,
    check_not_future,
    overrides,
    print_report,
    split_streams,
)
from schemahub_lib.settings import Settings
from schemahub_lib.timespec import time_arg, to_ns

# BackfillOptions' defaults, for --help without importing the landing code (tests check they agree).
DEFAULTS = {"workers": 1, "flush_trades": 100_000, "flush_seconds": 120.0}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "backfill",
        help="land the history of the seed's products, below what is landed",
        description="Walk each stream's history below its lowest landed trade down to --since or the "
        "start of the exchange's history. Flushes every --flush-trades trades or --flush-seconds, "
        "each flush one snapshot with its checkpoint. Times: ISO 8601 (2026-11-01), epoch seconds "
        "or milliseconds, or a span before now (90m, 24h, 7d). Exits 1 when a stream failed, "
        "2 on bad input.",
    )
    add_common(parser, DEFAULTS)
    parser.add_argument("--resume", action="store_true", help="continue an interrupted backfill")
    parser.add_argument(
        "--since",
        metavar="TIME",
        type=time_arg("--since"),
        help="oldest trade time to reach (default: the start of the exchange's history)",
    )
    parser.add_argument(
        "--until",
        metavar="TIME",
        type=time_arg("--until"),
        help="newest trade time, for streams with nothing landed (default: now)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars (default: when stderr is a terminal; otherwise a line per stream every 10 s)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.landing.backfill import BackfillOptions, run_backfill

    exchanges, products = split_streams(args)
    check_limit(args.limit, exchanges)
    since_ns = None if args.since is None else to_ns(args.since)
    check_not_future("--since", since_ns, time.time_ns(), "there is no history after now to backfill")
    options = BackfillOptions(
        exchanges=exchanges,
        products=products,
        resume=args.resume,
        dry_run=args.dry_run,
        since_ns=since_ns,
        until_ns=None if args.until is None else to_ns(args.until),
        progress=args.progress,
        progress_lines="json" if args.json else "text",
        **overrides(
            args, ["seed_path", "limit", "workers", "flush_trades", "flush_seconds", "http_timeout_s"]
        ),
    )
    report = run_backfill(settings, options)
    print_report(report, args.json)
    return report.exit_code
