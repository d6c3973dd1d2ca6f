"""The product seed file: which markets to ingest, per exchange.

One section per exchange, in the seeds' format (`product_ids` + `metadata`) plus each
product's exchange symbol, base, quote and aliases:

    kraken:
      product_ids:
        - BTC-USD
      symbols:
        BTC-USD: {exchange_symbol: XBTUSD, base: BTC, quote: USD, aliases: [XXBTZUSD]}
      metadata: {source: kraken, last_updated: '2026-01-01T00:00:00Z', count: 1}

`product_ids` are canonical `BASE-QUOTE` symbols. A product without a `symbols` entry uses
its canonical symbol as the exchange symbol (right for Coinbase) and splits base/quote at the
hyphen. The seeds' original single-exchange file (top-level `product_ids`) still loads, as the
exchange named by `metadata.source`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from schemahub_lib.connectors import CONNECTORS, unknown_exchange
from schemahub_lib.connectors.base import Product
from schemahub_lib.errors import ConfigError

SECTION_KEYS = ("product_ids", "symbols", "metadata")
SYMBOL_KEYS = ("exchange_symbol", "base", "quote", "aliases")
METADATA_KEYS = ("source", "last_updated", "count")
_CANONICAL = re.compile(r"[^\s-]+-[^\s-]+")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/]*(?:-[A-Za-z0-9._/]+)?")

# The built-in seed: each connector's `default_products`.
DEFAULT_SEED: dict[str, list[Product]] = {
    name: list(cls.default_products) for name, cls in CONNECTORS.items()
}


@dataclass(frozen=True)
class SeedSection:
    """One exchange's products plus when they were last written."""

    exchange: str
    products: tuple[Product, ...]
    last_updated: str | None = None


def load_seed(path: str | os.PathLike[str]) -> dict[str, list[Product]]:
    """Products per exchange from a seed file. Raises ConfigError naming file, key and problem."""
    return {name: list(section.products) for name, section in read_seed(path).items()}


def read_seed(path: str | os.PathLike[str]) -> dict[str, SeedSection]:
    """Like `load_seed`, keeping each section's `metadata.last_updated`."""
    where = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"{where}: seed file not found; create it with `schemahub update-seed --write`"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read seed file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of exchange name -> section, got {_kind(data)}")
    if "product_ids" in data:  # the seeds' original single-exchange layout
        metadata = data.get("metadata")
        source = metadata.get("source") if isinstance(metadata, dict) else None
        if not isinstance(source, str) or not source:
            raise ConfigError(
                f"{where}: metadata.source: a single-exchange seed file names its exchange, "
                f"one of {', '.join(sorted(CONNECTORS))}"
            )
        data = {source: data}
    sections = {}
    for exchange, section in data.items():
        if exchange not in CONNECTORS:
            raise ConfigError(f"{where}: {unknown_exchange(exchange)}")
        sections[exchange] = _section(where, exchange, section)
    return sections


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _section(where: str, exchange: str, section: Any) -> SeedSection:
    if not isinstance(section, dict):
        raise ConfigError(
            f"{where}: {exchange}: expected a mapping with {', '.join(SECTION_KEYS)}, got {_kind(section)}"
        )
    unknown = sorted(set(section) - set(SECTION_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: {exchange}: unknown keys {', '.join(unknown)}; valid: {', '.join(SECTION_KEYS)}"
        )
    ids = section.get("product_ids")
    if not isinstance(ids, list) or not all(isinstance(p, str) for p in ids):
        raise ConfigError(
            f"{where}: {exchange}.product_ids: expected a list of BASE-QUOTE strings, got {ids!r}"
        )
    for i, pid in enumerate(ids):
        if not _CANONICAL.fullmatch(pid):
            raise ConfigError(f"{where}: {exchange}.product_ids[{i}]: expected BASE-QUOTE, got {pid!r}")
    dupes = sorted(p for p, n in Counter(ids).items() if n > 1)
    if dupes:
        raise ConfigError(f"{where}: {exchange}.product_ids: listed twice: {', '.join(dupes)}")
    symbols = section.get("symbols") or {}
    if not isinstance(symbols, dict):
        raise ConfigError(
            f"{where}: {exchange}.symbols: expected a mapping of product id -> symbol, got {_kind(symbols)}"
        )
    extra = sorted(set(symbols) - set(ids))
    if extra:
        raise ConfigError(f"{where}: {exchange}.symbols: {', '.join(map(str, extra))} not in product_ids")
    metadata = section.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ConfigError(f"{where}: {exchange}.metadata: expected a mapping, got {_kind(metadata)}")
    unknown = sorted(set(metadata) - set(METADATA_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: {exchange}.metadata: unknown keys {', '.join(unknown)}; "
            f"valid: {', '.join(METADATA_KEYS)}"
        )
    count = metadata.get("count")
    if count is not None and (type(count) is not int or count < 0):
        raise ConfigError(
            f"{where}: {exchange}.metadata.count: expected a non-negative integer, got {count!r}"
        )
    updated = metadata.get("last_updated")
    products = tuple(_product(where, exchange, pid, symbols.get(pid)) for pid in ids)
    return SeedSection(exchange, products, None if updated is None else str(updated))


def _product(where: str, exchange: str, pid: str, entry: Any) -> Product:
    key = f"{exchange}.symbols.{pid}"
    base, quote = pid.split("-")
    if entry is None:
        return Product(exchange, pid, pid, base, quote)
    if not isinstance(entry, dict):
        raise ConfigError(
            f"{where}: {key}: expected a mapping with {', '.join(SYMBOL_KEYS)}, got {_kind(entry)}"
        )
    unknown = sorted(set(entry) - set(SYMBOL_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: {key}: unknown keys {', '.join(unknown)}; valid: {', '.join(SYMBOL_KEYS)}"
        )
    for field in ("exchange_symbol", "base", "quote"):
        value = entry.get(field)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{where}: {key}.{field}: expected a non-empty string, got {value!r}")
    if (entry.get("base", base), entry.get("quote", quote)) != (base, quote):
        raise ConfigError(
            f"{where}: {key}: base/quote {entry.get('base', base)}/{entry.get('quote', quote)} "
            f"do not match the product id {pid} (expected {base}/{quote})"
        )
    aliases = entry.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise ConfigError(f"{where}: {key}.aliases: expected a list of strings, got {aliases!r}")
    return Product(exchange, pid, entry.get("exchange_symbol", pid), base, quote, aliases=tuple(aliases))


def _scalar(text: str) -> str:
    """Plain YAML when it reads back as the same string, else a double-quoted scalar."""
    if _PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return (
        yaml.safe_dump(text, default_style='"', allow_unicode=True, width=10_000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_seed(products: Mapping[str, Sequence[Product]], last_updated: Mapping[str, str]) -> str:
    """The seed file text: one section per exchange, product order kept."""
    lines = ["# Markets to ingest per exchange. Regenerate: schemahub update-seed --fetch --write", ""]
    for i, (exchange, items) in enumerate(products.items()):
        if i:
            lines.append("")
        lines.append(f"{exchange}:")
        lines.append("  product_ids:" + ("" if items else " []"))
        lines.extend(f"    - {_scalar(p.symbol)}" for p in items)
        lines.append("  symbols:" + ("" if items else " {}"))
        for p in items:
            fields = [
                f"exchange_symbol: {_scalar(p.exchange_symbol)}",
                f"base: {_scalar(p.base)}",
                f"quote: {_scalar(p.quote)}",
            ]
            if p.aliases:
                fields.append(f"aliases: [{', '.join(_scalar(a) for a in p.aliases)}]")
            lines.append(f"    {_scalar(p.symbol)}: {{{', '.join(fields)}}}")
        stamp = last_updated.get(exchange) or utc_stamp()
        lines.append(
            f"  metadata: {{source: {_scalar(exchange)}, last_updated: '{stamp}', count: {len(items)}}}"
        )
    return "\n".join(lines) + "\n"


def write_seed(
    path: str | os.PathLike[str],
    products: Mapping[str, Sequence[Product]],
    *,
    last_updated: Mapping[str, str] | None = None,
) -> str:
    """Write the seed atomically (temp file in the same folder, then rename); return the text.

    `last_updated` per exchange defaults to now (UTC)."""
    stamp = utc_stamp()
    stamps = {name: (last_updated or {}).get(name) or stamp for name in products}
    text = render_seed(products, stamps)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return text
