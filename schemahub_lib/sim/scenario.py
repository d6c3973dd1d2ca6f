"""The configured world: clock, spike window, fair-value paths and every product's trade stream."""

from __future__ import annotations

from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.blocks import BlockCache
from schemahub_lib.sim.catalog import ASSETS, EXCHANGES, PRODUCTS, VENUE_STYLES, ProductSpec
from schemahub_lib.sim.clock import Clock, ManualClock, RealClock
from schemahub_lib.sim.config import DEFAULT_MANUAL_START_S, SimConfig
from schemahub_lib.sim.fairvalue import FairValue, Spike
from schemahub_lib.sim.market import TradeStream

_FAIR_MARGIN_NS = 10 * 10**9  # the fair path starts before the history so lagged venues have one


def kraken_short(code: str) -> str:
    """Kraken's legacy 4-letter asset codes carry an X/Z class prefix: XXBT -> XBT, ZUSD -> USD."""
    return code[1:] if len(code) == 4 and code[0] in "XZ" else code


def lookup_names(spec: ProductSpec) -> set[str]:
    """Every spelling a venue accepts for a product, upper-cased."""
    names = {spec.symbol.upper(), spec.key.upper()}
    if spec.exchange == "kraken":
        names.add(f"{kraken_short(spec.venue_base)}/{kraken_short(spec.venue_quote)}")
        names.add(f"{spec.base}/{spec.quote}")
    return names


class Scenario:
    """Everything the request handlers read: built once from a `SimConfig`."""

    def __init__(self, config: SimConfig, clock: Clock | None = None, cache_trades: int = 400_000) -> None:
        self.config = config
        if clock is None:
            start = config.start_s
            clock = (
                RealClock(start) if config.clock == "real" else ManualClock(start or DEFAULT_MANUAL_START_S)
            )
        self.clock = clock
        self.origin_ns = clock.start_ns - int(config.history_s * 1e9)
        self.spike: Spike | None = None
        if config.spike_offset_s is not None:
            s0 = clock.start_ns + int(config.spike_offset_s * 1e9)
            self.spike = Spike(
                s0,
                s0 + int(config.spike_duration_s * 1e9),
                config.spike_vol_mult,
                config.spike_noise_mult,
                config.spike_rate_mult,
            )
        self.fair = {
            name: FairValue(config.seed, i, asset, self.origin_ns - _FAIR_MARGIN_NS, self.spike)
            for i, (name, asset) in enumerate(sorted(ASSETS.items()))
        }
        known = {f"{p.exchange}:{p.symbol}" for p in PRODUCTS if p.tradable}
        known |= {p.symbol for p in PRODUCTS if p.tradable}
        unknown = sorted(set(config.rates) - known)
        if unknown:
            raise ConfigError(f"trade rates for unknown products {unknown}; valid: {sorted(known)}")
        self.cache = BlockCache(cache_trades)
        self.streams: dict[tuple[str, str], TradeStream] = {}
        self._names: dict[str, dict[str, ProductSpec]] = {x: {} for x in EXCHANGES}
        for product_index, spec in enumerate(PRODUCTS):
            for name in lookup_names(spec):
                self._names[spec.exchange][name] = spec
            if spec.tradable:
                self.streams[(spec.exchange, spec.symbol)] = self._stream(spec, product_index)

    def _stream(self, spec: ProductSpec, product_index: int) -> TradeStream:
        cfg = self.config
        rate = cfg.rates.get(f"{spec.exchange}:{spec.symbol}", cfg.rates.get(spec.symbol, spec.rate))
        if rate <= 0:
            raise ConfigError(f"trade rate for {spec.exchange} {spec.symbol} must be positive, got {rate}")
        style = VENUE_STYLES[spec.exchange]
        lag = {"coinbase": cfg.coinbase_lag_ms, "kraken": cfg.kraken_lag_ms}.get(spec.exchange)
        return TradeStream(
            spec,
            style,
            ASSETS[spec.base],
            seed=cfg.seed,
            venue_index=EXCHANGES.index(spec.exchange),
            product_index=product_index,
            origin_ns=self.origin_ns,
            rate=rate * cfg.rate_scale,
            fair=self.fair[spec.base],
            spike=self.spike,
            lag_ms=style.lag_ms if lag is None else lag,
            id_gap_rate=cfg.id_gap_rate.get(spec.exchange, 0.0),
            cache=self.cache,
        )

    def product(self, exchange: str, name: str) -> ProductSpec | None:
        """The product a venue would resolve `name` to (case-insensitive), or None."""
        return self._names[exchange].get(name.upper())

    def stream(self, exchange: str, name: str) -> TradeStream | None:
        spec = self.product(exchange, name)
        return None if spec is None else self.streams.get((exchange, spec.symbol))

    def now_ns(self) -> int:
        return self.clock.now_ns()
