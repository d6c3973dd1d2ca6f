"""The connector contract: one HTTP request in, one `Page` of native trade records out.

Connectors turn an exchange's public trade endpoint into pages of records that keep the
exchange's own field names (minimally typed), plus the exact JSON text of every trade.
They never import pyspark or pyiceberg; landing (`schemahub_lib.landing`) builds streams,
watermarks and Iceberg commits on top of `fetch_page`.

Cursors are exact strings, never floats: trade ids, Kraken's 19-digit nanosecond `last`,
Bitfinex's millisecond `start`. A `Cursor` names the exchange's own query parameter so a URL can be rebuilt
from it and a log line shows exactly what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, Protocol

from schemahub_lib.errors import ConfigError

if TYPE_CHECKING:
    from schemahub_lib.http import HttpClient, RateLimit

Direction = Literal["older", "newer"]
RateScope = Literal["ip", "product"]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where to read next: the exchange's query parameter and its exact value.

    Coinbase, OKX: `after` (older, exclusive) / `before` (newer, exclusive), trade ids.
    Binance: `fromId` (inclusive trade id).
    Kraken: `since` (nanosecond timestamp string, as returned in `last`).
    Bitfinex: `start` (inclusive epoch milliseconds).

    `seen_through_id`: trades with an id at or below it were already delivered; the connector
    leaves them out of the page. Time-paged exchanges need it because a time cannot say
    "strictly after trade N" (several trades share one timestamp); the others leave it None.
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
    """What every exchange module provides: every fact particular to its exchange.

    Landing, repair, audit, status and settings read these through the registry
    (`schemahub_lib.connectors.CONNECTORS`) and never name an exchange. See coinbase.py,
    binance.py, kraken.py, okx.py, bitfinex.py.

    Paging facts (which walks landing can run):
    * `walks_back`: `older_than(trade_id)` asks for the trades just below a trade id, so
      history can be walked newest-first (Coinbase `after`, OKX `after`, Binance `fromId`).
    * `pages_by_time`: `from_time(time_ns)` asks for the trades at or after a time, oldest
      first (Kraken `since`, Bitfinex `start`); such an exchange starts and backfills forward.
    * `trusts_newer`: `cursor_after(watermark)` returns exactly the trades just above the
      watermark, so a catch-up can page forward. False where the "newer" cursor may serve the
      newest trades instead (Coinbase `before`, OKX `before`): landing then walks down from
      the newest trade to the watermark.
    * `dense_ids`: a product's trade ids are consecutive integers, so a missing id is a
      missing trade (Bitfinex ids are global across pairs: gaps are normal there).
    * `cursor_bounds`: what each cursor parameter admits: "from" (id >= value), "below"
      (id < value), "above" (id > value), "time_from" / "time_from_ms" (trade time >= value,
      in ns / ms; beyond the time, the ids above the cursor's `seen_through_id`).

    Table facts: the raw table, and its id, symbol and trade-time columns (as in
    ddl/raw_<name>_trades.sql). Limits: `max_page_limit` (the documented maximum),
    `requests_per_second` (documented), `rate_scope` ("ip": one budget per IP; "product":
    each product has its own, as Kraken's Trades), `history_s` (how far back the endpoint
    serves, None: all of it). `page_limit` is per instance (the constructor's `page_limit`).
    `default_products`: the built-in seed, landed when no seed file names the exchange.
    """

    name: ClassVar[str]
    default_base_url: ClassVar[str]
    raw_table: ClassVar[str]
    id_column: ClassVar[str]
    symbol_column: ClassVar[str]
    time_column: ClassVar[str]
    max_page_limit: ClassVar[int]
    cursor_bounds: ClassVar[dict[str, str]]
    requests_per_second: ClassVar[float]
    rate_scope: ClassVar[RateScope]
    history_s: ClassVar[float | None]
    walks_back: ClassVar[bool]
    pages_by_time: ClassVar[bool]
    trusts_newer: ClassVar[bool]
    dense_ids: ClassVar[bool]
    default_products: ClassVar[tuple[Product, ...]]

    page_limit: int

    def __init__(self, client: HttpClient, *, page_limit: int | None = None) -> None: ...

    @classmethod
    def pacing(cls, configured: float | None = None) -> RateLimit:
        """The pacing budget: `configured` requests/s (<= 0: unpaced) or the documented limit."""
        ...

    def fetch_page(self, product: str, cursor: Cursor | None = None) -> Page:
        """One request. `cursor=None` asks for the most recent trades."""
        ...

    def cursor_after(self, trade_id: int, time_ns: int, last_cursor: str | None) -> Cursor:
        """The cursor that asks for trades strictly newer than a watermark."""
        ...

    def older_than(self, trade_id: int) -> Cursor | None:
        """The cursor for the trades just below `trade_id`; None when none can exist.
        Raises ConfigError where `walks_back` is false."""
        ...

    def from_time(self, time_ns: int, seen_through_id: int | None = None) -> Cursor:
        """The cursor for the trades at or after `time_ns`, leaving out ids <= `seen_through_id`.
        Raises ConfigError where `pages_by_time` is false."""
        ...

    def list_products(self) -> list[Product]:
        """Tradable markets from the exchange's product-discovery endpoint."""
        ...


def checked_page_limit(exchange: str, page_limit: int | None, maximum: int) -> int:
    """A connector's page size: `maximum` by default, else 1..maximum or a ConfigError."""
    if page_limit is None:
        return maximum
    if type(page_limit) is not int or not 1 <= page_limit <= maximum:
        raise ConfigError(f"--limit {page_limit}: {exchange} pages hold 1..{maximum} trades")
    return page_limit


def cannot(exchange: str, what: str, instead: str) -> ConfigError:
    """The error for a cursor an exchange's API cannot express."""
    return ConfigError(f"{exchange} cannot {what}; {instead}")
