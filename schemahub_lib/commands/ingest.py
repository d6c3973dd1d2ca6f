"""`schemahub ingest [EXCHANGE|PRODUCT...]`: land every trade after each stream's watermark."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:  # `schemahub --help` must not load the landing code
    from schemahub_lib.landing.ingest import IngestOptions

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
# IngestOptions' defaults, for --help without importing the landing code (tests check they agree).
DEFAULTS = {"workers": 4, "flush_trades": 100_000, "flush_seconds": 60.0}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "ingest",
        help="land new trades after each stream's watermark (the scheduled micro-batch)",
        description="Land every trade after each stream's watermark; a stream without one lands "
        "the cold-start window. Data and watermark commit in one Iceberg snapshot. Exits 1 when "
        "a stream failed (the others still land), 2 on bad input.",
    )
    add_common(parser, DEFAULTS)
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
        help="cap a long catch-up: skip (and record) trades older than this (default: no cap)",
    )
    parser.add_argument(
        "--cold-start-minutes",
        type=float,
        metavar="MINUTES",
        help="window of a stream's first run (default: settings cold_start_minutes, 90)",
    )
    parser.add_argument(
        "--as-of",
        metavar="TIME",
        type=time_arg("--as-of"),
        help="treat TIME as now (ISO 8601, epoch s or ms, or a span before now like 1h; default: now)",
    )
    parser.set_defaults(handler=run)


def ingest_options(args: argparse.Namespace) -> IngestOptions:
    """IngestOptions from ingest's flags (also `schemahub pipeline`'s), checked before any request."""
    from schemahub_lib.landing.ingest import IngestOptions

    exchanges, products = split_streams(args)
    check_limit(args.limit, exchanges)
    as_of_ns = None if args.as_of is None else to_ns(args.as_of)
    check_not_future("--as-of", as_of_ns, time.time_ns(), "no trade is due yet")
    return IngestOptions(
        exchanges=exchanges,
        products=products,
        skip_checkpoint=args.skip_checkpoint,
        dry_run=args.dry_run,
        as_of_ns=as_of_ns,
        **overrides(args, OPTION_FLAGS),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.landing.ingest import run_ingest

    report = run_ingest(settings, ingest_options(args))
    print_report(report, args.json)
    return report.exit_code
