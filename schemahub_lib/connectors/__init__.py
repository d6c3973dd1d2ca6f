"""Exchange connectors: the registry and its loader.

The registry name keys everything else too: mappings/<name>.yaml, ddl/raw_<name>_trades.sql
and the raw table raw_<name>_trades. Adding an exchange: a module here with one
`<Exchange>Connector` class, an entry in `CONNECTORS`, fixture pages under
tests/fixtures/exchanges/<name>/, the mapping YAML, the DDL and the contract tests.
"""

from __future__ import annotations

import requests

from schemahub_lib.connectors.base import Connector, Cursor, Page, Product, RawTrade, Reject
from schemahub_lib.connectors.binance import BinanceConnector
from schemahub_lib.connectors.coinbase import CoinbaseConnector
from schemahub_lib.connectors.kraken import KrakenConnector
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
    "CoinbaseConnector",
    "Connector",
    "Cursor",
    "KrakenConnector",
    "Page",
    "Product",
    "RawTrade",
    "Reject",
    "load_connector",
]

CONNECTORS: dict[str, type[CoinbaseConnector] | type[BinanceConnector] | type[KrakenConnector]] = {
    "coinbase": CoinbaseConnector,
    "binance": BinanceConnector,
    "kraken": KrakenConnector,
}


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
) -> Connector:
    """The connector for exchange `name`, talking to `settings.exchange_url(name)`.

    Cheap to call per stream: pass the process's shared `session`, and a `counters` object
    per stream to log. Pacing uses `settings.rate_limits[name]` (requests/s; for Binance
    weight-25 trade requests/s; <= 0 disables pacing) or the exchange's documented limit,
    through one pacer per exchange and base URL per process. `ban_store` defaults to a
    process-lifetime store; pass a `JsonFileBanStore` to make a Binance ban survive the run.
    """
    try:
        cls = CONNECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown exchange {name!r}; valid: {', '.join(sorted(CONNECTORS))}") from None
    configured = settings.rate_limits.get(name)
    client = HttpClient(
        exchange=name,
        base_url=settings.exchange_url(name),
        session=session if session is not None else new_session(),
        limit=cls.pacing(None if configured is None else float(configured)),
        retry=retry or RetryPolicy(),
        counters=counters or HttpCounters(),
        ban_store=ban_store or PROCESS_BANS,
        max_ban_wait_s=max_ban_wait_s,
        pacers=pacers,
    )
    return cls(client)
