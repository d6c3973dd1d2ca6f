"""`schemahub sim fault add|list|clear`: fault rules on a running simulator, over its admin API.

    schemahub sim fault add --kind rate_limit --exchange binance --count 3
    schemahub sim fault add --kind html --exchange coinbase --status 502 --forever
    schemahub sim fault add --kind drop --exchange kraken --product XBTUSD --skip 4 --drop 5
    schemahub sim fault list [--json]
    schemahub sim fault clear

The simulator is the one `schemahub sim serve` started (`--sim URL`, default
http://127.0.0.1:8765); its rules live in that process (POST/GET/DELETE /_sim/faults).
"""

from __future__ import annotations

import argparse
import json
import textwrap
import urllib.error
import urllib.request
from typing import Any

from schemahub_lib.errors import ConfigError
from schemahub_lib.ops.text import table
from schemahub_lib.settings import Settings
from schemahub_lib.sim.catalog import EXCHANGES
from schemahub_lib.sim.faults import INVALID_VARIANTS, KINDS, FaultRule

DEFAULT_SIM_URL = "http://127.0.0.1:8765"
SCHEDULE = ("skip", "count", "rate")
PARAMETERS = ("status", "retry_after", "delay_s", "fraction", "mode", "shift", "drop", "variant")


def fault_kinds_help() -> str:
    """The kinds and the parameters each reads, as FaultRule documents them."""
    doc = FaultRule.__doc__ or ""
    start = doc.index("Kinds and the parameters they read:")
    body = textwrap.dedent(doc[start:].split("\n", 1)[1]).strip("\n").rstrip()
    return "fault kinds (schemahub sim fault add --kind KIND ...):\n" + textwrap.indent(body, "  ")


def register(sim_sub: Any) -> None:
    fault = sim_sub.add_parser(
        "fault",
        help="add, list or clear fault rules on a running simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = fault.add_subparsers(dest="fault_command", metavar="ACTION")
    actions.required = True

    add = actions.add_parser(
        "add",
        help="add one fault rule",
        description="Add a fault rule: matching requests pass --skip times, then up to --count "
        "of them fire (each with probability --rate).",
        epilog=fault_kinds_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("--kind", required=True, choices=KINDS, help="what the fault does (see below)")
    add.add_argument(
        "--exchange", required=True, choices=("*", *EXCHANGES), help="the venue it hits, * for any"
    )
    add.add_argument(
        "--endpoint", help="endpoint name, e.g. historicalTrades; * any (default: the trade-list endpoints)"
    )
    add.add_argument("--product", help="venue symbol in any accepted spelling (default: any product)")
    add.add_argument("--skip", type=int, help="matching requests that pass first (default 0)")
    when = add.add_mutually_exclusive_group()
    when.add_argument("--count", type=int, help="how many times it fires (default 1)")
    when.add_argument("--forever", action="store_true", help="fire on every matching request")
    add.add_argument("--rate", type=float, help="probability each matching request fires (default 1)")
    add.add_argument("--status", type=int, help="HTTP status for server_error and html")
    add.add_argument("--retry-after", type=float, metavar="SECONDS", help="rate_limit and ban")
    add.add_argument("--delay-s", type=float, metavar="SECONDS", help="timeout: answer after (default 30)")
    add.add_argument("--fraction", type=float, help="truncated: share of the body sent (default 0.5)")
    add.add_argument("--mode", choices=("json", "short_read"), help="truncated: how the body is cut")
    add.add_argument("--shift", type=int, help="overlap: trades the page starts early by (default 10)")
    add.add_argument("--drop", type=int, help="drop: trades left out of the page (default 1)")
    add.add_argument("--variant", choices=INVALID_VARIANTS, help="invalid: which corruption")
    add.set_defaults(handler=add_command)

    listing = actions.add_parser("list", help="the active rules with how often each matched and fired")
    listing.set_defaults(handler=list_command)
    clear = actions.add_parser("clear", help="remove every rule (and what they hid from ground truth)")
    clear.set_defaults(handler=clear_command)
    for parser in (add, listing, clear):
        parser.add_argument(
            "--sim", default=DEFAULT_SIM_URL, metavar="URL", help=f"the simulator (default {DEFAULT_SIM_URL})"
        )
        parser.add_argument("--json", action="store_true", help="print the rules as JSON")


def rule_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The rule object the admin API takes, with only the fields given."""
    rule: dict[str, Any] = {"kind": args.kind, "exchange": args.exchange}
    for name in ("endpoint", "product", *SCHEDULE, *PARAMETERS):
        value = getattr(args, name, None)
        if value is not None:
            rule[name] = value
    if args.forever:
        rule["count"] = None
    FaultRule.from_dict(dict(rule))  # the simulator's own checks, before any request
    return rule


def add_command(args: argparse.Namespace, settings: Settings) -> int:
    answer = admin(args.sim, "POST", rule_from_args(args))
    return _print(answer["rules"], args.json, "added")


def list_command(args: argparse.Namespace, settings: Settings) -> int:
    return _print(admin(args.sim, "GET")["rules"], args.json, "active")


def clear_command(args: argparse.Namespace, settings: Settings) -> int:
    admin(args.sim, "DELETE")
    if args.json:
        print(json.dumps({"rules": []}))
    else:
        print(f"{args.sim}: no fault rules")
    return 0


def admin(root: str, method: str, payload: Any = None) -> Any:
    """One call to <root>/_sim/faults; errors name the URL and what the simulator said."""
    url = f"{root.rstrip('/')}/_sim/faults"
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        try:
            said = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            said = body[:200]
        raise ConfigError(f"{method} {url}: HTTP {exc.code}: {said}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"no simulator answers at {url} ({reason}); start one with `schemahub sim serve` "
            "or pass --sim URL"
        ) from exc


def _print(rules: list[dict[str, Any]], as_json: bool, what: str) -> int:
    if as_json:
        print(json.dumps({"rules": rules}, indent=2))
        return 0
    if not rules:
        print("no fault rules")
        return 0
    rows = [
        (
            r["id"],
            r["kind"],
            r["exchange"],
            r["endpoint"] or "trades",
            r["product"] or "*",
            r["skip"],
            "forever" if r["count"] is None else r["count"],
            r["rate"],
            r["seen"],
            r["fired"],
            " ".join(f"{k}={r[k]}" for k in PARAMETERS if _reads(r["kind"], k)) or "-",
        )
        for r in rules
    ]
    headers = ("id", "kind", "exchange", "endpoint", "product", *SCHEDULE, "seen", "fired", "params")
    print(f"{len(rules)} fault rule{'s' if len(rules) != 1 else ''} {what}")
    print(table(headers, rows))
    return 0


# Which parameters each kind reads (FaultRule's docstring), so `list` shows only those.
_READS = {
    "rate_limit": ("retry_after",),
    "ban": ("retry_after",),
    "server_error": ("status",),
    "html": ("status",),
    "timeout": ("delay_s",),
    "truncated": ("fraction", "mode"),
    "overlap": ("shift",),
    "drop": ("drop",),
    "invalid": ("variant",),
}


def _reads(kind: str, parameter: str) -> bool:
    return parameter in _READS.get(kind, ())
