"""The simulator's options: one frozen object built by the CLI or by tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.catalog import EXCHANGES

# A fixed default start for the manual clock so a seed alone pins every byte served.
DEFAULT_MANUAL_START_S = 1_750_000_000.0  # 2025-06-15T15:06:40Z
ClockKind = Literal["real", "manual"]
LimitMode = Literal["real", "off", "scale"]


@dataclass(frozen=True)
class LimitConfig:
    """Rate-limit knobs for every venue. Defaults are the documented real limits.

    `mode="scale"` multiplies every time constant (windows, refill periods, bans) by `scale`,
    so `scale=0.01` makes a one-minute Binance window last 0.6 s and Retry-After shrink alike.
    """

    mode: LimitMode = "real"
    scale: float = 1.0
    off_for: tuple[str, ...] = ()  # exchanges unthrottled even when mode is real/scale
    coinbase_rate: float = 10.0  # requests per second per IP
    coinbase_burst: float = 15.0
    coinbase_retry_after: bool = False  # Coinbase documents no Retry-After on its 429
    binance_weight_limit: int = 6000  # REQUEST_WEIGHT per window per IP
    binance_window_s: float = 60.0
    binance_ban_after: int = 5  # requests sent while already throttled before the IP is banned
    binance_ban_s: float = 120.0  # first ban; each further ban doubles, capped at 3 days
    kraken_rate: float = 1.0  # Trades calls per second per IP and pair
    kraken_burst: float = 3.0
    kraken_penalty_s: float = 2.0  # how long the pair stays blocked after an excess call
    okx_requests: int = 20  # history-trades calls per window per IP
    okx_window_s: float = 2.0
    bitfinex_per_minute: int = 15  # trades/hist calls per minute per IP
    bitfinex_block_s: float = 60.0  # how long the IP stays blocked once over the limit

    def active(self, exchange: str) -> bool:
        return self.mode != "off" and exchange not in self.off_for

    @property
    def time_scale(self) -> float:
        return self.scale if self.mode == "scale" else 1.0


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes the simulated markets and the server.

    Times are Unix seconds. `start_s` is the clock's start (`None`: now for the real clock,
    `DEFAULT_MANUAL_START_S` for the manual one); history begins `history_s` before it.
    The spike window starts `spike_offset_s` after the clock start (negative: in the history).
    """

    seed: int = 0
    clock: ClockKind = "manual"
    start_s: float | None = None
    history_s: float = 3 * 3600.0
    rate_scale: float = 1.0  # multiplies every product's trade rate
    rates: Mapping[str, float] = field(default_factory=dict)  # "exchange:SYMBOL" or "SYMBOL" -> trades/s
    spike_offset_s: float | None = -3600.0  # None: no spike
    spike_duration_s: float = 600.0
    spike_vol_mult: float = 8.0
    spike_noise_mult: float = 4.0
    spike_rate_mult: float = 3.0
    coinbase_lag_ms: float | None = None  # override the venue's lead-lag (default 80 ms)
    kraken_lag_ms: float | None = None  # default 250 ms
    id_gap_rate: Mapping[str, float] = field(default_factory=dict)  # exchange -> P(id skipped)
    kraken_since_inclusive: bool = True  # since=last repeats the boundary trade
    limits: LimitConfig = field(default_factory=LimitConfig)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.history_s <= 0:
            raise ConfigError(f"sim history must be positive seconds, got {self.history_s}")
        if self.rate_scale <= 0:
            raise ConfigError(f"sim trade rate scale must be positive, got {self.rate_scale}")
        if self.spike_duration_s <= 0:
            raise ConfigError(f"sim spike duration must be positive, got {self.spike_duration_s}")
        for name, p in self.id_gap_rate.items():
            if name not in EXCHANGES or not 0 <= p < 0.5:
                raise ConfigError(f"id_gap_rate[{name!r}]={p}: expected an exchange and 0 <= p < 0.5")
        if self.limits.mode == "scale" and self.limits.scale <= 0:
            raise ConfigError(f"rate-limit scale must be positive, got {self.limits.scale}")

    @classmethod
    def for_tests(cls, seed: int = 7, **overrides: object) -> SimConfig:
        """Fast defaults: manual clock, 20 minutes of history, unthrottled, spike in the history."""
        values: dict[str, object] = {
            "seed": seed,
            "clock": "manual",
            "history_s": 1200.0,
            "spike_offset_s": -600.0,
            "spike_duration_s": 120.0,
            "limits": LimitConfig(mode="off"),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def parse_duration(text: str) -> float:
    """`90`, `90s`, `15m`, `3h`, `2d` -> seconds (a leading `-` is allowed)."""
    raw = text.strip().lower()
    sign = -1.0 if raw.startswith("-") else 1.0
    raw = raw.lstrip("+-")
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    factor = units.get(raw[-1:])
    number = raw[:-1] if factor is not None else raw
    try:
        return sign * float(number) * (factor or 1.0)
    except ValueError:
        raise ConfigError(f"not a duration: {text!r} (expected e.g. 90, 90s, 15m, 3h)") from None
