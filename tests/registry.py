"""Test streams and seeds derived from the connector registry, so every test that runs over
the registry covers an exchange as soon as it is registered (and has a simulator venue).

A test stream is an exchange's first built-in product: (canonical symbol, the venue's own
symbol as requested, the symbol as the raw table stores it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.connectors.base import Product
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.mapping.loader import load_mapping
from schemahub_lib.seed import render_seed
from schemahub_lib.settings import REPO_ROOT


def raw_key(product: Product) -> str:
    """The symbol as raw stores it: the exchange's answer key where it differs (Kraken)."""
    return product.aliases[0] if product.aliases else product.exchange_symbol


def products(exchange: str, count: int = 1) -> list[Product]:
    return list(CONNECTORS[exchange].default_products[:count])


def stream(exchange: str) -> tuple[str, str, str]:
    """(canonical symbol, venue symbol, raw symbol) of the exchange's test stream."""
    (product,) = products(exchange)
    return product.symbol, product.exchange_symbol, raw_key(product)


STREAMS: Mapping[str, tuple[str, str, str]] = {name: stream(name) for name in CONNECTORS}
RAW_ID_COLUMN: Mapping[str, str] = {name: cls.id_column for name, cls in CONNECTORS.items()}
RAW_PRODUCT_COLUMN: Mapping[str, str] = {name: cls.symbol_column for name, cls in CONNECTORS.items()}
RAW_TIME_COLUMN: Mapping[str, str] = {name: cls.time_column for name, cls in CONNECTORS.items()}


def _price_column(exchange: str) -> str:
    """The raw column the exchange's mapping reads the price from."""
    spec = load_mapping(
        REPO_ROOT / "mappings" / f"{exchange}_trades.yaml", load_table_defs(REPO_ROOT / "ddl")
    )
    source = spec.rule("price").source
    assert source is not None
    return source.name


RAW_PRICE_COLUMN: Mapping[str, str] = {name: _price_column(name) for name in CONNECTORS}


def seed_text(exchanges: Iterable[str] | None = None, count: int = 1) -> str:
    """A seed file with the first `count` built-in products of each exchange (all by default)."""
    names = list(CONNECTORS if exchanges is None else exchanges)
    return render_seed({n: products(n, count) for n in names}, dict.fromkeys(names, "2026-01-01T00:00:00Z"))
