"""One fair-value path per base asset, shared by every venue: the source of cross-venue correlation.

The path is a log random walk on a 10 ms grid, generated lazily in one-minute chunks. Each
chunk's end point is drawn first (cheap prefix sums over chunk totals) and its inside is a
Brownian bridge between the end points, so any chunk can be produced alone, in any order,
and always comes out the same for the same seed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from schemahub_lib.sim.catalog import Asset

STEP_NS = 10_000_000  # 10 ms grid: fine enough to carry a 40-120 ms lead-lag
CHUNK_STEPS = 6_000  # one minute per chunk
TOTALS_PER_DRAW = 256  # chunk end points drawn together
SECONDS_PER_YEAR = 365 * 86_400
_CACHE_CHUNKS = 64


def seeded(seed: int, *stream: int) -> np.random.Generator:
    """A generator for one named stream of one seed; the same inputs always give the same draws."""
    return np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, *stream])


class Spike:
    """A window where volatility, venue disagreement and trade rate jump."""

    def __init__(self, start_ns: int, end_ns: int, vol_mult: float, noise_mult: float, rate_mult: float):
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.vol_mult = vol_mult
        self.noise_mult = noise_mult
        self.rate_mult = rate_mult

    def inside(self, t_ns: np.ndarray) -> np.ndarray:
        return (t_ns >= self.start_ns) & (t_ns < self.end_ns)


class FairValue:
    """The log fair price of one asset in USD as a function of time."""

    def __init__(self, seed: int, asset_index: int, asset: Asset, origin_ns: int, spike: Spike | None):
        self.seed = seed
        self.asset_index = asset_index
        self.origin_ns = origin_ns - origin_ns % STEP_NS
        self.spike = spike
        jitter = seeded(seed, 10, asset_index).standard_normal()
        self.start_log = float(np.log(asset.start_price) + 0.05 * jitter)
        self.step_var = asset.annual_vol**2 * (STEP_NS / 1e9) / SECONDS_PER_YEAR
        self._starts = np.array([self.start_log])  # log value at the start of each chunk
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def log_at(self, t_ns: np.ndarray) -> np.ndarray:
        """Log fair price at each time (linear between grid points)."""
        pos = (np.maximum(t_ns, self.origin_ns) - self.origin_ns) / STEP_NS
        chunk = (pos // CHUNK_STEPS).astype(np.int64)
        out = np.empty(len(pos))
        for c in np.unique(chunk):
            mask = chunk == c
            values = self._chunk(int(c))
            out[mask] = np.interp(pos[mask] - c * CHUNK_STEPS, np.arange(CHUNK_STEPS + 1), values)
        return out

    def _step_vars(self, c: int) -> np.ndarray:
        t = self.origin_ns + (c * CHUNK_STEPS + np.arange(CHUNK_STEPS, dtype=np.int64)) * STEP_NS
        var = np.full(CHUNK_STEPS, self.step_var)
        if self.spike is not None:
            var[self.spike.inside(t)] *= self.spike.vol_mult**2
        return var

    def _chunk_var(self, c: int) -> float:
        """Total variance of chunk c (the constant unless the spike overlaps it)."""
        start = self.origin_ns + c * CHUNK_STEPS * STEP_NS
        spike = self.spike
        if spike is None or spike.end_ns <= start or spike.start_ns >= start + CHUNK_STEPS * STEP_NS:
            return CHUNK_STEPS * self.step_var
        return float(self._step_vars(c).sum())

    def _chunk_start(self, c: int) -> float:
        with self._lock:
            while len(self._starts) <= c:
                done = len(self._starts) - 1
                batch = done // TOTALS_PER_DRAW
                z = seeded(self.seed, 11, self.asset_index, batch).standard_normal(TOTALS_PER_DRAW)
                stop = (batch + 1) * TOTALS_PER_DRAW
                totals = [
                    z[j - batch * TOTALS_PER_DRAW] * np.sqrt(self._chunk_var(j)) for j in range(done, stop)
                ]
                self._starts = np.concatenate([self._starts, self._starts[-1] + np.cumsum(totals)])
            return float(self._starts[c])

    def _chunk(self, c: int) -> np.ndarray:
        with self._lock:
            cached = self._chunks.get(c)
            if cached is not None:
                self._chunks.move_to_end(c)
                return cached
        start, end = self._chunk_start(c), self._chunk_start(c + 1)
        var = self._step_vars(c)
        walk = np.cumsum(
            seeded(self.seed, 12, self.asset_index, c).standard_normal(CHUNK_STEPS) * np.sqrt(var)
        )
        cum_var = np.cumsum(var)
        # Brownian bridge: pin the free walk to the pre-drawn end point.
        bridge = walk + cum_var / cum_var[-1] * ((end - start) - walk[-1])
        values = np.concatenate([[start], start + bridge])
        with self._lock:
            self._chunks[c] = values
            if len(self._chunks) > _CACHE_CHUNKS:
                self._chunks.popitem(last=False)
        return values
