"""Each venue's public rate limit, enforced the way the venue does it, per client IP.

Limits run on real time (monotonic for buckets, the wall clock for Binance's minute windows and
ban stamps), not on the simulator clock: a test that jumps the market clock forward an hour must
not also refill every bucket. `LimitConfig.scale` shrinks every
time constant so tests see 429s, bans and recoveries in fractions of a second.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from schemahub_lib.sim.config import LimitConfig

BAN_CAP_S = 3 * 86_400.0  # Binance bans scale "from 2 minutes to 3 days"


def retry_after_text(seconds: float, scaled: bool) -> str:
    """HTTP Retry-After: whole seconds, rounded up; with scaled limits a decimal, so tests stay fast."""
    if scaled:
        return f"{max(seconds, 0.001):.3f}"
    return str(max(1, math.ceil(seconds)))


class TokenBucket:
    """Lazy-refill token bucket (Coinbase's documented model; also used for Kraken's pairs)."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> float:
        """Spend one token; returns 0.0 if allowed, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class WeightVerdict:
    """Binance's answer to one request's weight: the header value and whether to refuse."""

    used: int
    status: int = 200  # 200, 429 or 418
    retry_after_s: float = 0.0
    banned_until_ms: int = 0


@dataclass
class _WeightState:
    window: int = -1
    used: int = 0
    throttled_calls: int = 0  # over-limit requests in this window (the first got the 429)
    bans: int = 0
    banned_until: float = 0.0  # wall-clock seconds


class Limits:
    """Every venue's limiters for one server; `config` can be swapped at run time."""

    def __init__(
        self,
        config: LimitConfig,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self.configure(config)

    def configure(self, config: LimitConfig) -> None:
        """Switch limits (e.g. off, or a new scale); forgets all buckets, windows and bans."""
        with self._lock:
            self.config = config
            self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
            self._blocked: dict[tuple[str, str], float] = {}
            self._windows: dict[tuple[str, str, str], list[int]] = {}
            self._weights: dict[str, _WeightState] = {}

    @property
    def scaled(self) -> bool:
        return self.config.time_scale != 1.0

    def coinbase(self, client: str) -> float:
        """0.0 if the request may pass, else seconds until the bucket has a token."""
        cfg = self.config
        if not cfg.active("coinbase"):
            return 0.0
        with self._lock:
            now = self._clock()
            rate = cfg.coinbase_rate / cfg.time_scale
            bucket = self._buckets.setdefault(
                ("coinbase", client, ""), TokenBucket(rate, cfg.coinbase_burst, now)
            )
            return bucket.take(now)

    def kraken(self, client: str, pair: str) -> bool:
        """True if the call is refused. Trades is limited per IP and pair, other calls per IP."""
        cfg = self.config
        if not cfg.active("kraken"):
            return False
        with self._lock:
            now = self._clock()
            key = (client, pair)
            if self._blocked.get(key, 0.0) > now:
                return True
            rate = cfg.kraken_rate / cfg.time_scale
            bucket = self._buckets.setdefault(
                ("kraken", client, pair), TokenBucket(rate, cfg.kraken_burst, now)
            )
            if bucket.take(now) > 0:
                # Kraken restricts further calls "for a few seconds" after an excess.
                self._blocked[key] = now + cfg.kraken_penalty_s * cfg.time_scale
                return True
            return False

    def okx(self, client: str, endpoint: str) -> float:
        """0.0 if the call may pass, else seconds until the window ends: OKX counts requests per
        endpoint and IP in fixed windows (20 per 2 s for history-trades)."""
        cfg = self.config
        if not cfg.active("okx"):
            return 0.0
        with self._lock:
            now = self._clock()
            window_s = cfg.okx_window_s * cfg.time_scale
            state = self._windows.setdefault(("okx", client, endpoint), [-1, 0])
            window = int(now // window_s)
            if window != state[0]:
                state[0], state[1] = window, 0
            state[1] += 1
            return 0.0 if state[1] <= cfg.okx_requests else (window + 1) * window_s - now

    def bitfinex(self, client: str) -> bool:
        """True if the call is refused: past 15 calls in a minute the IP is blocked for 60 s."""
        cfg = self.config
        if not cfg.active("bitfinex"):
            return False
        with self._lock:
            now = self._clock()
            key = ("bitfinex", client)
            if self._blocked.get(key, 0.0) > now:
                return True
            window_s = 60.0 * cfg.time_scale
            state = self._windows.setdefault(("bitfinex", client, ""), [-1, 0])
            window = int(now // window_s)
            if window != state[0]:
                state[0], state[1] = window, 0
            state[1] += 1
            if state[1] > cfg.bitfinex_per_minute:
                self._blocked[key] = now + cfg.bitfinex_block_s * cfg.time_scale
                return True
            return False

    def binance(self, client: str, weight: int) -> WeightVerdict:
        """Count the request's weight in the client's window; 429 past the limit, 418 when banned."""
        cfg = self.config
        with self._lock:
            # Windows start on wall-clock multiples (whole minutes), so a client can align to them.
            now = self._wall()
            window_s = cfg.binance_window_s * cfg.time_scale
            state = self._weights.setdefault(client, _WeightState())
            if state.banned_until > now and cfg.active("binance"):
                wait = state.banned_until - now
                return WeightVerdict(state.used, 418, wait, int(state.banned_until * 1000))
            window = int(now // window_s)
            if window != state.window:
                state.window, state.used, state.throttled_calls = window, 0, 0
            state.used += weight
            # Unthrottled, the weight is still counted so the header stays informative.
            if state.used <= cfg.binance_weight_limit or not cfg.active("binance"):
                return WeightVerdict(state.used)
            state.throttled_calls += 1
            if state.throttled_calls > cfg.binance_ban_after + 1:
                # Ignoring 429s gets the IP banned; each ban lasts twice the previous one.
                ban = min(cfg.binance_ban_s * 2**state.bans, BAN_CAP_S) * cfg.time_scale
                state.bans += 1
                state.banned_until = now + ban
                state.throttled_calls = 0
                return WeightVerdict(state.used, 418, ban, int(state.banned_until * 1000))
            return WeightVerdict(state.used, 429, (window + 1) * window_s - now)
