"""Command-line flags `schemahub ingest` and `schemahub backfill` share (commands/ingest.py,
commands/backfill.py), and turning their positional words into options."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from schemahub_lib.connectors import CONNECTORS


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "streams",
        nargs="*",
        metavar="EXCHANGE|PRODUCT",
        help=f"exchanges ({', '.join(sorted(CONNECTORS))}) and/or products (BTC-USD); default: the seed",
    )
    parser.add_argument(
        "--products",
        nargs="+",
        default=[],
        metavar="PRODUCT",
        help="products: BTC-USD or the exchange symbol",
    )
    parser.add_argument("--seed-path", help="product seed YAML (default: settings seed_path)")
    parser.add_argument("--limit", type=int, help="trades per request (default: the exchange's maximum)")
    parser.add_argument("--workers", type=int, help="streams fetched at once")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    parser.add_argument("--flush-trades", type=int, help="commit every N trades per stream")
    parser.add_argument("--flush-seconds", type=float, help="commit at least every T seconds per stream")
    parser.add_argument(
        "--http-timeout",
        dest="http_timeout_s",
        type=float,
        metavar="SECONDS",
        help="per-request read timeout",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def split_streams(args: argparse.Namespace) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(exchanges, products) from positional words and --products (comma lists allowed)."""
    words = [w for item in args.streams for w in item.split(",") if w]
    exchanges = tuple(w.lower() for w in words if w.lower() in CONNECTORS)
    products = [w for w in words if w.lower() not in CONNECTORS]
    products += [w for item in args.products for w in item.split(",") if w]
    return exchanges, tuple(products)


def overrides(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """Option fields the user set (None flags keep the options' defaults)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(report), default=str, indent=2))
        return
    if report.dry_run:
        for plan in report.plan:
            print(f"{plan['exchange']:9} {plan['product']:10} {plan.get('mode') or plan.get('error')}")
            print(f"{'':20} state: {plan['state']}")
            if "expected_pages" in plan:
                print(
                    f"{'':20} ~{plan['expected_trades']:,} trades, ~{plan['expected_pages']:,} pages, "
                    f"~{plan['seconds_at_rate_limit']:,.0f}s at the rate limit"
                )
        for exchange in sorted({p["exchange"] for p in report.plan}):
            plans = [p for p in report.plan if p["exchange"] == exchange and "expected_pages" in p]
            seconds = [p["seconds_at_rate_limit"] for p in plans]
            # A per-product limit (Kraken's Trades) runs streams side by side; an IP-wide one adds up.
            per_product = CONNECTORS[exchange].rate_scope == "product"
            total = max(seconds, default=0) if per_product else sum(seconds)
            pages = sum(p["expected_pages"] for p in plans)
            print(f"{exchange}: ~{pages:,} pages, ~{total:,.0f}s at the exchange's rate limit")
        pages = sum(p.get("expected_pages", 0) for p in report.plan)
        print(f"dry run: {len(report.plan)} streams, ~{pages:,} pages; nothing written")
        return
    print(f"run {report.run_id}")
    for s in report.streams:
        lag = "-" if s.lag_seconds is None else f"{s.lag_seconds:,.0f}s"
        line = (
            f"  {s.exchange:9} {s.product:10} {s.status:10} trades {s.trades:>9,}  rejects {s.rejects:>4}  "
            f"pages {s.pages:>6,}  retries {s.retries:>3}  lag {lag}"
        )
        print(line + (f"\n    {s.error}" if s.error else ""))
