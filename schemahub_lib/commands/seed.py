"""`schemahub update-seed`: refresh the product seed file.

    schemahub update-seed                          # print the current (or default) seed
    schemahub update-seed --fetch --write          # all exchanges' tradable markets -> file
    schemahub update-seed --fetch kraken --filter-regex '.*-USD' --merge --dry-run

Sources: `--fetch` asks each exchange's discovery endpoint; otherwise the current file (or the
built-in default seed when there is no file). Only the named exchanges (default: all) change;
other sections of the file are kept. `--merge` adds to an exchange's section instead of
replacing it. Without `--write` the result is printed; `--dry-run` prints the diff and writes
nothing.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from schemahub_lib.connectors import CONNECTORS, load_connector, unknown_exchange
from schemahub_lib.connectors.base import Product
from schemahub_lib.errors import ConfigError
from schemahub_lib.http import new_session
from schemahub_lib.seed import DEFAULT_SEED, read_seed, render_seed, utc_stamp, write_seed
from schemahub_lib.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "update-seed",
        help="refresh the product seed file from the exchanges",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "exchanges", nargs="*", metavar="EXCHANGE", help=f"any of {', '.join(CONNECTORS)} (default all)"
    )
    parser.add_argument("--fetch", action="store_true", help="query the exchanges' product endpoints")
    parser.add_argument("--write", action="store_true", help="write the seed file (default: print it)")
    parser.add_argument(
        "--filter-regex", metavar="REGEX", help="keep canonical symbols that fully match, e.g. '.*-USD'"
    )
    parser.add_argument(
        "--merge", action="store_true", help="add to the existing sections instead of replacing them"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be written and the diff; write nothing"
    )
    parser.add_argument("--path", "--seed-path", dest="path", help="seed file (default: settings seed_path)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path or settings.seed_path)
    names = list(dict.fromkeys(args.exchanges)) or list(CONNECTORS)
    unknown = [n for n in names if n not in CONNECTORS]
    if unknown:
        raise unknown_exchange(unknown[0])
    pattern = _compile(args.filter_regex)

    current = read_seed(path) if path.exists() else {}
    old_text = path.read_text() if path.exists() else ""
    if args.fetch:
        session = new_session()
        source = {name: load_connector(name, settings, session).list_products() for name in names}
    else:
        source = {
            name: list(current[name].products) if name in current else DEFAULT_SEED[name] for name in names
        }

    result: dict[str, list[Product]] = {name: list(section.products) for name, section in current.items()}
    for name in names:
        chosen = [p for p in source[name] if pattern is None or pattern.fullmatch(p.symbol)]
        result[name] = merge(result.get(name, []), _unique(chosen)) if args.merge else _unique(chosen)
    ordered = {name: result[name] for name in [*CONNECTORS, *result] if name in result}

    now = utc_stamp()
    stamps = {}
    for name, products in ordered.items():
        unchanged = name in current and list(current[name].products) == products
        stamps[name] = (current[name].last_updated if unchanged else None) or now
    new_text = render_seed(ordered, stamps)

    summary = ", ".join(f"{name} {len(products)}" for name, products in ordered.items())
    if args.dry_run:
        diff = difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            f"{path} (current)",
            f"{path} (new)",
        )
        sys.stdout.write("".join(diff) or f"{path}: no changes\n")
        print(f"dry run: would write {path} ({summary}); nothing written", file=sys.stderr)
        return 0
    if args.write:
        write_seed(path, ordered, last_updated=stamps)
        print(f"wrote {path} ({summary})", file=sys.stderr)
        return 0
    sys.stdout.write(new_text)
    return 0


def merge(existing: Sequence[Product], new: Sequence[Product]) -> list[Product]:
    """Existing products in their order, refreshed by `new` where the symbol matches, then
    the new symbols sorted."""
    fresh = {p.symbol: p for p in new}
    merged = [fresh.pop(p.symbol, p) for p in existing]
    return merged + sorted(fresh.values(), key=lambda p: p.symbol)


def _unique(products: Sequence[Product]) -> list[Product]:
    # The seed is keyed by canonical symbol, so if a venue lists one market twice the first wins.
    seen: dict[str, Product] = {}
    for product in products:
        seen.setdefault(product.symbol, product)
    return list(seen.values())


def _compile(regex: str | None) -> re.Pattern[str] | None:
    if regex is None:
        return None
    try:
        return re.compile(regex)
    except re.error as exc:
        raise ConfigError(f"--filter-regex {regex!r} is not a valid regular expression: {exc}") from exc
