"""The `schemahub` command line (also `python -m schemahub_lib.cli`).

Each subcommand lives in `schemahub_lib/commands/<module>.py` with `register(subparsers)`;
its handler gets the parsed args and the resolved `Settings` and returns an exit code.
Config flows one way: flags here -> `load_settings` -> library functions.

Building the parser imports no heavy library (pyarrow, pyiceberg, pyspark, boto3): command
modules import those inside their handlers, so `--help` and bad input answer at once.
Exit codes: 0 ok, 1 a finding or a failed stream (per command), 2 bad input or an error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.errors import SchemaHubError
from schemahub_lib.settings import load_settings

# Subcommand modules under schemahub_lib.commands, in `schemahub --help` order.
COMMAND_MODULES = (
    "init",
    "seed",
    "ingest",
    "backfill",
    "unify",
    "status",
    "audit",
    "maintain",
    "query",
    "sim",
    "explore",
    "deploy",
)

# Commands that only read and write their result: see `entry`.
QUICK_EXIT_COMMANDS = frozenset({"query"})

# The seeds' spelling: `schemahub run ingest binance coinbase`, `schemahub run unify trades_unified`.
RUN_ALIASES = ("ingest", "backfill", "unify", "pipeline")
UNIFIED_TABLE = "trades_unified"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schemahub",
        description="Complete, deduplicated crypto trade history in an Apache Iceberg lakehouse.",
        epilog="`schemahub COMMAND --help` says what a command does. Times (--since, --until, "
        "--as-of): ISO 8601, epoch seconds or milliseconds, or a span before now (90m, 24h, 7d). "
        "Exit codes: 0 ok; 1 a failed stream (ingest, backfill), findings (audit, repair) or "
        "trouble (status); 2 bad input or an error.",
    )
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"schemahub_lib.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"schemahub_lib.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    _register_run_alias(sub)
    for subparser in sub.choices.values():
        # `schemahub init --warehouse W` works as well as `schemahub --warehouse W init`.
        _add_global_options(subparser, default=argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    """The settings flags; on a subcommand they default to SUPPRESS so they never hide the
    value given before the subcommand, and a flag the subcommand defines itself wins."""
    options: list[tuple[tuple[str, ...], dict[str, object]]] = [
        (("--config",), {"help": "YAML config file (default: $SCHEMAHUB_CONFIG)"}),
        (("--profile",), {"choices": ["local", "aws"], "help": "catalog profile (default local)"}),
        (("--warehouse",), {"help": "local folder or s3:// warehouse (default ./warehouse)"}),
    ]
    for exchange, connector in CONNECTORS.items():
        help_text = f"{exchange} API base URL (default {connector.default_base_url})"
        options.append(
            ((f"--{exchange}-url",), {"dest": f"{exchange}_url", "metavar": "URL", "help": help_text})
        )
    options.append((("-v", "--verbose"), {"action": "store_true", "help": "debug logging"}))
    taken = set(parser._option_string_actions)
    for flags, kwargs in options:
        if taken.isdisjoint(flags):
            unset = False if default is None and kwargs.get("action") == "store_true" else default
            parser.add_argument(*flags, default=unset, **kwargs)  # type: ignore[arg-type]


def _register_run_alias(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`run` only for --help and mistakes: `run VERB ...` is rewritten to `VERB ...` before
    parsing (`_rewrite_run_alias`), so its handler is never reached with a valid verb."""
    parser = sub.add_parser(
        "run",
        help=f"the seeds' spelling of {', '.join(RUN_ALIASES)}: `run ingest binance`",
        description="`schemahub run VERB ARGS...` is `schemahub VERB ARGS...` for VERB in "
        f"{', '.join(RUN_ALIASES)}; `run unify {UNIFIED_TABLE}` and `run pipeline {UNIFIED_TABLE}` "
        "name the table they write. `schemahub run VERB --help` shows VERB's options.",
        epilog="examples: schemahub run ingest binance coinbase; schemahub run unify trades_unified",
    )
    parser.add_argument("verb", choices=RUN_ALIASES, help="the command to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    parser.set_defaults(handler=lambda args, settings: 2)


def _rewrite_run_alias(argv: list[str]) -> list[str]:
    """`run ingest a b` -> `ingest a b`; `run unify trades_unified` -> `unify`."""
    if "run" not in argv:
        return argv
    i = argv.index("run")
    rest = argv[i + 1 :]
    if not rest or rest[0] not in RUN_ALIASES:
        return argv
    verb, args = rest[0], rest[1:]
    if verb in ("unify", "pipeline") and args[:1] == [UNIFIED_TABLE]:
        args = args[1:]
    return [*argv[:i], verb, *args]


def main(argv: Sequence[str] | None = None) -> int:
    return _run(_parse(argv))


def entry() -> None:
    """The `schemahub` console script: `main` on the process's arguments, then exit.

    A command in QUICK_EXIT_COMMANDS ends the process without the interpreter's teardown once
    its output is flushed (os._exit): it holds no open writes, child processes or
    background work by then, and freeing PyIceberg, PyArrow, pandas and DuckDB module by module
    took ~0.3 s of a ~1.5 s `schemahub query`. Every other command exits normally (Spark's
    JVM, landing's commits and the explorer's server stop in their own exit handlers).
    """
    args = _parse(None)
    code = _run(args)
    if args.command not in QUICK_EXIT_COMMANDS:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # the reader left (`| head`)
            stream.flush()
    os._exit(code)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    argv = _rewrite_run_alias(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    return args


def _run(args: argparse.Namespace) -> int:
    urls = {x: getattr(args, f"{x}_url") for x in CONNECTORS if getattr(args, f"{x}_url", None)}
    try:
        settings = load_settings(
            args.config,
            profile=args.profile,
            warehouse=args.warehouse,
            exchange_urls=urls or None,
        )
        return int(args.handler(args, settings) or 0)
    except SchemaHubError as exc:
        print(f"schemahub {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"schemahub {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    entry()
