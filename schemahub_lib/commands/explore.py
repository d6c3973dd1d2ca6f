"""`schemahub explore`: the local web app (volatility replay, live discrepancies, lakehouse stats).

schemahub explore --warehouse warehouse/demo     # http://127.0.0.1:8050
schemahub explore --port 9000
schemahub explore --live                         # also poll every seed venue and stream discrepancies
schemahub explore --host 0.0.0.0                 # reachable from other machines: no authentication!

It reads the lakehouse through the read API (no JVM); it listens on 127.0.0.1 unless --host.
--live lands every seed stream while it runs; on stop (Ctrl-C, SIGTERM) it prints what each
stream landed and exits 1 when one ended failed (an error still unrecovered when it stopped).
"""

from __future__ import annotations

import argparse
import sys

from schemahub_lib.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explore",
        help="local web app: spike replay with lead-lag, live cross-venue discrepancies, stats",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"listen address (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)"
    )
    parser.add_argument("--live", action="store_true", help="poll every seed venue and stream discrepancies")
    parser.add_argument("--threshold-bps", type=float, default=20.0, help="live: flag spreads above this")
    parser.add_argument("--stale-s", type=float, default=15.0, help="live: flag a venue silent this long")
    parser.add_argument(
        "--flush-s", type=float, default=30.0, help="live: land what came in every this many seconds"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.explore.server import serve

    if args.host != DEFAULT_HOST:
        print(
            f"WARNING: schemahub explore listens on {args.host}, not loopback: anyone who can reach "
            "this address can read the lakehouse through it (there is no authentication).",
            file=sys.stderr,
            flush=True,
        )
    live_options = {"threshold_bps": args.threshold_bps, "stale_s": args.stale_s, "flush_s": args.flush_s}
    return serve(
        settings, host=args.host, port=args.port, live=args.live, **(live_options if args.live else {})
    )
