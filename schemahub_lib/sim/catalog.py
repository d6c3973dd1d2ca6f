"""The simulated markets: real symbols of each venue and how they trade.

Every value here is chosen to look like the real venue (symbol spelling, tick and lot sizes,
trade-id magnitudes, price string widths), not to be accurate market data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemahub_lib.sim.pages import fixed_point

EXCHANGES = ("coinbase", "binance", "kraken", "okx", "bitfinex")


@dataclass(frozen=True)
class Asset:
    """A base asset with one fair-value path shared by every venue that lists it."""

    name: str  # canonical, e.g. BTC
    start_price: float  # in USD
    annual_vol: float
    size_median: float  # typical trade size in base units
    size_sigma: float  # lognormal spread of trade sizes


ASSETS: dict[str, Asset] = {
    "BTC": Asset("BTC", 68_000.0, 0.60, 0.004, 1.6),
    "ETH": Asset("ETH", 3_500.0, 0.75, 0.08, 1.6),
    "SOL": Asset("SOL", 150.0, 0.95, 1.5, 1.5),
    "DOGE": Asset("DOGE", 0.16, 1.10, 450.0, 1.5),
}


@dataclass(frozen=True)
class ProductSpec:
    """One tradable product on one venue.

    `symbol` is the venue's own spelling as requested (Coinbase `BTC-USD`, Binance `BTCUSDT`,
    Kraken altname `XBTUSD`); `key` is what the venue answers with (Kraken's AssetPairs key
    `XXBTZUSD`; the same as `symbol` elsewhere).
    """

    exchange: str
    symbol: str
    key: str
    base: str  # canonical base asset, e.g. BTC
    quote: str  # canonical quote asset, e.g. USD
    price_decimals: int  # tick = 10**-price_decimals
    size_decimals: int  # lot step = 10**-size_decimals
    rate: float  # mean trades per second outside the spike
    first_id: int  # id of the first trade of the simulated history
    venue_base: str = ""  # the venue's asset code where it differs (Kraken XXBT)
    venue_quote: str = ""  # the venue's quote code where it differs (Kraken ZUSD)
    status: str = "online"
    tradable: bool = True

    @property
    def canonical(self) -> str:
        return f"{self.base}-{self.quote}"


PRODUCTS: tuple[ProductSpec, ...] = (
    # Coinbase Exchange: ids near the 2026 magnitude (~1.08e9 for BTC-USD), 8 dp strings.
    ProductSpec("coinbase", "BTC-USD", "BTC-USD", "BTC", "USD", 2, 8, 10.0, 1_080_000_000),
    ProductSpec("coinbase", "ETH-USD", "ETH-USD", "ETH", "USD", 2, 8, 6.0, 610_000_000),
    ProductSpec("coinbase", "SOL-USD", "SOL-USD", "SOL", "USD", 2, 8, 4.0, 105_000_000),
    # Binance Spot: ids past int32 (BTCUSDT ~5.2e9) so a 32-bit parser breaks here too.
    ProductSpec("binance", "BTCUSDT", "BTCUSDT", "BTC", "USDT", 2, 5, 25.0, 5_200_000_000, status="TRADING"),
    ProductSpec("binance", "ETHUSDT", "ETHUSDT", "ETH", "USDT", 2, 4, 15.0, 2_700_000_000, status="TRADING"),
    ProductSpec("binance", "SOLUSDT", "SOLUSDT", "SOL", "USDT", 2, 3, 8.0, 1_400_000_000, status="TRADING"),
    # Delisted: listed in exchangeInfo with status BREAK, no trades (real example from the fixture).
    ProductSpec("binance", "BCCBTC", "BCCBTC", "BCC", "BTC", 6, 2, 0.0, 1, status="BREAK", tradable=False),
    # Kraken Spot: legacy pairs answer under their X/Z-prefixed AssetPairs key.
    ProductSpec("kraken", "XBTUSD", "XXBTZUSD", "BTC", "USD", 1, 8, 3.0, 83_000_000, "XXBT", "ZUSD"),
    ProductSpec("kraken", "ETHUSD", "XETHZUSD", "ETH", "USD", 2, 8, 2.0, 62_000_000, "XETH", "ZUSD"),
    ProductSpec("kraken", "XBTUSDT", "XBTUSDT", "BTC", "USDT", 1, 8, 1.0, 10_300_000, "XXBT", "USDT"),
    ProductSpec("kraken", "XDGUSD", "XXDGZUSD", "DOGE", "USD", 7, 8, 1.0, 25_000_000, "XXDG", "ZUSD"),
    # OKX spot: tradeId counts per instrument (BTC-USDT ~7.3e8 in the 2025 capture). Modest rates:
    # 100-trade pages at 20 requests per 2 s keep `make demo` short at the real limit.
    ProductSpec("okx", "BTC-USDT", "BTC-USDT", "BTC", "USDT", 1, 8, 6.0, 734_000_000, status="live"),
    ProductSpec("okx", "ETH-USDT", "ETH-USDT", "ETH", "USDT", 2, 6, 4.0, 540_000_000, status="live"),
    ProductSpec("okx", "SOL-USDT", "SOL-USDT", "SOL", "USDT", 3, 6, 2.5, 160_000_000, status="live"),
    # Bitfinex: t-prefixed pairs, USDT written UST; ids near the 2024 magnitude (~1.56e9).
    ProductSpec("bitfinex", "tBTCUSD", "tBTCUSD", "BTC", "USD", 0, 8, 4.0, 1_560_000_000),
    ProductSpec("bitfinex", "tETHUSD", "tETHUSD", "ETH", "USD", 1, 8, 3.0, 1_600_000_000),
    ProductSpec("bitfinex", "tBTCUST", "tBTCUST", "BTC", "USDT", 0, 8, 2.0, 1_640_000_000),
)


@dataclass(frozen=True)
class VenueStyle:
    """How a venue's prices relate to the shared fair value."""

    lag_ms: float  # how far behind the fair value the venue trades
    noise_bp: float  # per-trade price noise, basis points
    half_spread_bp: float  # takers pay this over/under the venue mid
    mean_fills: float  # average trades per taker order (one order sweeps several makers)
    time_unit_ns: int  # the venue's timestamp resolution


# Binance leads price discovery; OKX follows closely, Coinbase within ~40-120 ms, Bitfinex and
# Kraken lag more. Bitfinex orders sweep more makers, so many trades share one millisecond.
VENUE_STYLES: dict[str, VenueStyle] = {
    "binance": VenueStyle(
        lag_ms=0.0, noise_bp=0.2, half_spread_bp=0.05, mean_fills=1.6, time_unit_ns=1_000_000
    ),
    "coinbase": VenueStyle(lag_ms=80.0, noise_bp=0.3, half_spread_bp=0.1, mean_fills=1.4, time_unit_ns=1_000),
    "kraken": VenueStyle(lag_ms=250.0, noise_bp=0.5, half_spread_bp=0.3, mean_fills=1.5, time_unit_ns=1),
    "okx": VenueStyle(
        lag_ms=30.0, noise_bp=0.25, half_spread_bp=0.05, mean_fills=1.7, time_unit_ns=1_000_000
    ),
    "bitfinex": VenueStyle(
        lag_ms=150.0, noise_bp=0.4, half_spread_bp=0.2, mean_fills=3.0, time_unit_ns=1_000_000
    ),
}

# USDT trades slightly above USD; a small constant basis keeps the two quotes distinguishable.
QUOTE_BASIS_BP = {"USD": 0.0, "USDT": 1.5, "BTC": 0.0}


def products_of(exchange: str) -> tuple[ProductSpec, ...]:
    return tuple(p for p in PRODUCTS if p.exchange == exchange)


def price_width(spec: ProductSpec) -> int:
    """Decimals in the venue's price strings: 8 on Coinbase and Binance, at least 5 on Kraken."""
    return max(spec.price_decimals, 5) if spec.exchange == "kraken" else 8


SIZE_WIDTH = 8  # every venue sends sizes with 8 decimals (OKX and Bitfinex trim them)
# Venues whose decimals carry no trailing zeros: OKX strings ("102537.9"), Bitfinex numbers.
TRIMMED = frozenset({"okx", "bitfinex"})


def trimmed(texts: list[str]) -> list[str]:
    """'102537.90000000' -> '102537.9', '73218.00000000' -> '73218'."""
    return [t.rstrip("0").rstrip(".") if "." in t else t for t in texts]


def price_texts(spec: ProductSpec, ticks: np.ndarray) -> list[str]:
    """Prices exactly as the venue writes them."""
    texts = fixed_point(ticks, spec.price_decimals, price_width(spec))
    return trimmed(texts) if spec.exchange in TRIMMED else texts


def size_texts(spec: ProductSpec, steps: np.ndarray) -> list[str]:
    """Sizes exactly as the venue writes them (unsigned)."""
    texts = fixed_point(steps, spec.size_decimals, SIZE_WIDTH)
    return trimmed(texts) if spec.exchange in TRIMMED else texts
