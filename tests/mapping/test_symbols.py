"""Exchange symbols -> canonical BASE-QUOTE: seed first, then the mapping's patterns."""

from __future__ import annotations

import pytest

from schemahub_lib.connectors.base import Product
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.errors import ConfigError
from schemahub_lib.mapping import load_mappings, resolve_symbols, seed_index
from schemahub_lib.seed import load_seed
from tests.conftest import REPO

SPECS = {s.exchange: s for s in load_mappings(REPO / "mappings", load_table_defs(REPO / "ddl"))}
SEED = load_seed(REPO / "mappings" / "product_ids_seed.yaml")


def resolve(exchange: str, *names: str | None) -> tuple[dict[str, tuple[str, str, str]], list[str | None]]:
    spec = SPECS[exchange]
    resolved, unknown = resolve_symbols(names, spec.symbols, seed_index(SEED[exchange]))
    return {k: (r.symbol, r.base, r.quote) for k, r in resolved.items()}, unknown


def test_kraken_seed_names_and_aliases_resolve() -> None:
    resolved, unknown = resolve("kraken", "XBTUSD", "XXBTZUSD", "XBTUSDT", "XDGUSD", "XXDGZUSD")
    assert unknown == []
    assert resolved == {
        "XBTUSD": ("BTC-USD", "BTC", "USD"),
        "XXBTZUSD": ("BTC-USD", "BTC", "USD"),
        "XBTUSDT": ("BTC-USDT", "BTC", "USDT"),
        "XDGUSD": ("DOGE-USD", "DOGE", "USD"),
        "XXDGZUSD": ("DOGE-USD", "DOGE", "USD"),
    }


def test_kraken_legacy_keys_outside_the_seed_split_with_asset_aliases() -> None:
    resolved, unknown = resolve("kraken", "XETHXXBT", "XXBTZEUR", "XLTCZUSD", "AAVEUSD")
    assert resolved == {
        "XETHXXBT": ("ETH-BTC", "ETH", "BTC"),
        "XXBTZEUR": ("BTC-EUR", "BTC", "EUR"),
        "XLTCZUSD": ("LTC-USD", "LTC", "USD"),
    }
    assert unknown == ["AAVEUSD"]  # not a legacy 8-character key: never guessed


def test_coinbase_splits_any_base_quote_id_and_binance_needs_the_seed() -> None:
    resolved, unknown = resolve("coinbase", "BTC-EUR", "ETH-USD")
    assert (resolved, unknown) == (
        {"BTC-EUR": ("BTC-EUR", "BTC", "EUR"), "ETH-USD": ("ETH-USD", "ETH", "USD")},
        [],
    )
    resolved, unknown = resolve("binance", "BTCUSDT", "DOGEUSDT", None, "ETHBTC")
    assert resolved == {"BTCUSDT": ("BTC-USDT", "BTC", "USDT")}
    assert unknown == ["DOGEUSDT", "ETHBTC", None]


def test_two_products_claiming_one_name_is_a_seed_error() -> None:
    products = [
        Product("kraken", "BTC-USD", "XBTUSD", "BTC", "USD"),
        Product("kraken", "BCH-USD", "BCHUSD", "BCH", "USD", aliases=("XBTUSD",)),
    ]
    with pytest.raises(ConfigError, match="'XBTUSD' names both BTC-USD and BCH-USD"):
        seed_index(products)
