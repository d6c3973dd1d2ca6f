"""The connector contract: one HTTP request in, one `Page` of native trade records out.

Connectors turn an exchange's public trade endpoint into pages of records that keep the
exchange's own field names (minimally typed), plus the exact JSON text of every trade.
They never import pyspark or pyiceberg; landing (`schemahub_lib.landing`) builds streams,
watermarks and Iceberg commits on top of `fetch_page`.

Cursors are exact strings, never floats: Coinbase and Binance trade ids, Kraken's 19-digit
nanosecond `last`. A `Cursor` names the exchange's own query parameter so a URL can be rebuilt
from it and a log line shows exactly what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple, Protocol

Direction = Literal["older", "newer"]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where to read next: the exchange's query parameter and its exact value.

    Coinbase: `after` (older, exclusive) / `before` (newer, exclusive), trade ids.
    Binance: `fromId` (inclusive trade id).
    Kraken: `since` (nanosecond timestamp string, as returned in `last`).

    `seen_through_id`: trades with an id at or below it were already delivered; the connector
    leaves them out of the page. Kraken needs it because `since` cannot say "strictly after
    trade N" (several trades share one timestamp); the other exchanges leave it None.
    """

    param: str
    value: str
    seen_through_id: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise TypeError(f"cursor values are exact strings, got {type(self.value).__name__}")


class RawTrade(NamedTuple):
    """One trade as the exchange sent it.

    `record` holds the raw table's exchange columns (names as in ddl/raw_<exchange>_trades.sql,
    numeric strings already converted to float, TIMESTAMP columns as integer microseconds since
    the epoch UTC, Kraken's `time_ns` as integer ns) without the `_`-prefixed metadata columns
    that landing adds. `time_ns` is the trade time in exact integer nanoseconds. `payload` is
    the trade's exact JSON text (exactjson.py says what "exact" normalises).

    A NamedTuple rather than a frozen dataclass: one is built per trade, and this is immutable
    too at less than half the construction cost.
    """

    trade_id: int
    time_ns: int
    record: dict[str, Any]
    payload: str


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that failed validation: kept with its reason, never dropped."""

    reason: str
    payload: str
    trade_id: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """The parsed answer to one request.

    `trades` are in ascending trade-id order whatever order the exchange used, so callers
    never depend on an exchange's sort. `older`/`newer` are the cursors to continue in each
    direction; `older is None` means the exchange has no older history (or, like Kraken,
    cannot page backwards), `newer is None` means this page reached the newest trade the
    exchange had at request time.
    """

    exchange: str
    product: str
    url: str
    trades: tuple[RawTrade, ...]
    older: Cursor | None
    newer: Cursor | None
    rejects: tuple[Reject, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Product:
    """A tradable market: canonical `BASE-QUOTE` plus the exchange's own symbol."""

    exchange: str
    symbol: str  # canonical, e.g. BTC-USD
    exchange_symbol: str  # as the exchange names it, e.g. XBTUSD, BTCUSDT, BTC-USD
    base: str
    quote: str
    # Other names the exchange uses for it, e.g. Kraken answers pair=XBTUSD with key XXBTZUSD.
    aliases: tuple[str, ...] = ()


class Connector(Protocol):
    """What every exchange module provides. See coinbase.py, binance.py, kraken.py."""

    name: ClassVar[str]
    default_base_url: ClassVar[str]
    page_limit: ClassVar[int]
    requests_per_second: ClassVar[float]

    def fetch_page(self, product: str, cursor: Cursor | None = None) -> Page:
        """One request. `cursor=None` asks for the most recent trades."""
        ...

    def cursor_after(self, trade_id: int, time_ns: int, last_cursor: str | None) -> Cursor:
        """The cursor that asks for trades strictly newer than a watermark."""
        ...

    def list_products(self) -> list[Product]:
        """Tradable markets from the exchange's product-discovery endpoint."""
        ...
