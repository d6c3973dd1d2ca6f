"""`schemahub sim serve`: the exchange simulator on loopback until SIGINT/SIGTERM.

Prints one line per exchange, `<exchange> <base URL>`, then serves. The admin API is under
`<root>/_sim/` (see schemahub_lib/sim/admin.py); `schemahub sim fault add|list|clear`
(commands/simfault.py) sets fault rules on a running simulator through it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from schemahub_lib.commands import simfault
from schemahub_lib.errors import ConfigError
from schemahub_lib.settings import Settings
from schemahub_lib.sim.catalog import EXCHANGES, PRODUCTS
from schemahub_lib.sim.config import LimitConfig, SimConfig, parse_duration


def register(subparsers: Any) -> None:
    sim = subparsers.add_parser("sim", help="exchange simulator: Coinbase, Binance and Kraken trade APIs")
    sub = sim.add_subparsers(dest="sim_command", metavar="SIM_COMMAND")
    sub.required = True
    serve = sub.add_parser(
        "serve",
        help="serve all three exchanges on one loopback port until stopped",
        description="Serve the Coinbase, Binance and Kraken trade APIs on one loopback port until "
        "SIGINT/SIGTERM. Prints `<exchange> <base URL>` per exchange; faults are added while it "
        "runs with `schemahub sim fault add` (kinds below).",
        epilog=simfault.fault_kinds_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one (default 8765)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--seed", type=int, default=0, help="market seed; same seed and clock, same bytes")
    serve.add_argument("--clock", choices=["real", "manual"], default="real", help="real (default) or manual")
    serve.add_argument(
        "--start", type=float, help="clock start, Unix seconds (default: now; manual: 1750000000)"
    )
    serve.add_argument(
        "--history", default="3h", help="history before the clock start, e.g. 90m, 3h (default 3h)"
    )
    serve.add_argument("--trade-rate", type=float, help="trades per second for every product")
    serve.add_argument(
        "--trade-rate-scale", type=float, default=1.0, help="multiply every product's trade rate"
    )
    serve.add_argument(
        "--product-rate",
        action="append",
        default=[],
        metavar="EXCHANGE:SYMBOL=R",
        help="trades per second for one product, e.g. binance:BTCUSDT=200 (repeatable)",
    )
    serve.add_argument(
        "--spike-at", default="-1h", help="spike start relative to the clock start (--spike-at=-1h), or none"
    )
    serve.add_argument("--spike-duration", default="10m", help="spike length (default 10m)")
    serve.add_argument("--rate-limits", choices=["real", "off", "scale"], default="real", help="default real")
    serve.add_argument(
        "--rate-limit-scale", type=float, default=1.0, help="time factor for --rate-limits scale"
    )
    serve.add_argument("--binance-weight-limit", type=int, help="REQUEST_WEIGHT per minute (default 6000)")
    serve.add_argument(
        "--id-gap-rate",
        action="append",
        default=[],
        metavar="EXCHANGE=P",
        help="probability that a trade id is skipped (never issued), e.g. coinbase=0.001 (repeatable)",
    )
    serve.add_argument("--kraken-since", choices=["inclusive", "exclusive"], default="inclusive")
    serve.add_argument(
        "--coinbase-lag-ms", type=float, help="Coinbase lag behind the fair value (default 80)"
    )
    serve.add_argument("--kraken-lag-ms", type=float, help="Kraken lag behind the fair value (default 250)")
    serve.set_defaults(handler=serve_command)
    simfault.register(sub)


def _pairs(values: list[str], flag: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        name, sep, number = item.rpartition("=")
        try:
            out[name] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ConfigError(f"{flag} expects NAME=NUMBER, got {item!r}")
    return out


def build_config(args: argparse.Namespace) -> SimConfig:
    """The SimConfig the `serve` flags describe."""
    rates = _pairs(args.product_rate, "--product-rate")
    if args.trade_rate is not None:
        rates = {f"{p.exchange}:{p.symbol}": args.trade_rate for p in PRODUCTS if p.tradable} | rates
    gaps = _pairs(args.id_gap_rate, "--id-gap-rate")
    limits = LimitConfig(mode=args.rate_limits, scale=args.rate_limit_scale)
    if args.binance_weight_limit is not None:
        limits = LimitConfig(
            mode=args.rate_limits, scale=args.rate_limit_scale, binance_weight_limit=args.binance_weight_limit
        )
    spike = None if args.spike_at.lower() == "none" else parse_duration(args.spike_at)
    return SimConfig(
        seed=args.seed,
        clock=args.clock,
        start_s=args.start,
        history_s=parse_duration(args.history),
        rate_scale=args.trade_rate_scale,
        rates=rates,
        spike_offset_s=spike,
        spike_duration_s=parse_duration(args.spike_duration),
        coinbase_lag_ms=args.coinbase_lag_ms,
        kraken_lag_ms=args.kraken_lag_ms,
        id_gap_rate=gaps,
        kraken_since_inclusive=args.kraken_since == "inclusive",
        limits=limits,
        host=args.host,
        port=args.port,
    )


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.sim.server import SimServer

    config = build_config(args)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handlers go in before the URLs are printed: a caller may signal as soon as it reads them.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim = SimServer(config)
    try:
        try:
            urls = sim.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from exc
        for exchange in EXCHANGES:
            print(f"{exchange} {urls[exchange]}", flush=True)
        print(
            f"sim: admin API at {sim.admin_url}/ (seed {config.seed}, {config.clock} clock)", file=sys.stderr
        )
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
