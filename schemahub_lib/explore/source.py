"""What the explorer reads, and the one place it reads it: the lakehouse read API.

`load_source(settings)` wraps `schemahub_lib.read.load_lakehouse`. Every request parameter
that reaches a read is a whitelisted name (a market the table holds) or a typed value passed
as a filter, never text spliced into a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemahub_lib.errors import SchemaHubError
from schemahub_lib.settings import Settings

UNIFIED_TABLE = "trades_unified"
COVERAGE_TABLE = "schemahub_coverage"


class ExploreError(SchemaHubError):
    """A request the explorer cannot answer as asked; `status` is the HTTP status to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MarketKey:
    """One (exchange, canonical symbol) pair as `trades_unified` spells it."""

    exchange: str  # e.g. BINANCE
    symbol: str  # e.g. BTC-USDT

    @property
    def base(self) -> str:
        return self.symbol.split("-", 1)[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("-", 1)[-1]

    @property
    def name(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True)
class MarketTrades:
    """One market's trades in a window, sorted by time: int64 ns, float prices and sizes."""

    market: MarketKey
    t_ns: np.ndarray
    price: np.ndarray
    qty: np.ndarray


def utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def ns_of(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A timestamp column as int64 nanoseconds since the epoch."""
    return np.asarray(
        pc.cast(column, pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    )


class Source:
    """The explorer's reads over one lakehouse (a `schemahub_lib.read.Lakehouse`)."""

    def __init__(self, settings: Settings, lakehouse: Any = None) -> None:
        self.settings = settings
        self._lake = lakehouse
        self.file_stats: Any = None  # what the last whole-table figure read (datafiles.FileStats)
        self._bins_cache: dict[Any, Any] = {}  # per data file (files never change): datafiles.price_bins

    @property
    def lake(self) -> Any:
        """The read API's Lakehouse, opened on first use: the app starts (and says what is
        wrong on the page) even when the warehouse has no catalog yet."""
        if self._lake is None:
            from schemahub_lib.read import QueryError, load_lakehouse

            try:
                self._lake = load_lakehouse(self.settings)
            except QueryError as exc:
                raise ExploreError(f"{exc}; `make demo` builds a demo warehouse", status=404) from exc
        return self._lake

    def tables(self) -> list[str]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        try:
            return list(self.lake.tables())
        except ExploreError:
            return []
        except NoSuchNamespaceError:  # a warehouse nobody has run `schemahub init` on
            return []

    def require_unified(self) -> None:
        if UNIFIED_TABLE not in self.tables():
            raise ExploreError(
                f"the warehouse {self.settings.warehouse} has no {UNIFIED_TABLE} table yet; "
                "run `make demo` (or `schemahub init`, `schemahub pipeline`) first",
                status=404,
            )

    def snapshots(self) -> list[dict[str, Any]]:
        self.require_unified()
        return [
            {
                "snapshot_id": str(s.snapshot_id),  # 64-bit: a JSON number would lose digits in JS
                "committed_at": _iso(s.committed_at),
                "operation": str(s.operation),
            }
            for s in self.lake.snapshots(UNIFIED_TABLE)
        ]

    def check_snapshot(self, as_of: int | None) -> None:
        if as_of is None:
            return
        known = [int(s["snapshot_id"]) for s in self.snapshots()]
        if as_of not in known:
            raise ExploreError(f"unknown snapshot {as_of} of {UNIFIED_TABLE}; known: {known[-10:]}", 404)

    def data_files(self, as_of: int | None = None) -> list[Any] | None:
        """trades_unified's data files as of a snapshot (None: read through the read API)."""
        from schemahub_lib.explore import datafiles

        return datafiles.data_files(self.lake.table(UNIFIED_TABLE), as_of)

    def market_counts(self, as_of: int | None = None) -> dict[MarketKey, int]:
        """Rows per (exchange, symbol) in trades_unified: from file bounds where a file holds
        one market, else counted by DuckDB from the two columns (datafiles.py)."""
        from schemahub_lib.explore import datafiles

        self.require_unified()
        files = self.data_files(as_of)
        if files is not None:
            self.file_stats = datafiles.FileStats()
            return {MarketKey(*m): n for m, n in datafiles.market_counts(files, self.file_stats).items()}
        counts = self.lake.sql(
            f"SELECT exchange, symbol, count(*) AS n FROM {UNIFIED_TABLE} GROUP BY exchange, symbol",
            as_of=as_of,
        )
        return {
            MarketKey(e, s): int(n)
            for e, s, n in zip(
                counts.column("exchange").to_pylist(),
                counts.column("symbol").to_pylist(),
                counts.column("n").to_pylist(),
                strict=True,
            )
        }

    def bin_ranges(
        self, markets: Sequence[MarketKey], bin_s: int, as_of: int | None = None
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per market, (bin index, range in bps, trades) of every non-empty `bin_s` bin, aggregated
        by DuckDB over the data files (or, where they cannot be read directly, from the trades)."""
        from schemahub_lib.explore import datafiles, events

        files = self.data_files(as_of)
        if files is None:
            prices = self.prices(markets, as_of)
            return [events.bin_ranges(m.t_ns, m.price, bin_s) for m in prices.values()]
        self.file_stats = datafiles.FileStats()
        symbols = sorted({m.symbol for m in markets})
        found = datafiles.price_bins(files, symbols, bin_s, self.file_stats, self._bins_cache)
        return [found[(m.exchange, m.symbol)] for m in markets if (m.exchange, m.symbol) in found]

    def span(self, base: str, as_of: int | None = None) -> tuple[Any, Any]:
        """(first, last) trade time of an asset's markets; the asset is a bound parameter."""
        result = self.lake.sql(
            f"SELECT min(trade_ts) AS first, max(trade_ts) AS last FROM {UNIFIED_TABLE} "
            "WHERE base_asset = $1",
            [base],
            as_of=as_of,
        )
        return result.column("first")[0].as_py(), result.column("last")[0].as_py()

    def prices(self, markets: Sequence[MarketKey], as_of: int | None = None) -> dict[MarketKey, MarketTrades]:
        """Every trade's time and price of `markets` (for the spike finder)."""
        return self.trades(markets, None, None, as_of, with_qty=False)

    def trades(
        self,
        markets: Sequence[MarketKey],
        start_ns: int | None,
        end_ns: int | None,
        as_of: int | None = None,
        *,
        with_qty: bool = True,
    ) -> dict[MarketKey, MarketTrades]:
        """Trades of `markets` with start <= trade_ts < end, one sorted set of arrays each."""
        columns = ["exchange", "symbol", "trade_ts", "price"] + (["quantity"] if with_qty else [])
        table = self.lake.trades(
            exchanges=sorted({m.exchange for m in markets}),
            symbols=sorted({m.symbol for m in markets}),
            start=None if start_ns is None else utc(start_ns),
            end=None if end_ns is None else utc(end_ns),
            as_of=as_of,
            columns=columns,
        )
        out: dict[MarketKey, MarketTrades] = {}
        exchange = table.column("exchange")
        symbol = table.column("symbol")
        for market in markets:
            mask = pc.and_(pc.equal(exchange, market.exchange), pc.equal(symbol, market.symbol))
            part = table.filter(mask)
            t_ns = ns_of(part.column("trade_ts"))
            if end_ns is not None and len(t_ns) and t_ns[-1] >= end_ns:  # end is exclusive here
                keep = t_ns < end_ns
                part, t_ns = part.filter(pa.array(keep)), t_ns[keep]
            order = np.argsort(t_ns, kind="stable")
            price = part.column("price").to_numpy()[order]
            qty = part.column("quantity").to_numpy()[order] if with_qty else np.empty(0)
            out[market] = MarketTrades(market, t_ns[order], price, qty)
        return out

    def coverage_gaps(self, markets: Sequence[MarketKey]) -> list[dict[str, Any]]:
        """The coverage ledger's gap rows for these markets (empty when there is no ledger)."""
        if COVERAGE_TABLE not in self.tables():
            return []
        table = self.lake.scan(
            COVERAGE_TABLE,
            row_filter="kind = 'gap'",
            columns=["exchange", "symbol", "layer", "first_id", "last_id", "first_ts", "last_ts", "status"],
        )
        wanted = {(m.exchange.lower(), m.symbol) for m in markets}
        rows = []
        for row in table.to_pylist():
            if (row["exchange"].lower(), row["symbol"]) in wanted and row["first_ts"] and row["last_ts"]:
                rows.append(row)
        return rows


def load_source(settings: Settings) -> Source:
    """The explorer's reads over the lakehouse `settings` names."""
    return Source(settings)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)
