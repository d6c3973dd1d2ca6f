"""Exchange connectors: the registry and its loader.

The registry name keys everything else too: mappings/<name>_trades.yaml,
ddl/raw_<name>_trades.sql and the raw table raw_<name>_trades. Every fact particular to an
exchange is an attribute or method of its connector class (see `Connector`); code outside
connectors/ and sim/ reads them from `CONNECTORS` and never names an exchange.

Adding an exchange: a module here with one `<Exchange>Connector` class, one line in
`CONNECTORS`, the DDL, the mapping YAML, seed entries, a simulator venue (sim/), and real
recorded pages under tests/fixtures/exchanges/<name>/ (with SOURCES.md provenance). The
contract suite (tests/connectors/test_contract.py) runs over every registry entry.
"""

from __future__ import annotations

import requests

from schemahub_lib.connectors.base import Connector, Cursor, Page, Product, RawTrade, Reject
from schemahub_lib.connectors.binance import BinanceConnector
from schemahub_lib.connectors.bitfinex import BitfinexConnector
from schemahub_lib.connectors.coinbase import CoinbaseConnector
from schemahub_lib.connectors.kraken import KrakenConnector
from schemahub_lib.connectors.okx import OkxConnector
from schemahub_lib.errors import ConfigError
from schemahub_lib.http import (
    PACERS,
    PROCESS_BANS,
    BanStore,
    HttpClient,
    HttpCounters,
    PacerRegistry,
    RetryPolicy,
    new_session,
)
from schemahub_lib.settings import Settings

__all__ = [
    "CONNECTORS",
    "BinanceConnector",
    "BitfinexConnector",
    "CoinbaseConnector",
    "Connector",
    "Cursor",
    "KrakenConnector",
    "OkxConnector",
    "Page",
    "Product",
    "RawTrade",
    "Reject",
    "base_url",
    "connector_class",
    "load_connector",
    "unknown_exchange",
]

CONNECTORS: dict[str, type[Connector]] = {
    "coinbase": CoinbaseConnector,
    "binance": BinanceConnector,
    "kraken": KrakenConnector,
    "okx": OkxConnector,
    "bitfinex": BitfinexConnector,
}


def unknown_exchange(name: str) -> ConfigError:
    """The one wording for a name that is not in the registry."""
    return ConfigError(f"unknown exchange {name!r}; known: {', '.join(sorted(CONNECTORS))}")


def base_url(name: str, settings: Settings) -> str:
    """Where exchange `name` is called: the settings' override, else the connector's default.
    An override for a name the registry does not know (a typo in a config file or variable)
    is an error rather than silently unused."""
    cls = connector_class(name)
    for other in settings.exchange_urls:
        if other not in CONNECTORS:
            raise ConfigError(f"exchange_urls: {unknown_exchange(other)}")
    return settings.exchange_urls.get(name, cls.default_base_url).rstrip("/")


def connector_class(name: str) -> type[Connector]:
    """The registry entry for `name` (its facts are class attributes), or a ConfigError."""
    try:
        return CONNECTORS[name]
    except KeyError:
        raise unknown_exchange(name) from None


def load_connector(
    name: str,
    settings: Settings,
    session: requests.Session | None = None,
    *,
    counters: HttpCounters | None = None,
    ban_store: BanStore | None = None,
    retry: RetryPolicy | None = None,
    max_ban_wait_s: float = 0.0,
    pacers: PacerRegistry = PACERS,
    page_limit: int | None = None,
) -> Connector:
    """The connector for exchange `name`, at `settings.exchange_urls[name]` if set, else at the
    connector's `default_base_url`.

    Cheap to call per stream: pass the process's shared `session`, and a `counters` object
    per stream to log. Pacing uses `settings.rate_limits[name]` (requests/s; for Binance
    weight-25 trade requests/s; <= 0 disables pacing) or the exchange's documented limit,
    through one pacer per exchange and base URL per process. `ban_store` defaults to a
    process-lifetime store; pass a `JsonFileBanStore` to make a Binance ban survive the run.
    `page_limit`: trades per request, 1..the exchange's maximum (default: the maximum).
    """
    cls = connector_class(name)
    configured = settings.rate_limits.get(name)
    client = HttpClient(
        exchange=name,
        base_url=base_url(name, settings),
        session=session if session is not None else new_session(),
        limit=cls.pacing(None if configured is None else float(configured)),
        retry=retry or RetryPolicy(),
        counters=counters or HttpCounters(),
        ban_store=ban_store or PROCESS_BANS,
        max_ban_wait_s=max_ban_wait_s,
        pacers=pacers,
    )
    return cls(client, page_limit=page_limit)
