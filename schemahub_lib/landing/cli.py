"""Command-line flags `schemahub ingest` and `schemahub backfill` share (commands/ingest.py,
commands/backfill.py), and turning their positional words into options."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.errors import ConfigError
from schemahub_lib.timespec import iso_ns


def positive(kind: type[int] | type[float], unit: str = "") -> Any:
    """An argparse `type=` for a count or duration that must be above zero (exit 2 otherwise)."""

    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0{unit}, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert


def _page_maxima() -> str:
    return ", ".join(f"{name} {cls.max_page_limit}" for name, cls in CONNECTORS.items())


def page_size(text: str) -> int:
    """An argparse `type=` for --limit: 1 up to the largest page any exchange serves (each
    exchange's own maximum is checked once the streams are known, `check_limit`)."""
    top = max(cls.max_page_limit for cls in CONNECTORS.values())
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of trades, got {text!r}") from None
    if not 1 <= value <= top:
        raise argparse.ArgumentTypeError(
            f"{text} trades per request: give 1..{top}; the exchanges' page maxima: {_page_maxima()}"
        )
    return value


def add_common(parser: argparse.ArgumentParser, defaults: Mapping[str, Any]) -> None:
    """The flags ingest and backfill share; `defaults` are the command's options' defaults
    (workers, flush_trades, flush_seconds), shown in --help."""
    parser.add_argument(
        "streams",
        nargs="*",
        metavar="EXCHANGE|PRODUCT",
        help=f"exchanges ({', '.join(CONNECTORS)}) and/or products (BTC-USD); default: the seed",
    )
    parser.add_argument(
        "--products",
        nargs="+",
        default=[],
        metavar="PRODUCT",
        help="products: BTC-USD or the exchange symbol",
    )
    parser.add_argument("--seed-path", help="product seed YAML (default: settings seed_path)")
    parser.add_argument(
        "--limit",
        type=page_size,
        metavar="N",
        help=f"trades per request (default: the exchange's maximum: {_page_maxima()})",
    )
    parser.add_argument(
        "--workers",
        type=positive(int),
        metavar="N",
        help=f"streams fetched at once (default: {defaults['workers']})",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    parser.add_argument(
        "--flush-trades",
        type=positive(int),
        metavar="N",
        help=f"commit every N trades per stream (default: {defaults['flush_trades']:,})",
    )
    parser.add_argument(
        "--flush-seconds",
        type=positive(float, " seconds"),
        metavar="SECONDS",
        help=f"commit at least every SECONDS per stream (default: {defaults['flush_seconds']:g})",
    )
    parser.add_argument(
        "--http-timeout",
        dest="http_timeout_s",
        type=positive(float, " seconds"),
        metavar="SECONDS",
        help=f"per-request read timeout (default: {DEFAULT_READ_TIMEOUT_S:g})",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


# http.py's DEFAULT_TIMEOUT read timeout; copied so --help does not load the HTTP layer
# (tests/test_cli.py checks they agree).
DEFAULT_READ_TIMEOUT_S = 30.0


def split_streams(args: argparse.Namespace) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(exchanges, products) from positional words and --products (comma lists allowed).

    A lower-case word that names no exchange is an unknown exchange (products are spelled
    BTC-USD or with the exchange's own upper-case symbol)."""
    words = [w for item in args.streams for w in item.split(",") if w]
    unknown = [w for w in words if w.isalpha() and w.islower() and w not in CONNECTORS]
    if unknown:
        raise ConfigError(
            f"unknown exchange {', '.join(map(repr, unknown))}; known: {', '.join(sorted(CONNECTORS))} "
            "(products are spelled BTC-USD or with the exchange's symbol, e.g. BTCUSDT)"
        )
    exchanges = tuple(w.lower() for w in words if w.lower() in CONNECTORS)
    products = [w for w in words if w.lower() not in CONNECTORS]
    products += [w for item in args.products for w in item.split(",") if w]
    return exchanges, tuple(products)


def check_limit(limit: int | None, exchanges: Sequence[str]) -> None:
    """--limit against each exchange's page maximum (the connector class's `max_page_limit`),
    before any request. No exchanges named: every registered one."""
    if limit is None:
        return
    for name in exchanges or CONNECTORS:
        top = CONNECTORS[name].max_page_limit
        if not 1 <= limit <= top:
            raise ConfigError(
                f"--limit {limit}: {name} pages hold at most {top} trades "
                f"({CONNECTORS[name].__name__}.max_page_limit); give 1..{top}"
            )


def check_not_future(flag: str, ns: int | None, now_ns: int, consequence: str) -> None:
    """A time a run cannot reach yet is an input error, not an empty run."""
    if ns is not None and ns > now_ns:
        raise ConfigError(
            f"{flag} {iso_ns(ns)} is in the future (now {iso_ns(now_ns)}): {consequence}; "
            "give a time up to now"
        )


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
            if plan.get("expected_trades") == 0:
                print(f"{'':20} nothing due: no trade to fetch")
            elif "expected_pages" in plan:
                print(
                    f"{'':20} ~{plan['expected_trades']:,} trades, ~{plan['expected_pages']:,} pages, "
                    f"~{plan['seconds_at_rate_limit']:,.0f}s at the rate limit"
                )
        wall = 0.0  # exchanges are fetched side by side: the slowest one sets the duration
        for exchange in sorted({p["exchange"] for p in report.plan}):
            plans = [p for p in report.plan if p["exchange"] == exchange and "expected_pages" in p]
            seconds = [p["seconds_at_rate_limit"] for p in plans]
            # A per-product limit (Kraken's Trades) runs streams side by side; an IP-wide one adds up.
            per_product = CONNECTORS[exchange].rate_scope == "product"
            total = max(seconds, default=0) if per_product else sum(seconds)
            wall = max(wall, total)
            pages = sum(p["expected_pages"] for p in plans)
            print(f"{exchange}: ~{pages:,} pages, ~{total:,.0f}s at the exchange's rate limit")
        pages = sum(p.get("expected_pages", 0) for p in report.plan)
        print(f"dry run: {len(report.plan)} streams, ~{pages:,} pages; nothing written")
        if any("oldest_trade_id" in p for p in report.plan):  # a backfill plan
            print(glue_cost_line(wall, sum(p.get("expected_trades", 0) for p in report.plan)))
        return
    print(f"run {report.run_id}")
    for s in report.streams:
        lag = "-" if s.lag_seconds is None else f"{s.lag_seconds:,.0f}s"
        line = (
            f"  {s.exchange:9} {s.product:10} {s.status:10} trades {s.trades:>9,}  rejects {s.rejects:>4}  "
            f"pages {s.pages:>6,}  retries {s.retries:>3}  lag {lag}"
        )
        print(line + (f"\n    {s.error}" if s.error else ""))


def glue_cost_line(seconds: float, trades: int) -> str:
    """What the backfill would cost as the Glue job of glue_deploy/deployment.yaml."""
    from schemahub_lib.deploy.config import load_deployment
    from schemahub_lib.deploy.cost import backfill_cost
    from schemahub_lib.errors import ConfigError

    try:
        return backfill_cost(seconds, trades, load_deployment())
    except ConfigError as exc:
        return f"Glue cost: not estimated ({exc})"
