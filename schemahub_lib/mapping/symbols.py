"""Exchange symbol -> canonical BASE-QUOTE, resolved in Python for the few distinct symbols a
batch holds; unify turns the answers into a literal map expression (no UDF, no per-row Python).

Order: the product seed (exchange symbol, aliases, canonical symbol), then the mapping's
`symbols.patterns` with `asset_aliases` applied to each part. Unknown symbols are returned,
never guessed: the caller fails the run naming them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from schemahub_lib.connectors.base import Product
from schemahub_lib.errors import ConfigError
from schemahub_lib.mapping.spec import SymbolRule


@dataclass(frozen=True)
class Resolved:
    symbol: str  # canonical BASE-QUOTE
    base: str
    quote: str
    how: str  # "seed" or "pattern <regex>", for logs


def seed_index(products: Sequence[Product]) -> dict[str, Resolved]:
    """Every name a product goes by -> its canonical form. Two products claiming one name fail."""
    index: dict[str, Resolved] = {}
    for p in products:
        resolved = Resolved(p.symbol, p.base, p.quote, "seed")
        for name in (p.exchange_symbol, *p.aliases, p.symbol):
            known = index.get(name)
            if known is not None and known.symbol != p.symbol:
                raise ConfigError(
                    f"product seed, {p.exchange}: {name!r} names both {known.symbol} and {p.symbol}"
                )
            index[name] = resolved
    return index


def resolve_by_pattern(name: str, rule: SymbolRule) -> Resolved | None:
    for pattern in rule.patterns:
        m = re.fullmatch(pattern, name)
        if m:
            base, quote = (rule.asset_aliases.get(p, p) for p in m.group(1, 2))
            return Resolved(f"{base}-{quote}", base, quote, f"pattern {pattern}")
    return None


def resolve_symbols(
    names: Iterable[str | None], rule: SymbolRule, index: Mapping[str, Resolved]
) -> tuple[dict[str, Resolved], list[str | None]]:
    """(resolved by exchange symbol, unknown symbols sorted). A null symbol is unknown."""
    resolved: dict[str, Resolved] = {}
    unknown: list[str | None] = []
    for name in names:
        hit = None if name is None else index.get(name) or resolve_by_pattern(name, rule)
        if hit is None:
            unknown.append(name)
        else:
            assert name is not None
            resolved[name] = hit
    return resolved, sorted(unknown, key=lambda n: (n is None, n or ""))
