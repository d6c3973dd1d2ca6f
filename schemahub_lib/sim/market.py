"""Deterministic trade generation: each product's history in lazily built, cached blocks.

A product's history is cut into fixed-length time blocks from the history origin. A block's
trade count (and how many ids it skips) is drawn per group of blocks, so the id and sequence
number where any block starts are cheap prefix sums; the trades themselves are drawn per
block with numpy from a generator keyed by (seed, venue, product, block). The same seed
therefore yields the same trades whatever order blocks are asked for in.

Positions are global sequence numbers (0 = the first trade of the history); ids and times map
to sequence numbers through the block index.
"""

from __future__ import annotations

import threading

import numpy as np

from schemahub_lib.sim.blocks import Block, BlockCache
from schemahub_lib.sim.catalog import QUOTE_BASIS_BP, Asset, ProductSpec, VenueStyle
from schemahub_lib.sim.fairvalue import FairValue, Spike, seeded

MS = 1_000_000
COUNTS_PER_DRAW = 256  # blocks whose counts are drawn together
TARGET_BLOCK_TRADES = 2_000
MAX_FILLS = 12  # an order sweeps at most this many makers (keeps same-time groups small)
_INTENSITY_STEPS = 64


class TradeStream:
    """One product's complete, deterministic trade history."""

    def __init__(
        self,
        spec: ProductSpec,
        style: VenueStyle,
        asset: Asset,
        *,
        seed: int,
        venue_index: int,
        product_index: int,
        origin_ns: int,
        rate: float,
        fair: FairValue,
        spike: Spike | None,
        lag_ms: float,
        id_gap_rate: float,
        cache: BlockCache,
    ) -> None:
        self.spec = spec
        self.style = style
        self.asset = asset
        self.seed = seed
        self.stream_key = (venue_index, product_index)
        self.origin_ns = origin_ns - origin_ns % MS  # ms-aligned so unit flooring never crosses blocks
        self.rate = rate
        self.fair = fair
        self.spike = spike
        self.lag_ns = int(lag_ms * MS)
        self.id_gap_rate = id_gap_rate
        self.cache = cache
        raw_block = TARGET_BLOCK_TRADES / rate * 1e9
        self.block_ns = int(min(max(raw_block, 1e9), 600e9)) // MS * MS
        self._seq_start = np.zeros(1, dtype=np.int64)  # seq of each block's first trade (+1 end)
        self._id_start = np.array([spec.first_id], dtype=np.int64)  # first id of each block's span
        self._lock = threading.Lock()

    # ---- block index -------------------------------------------------------------------

    def _expected_counts(self, first: int, n: int) -> np.ndarray:
        """Expected trades per block: the rate, times the spike multiplier where they overlap."""
        starts = self.origin_ns + (first + np.arange(n, dtype=np.int64)) * self.block_ns
        lam = np.full(n, self.rate * self.block_ns / 1e9)
        if self.spike is not None:
            overlap = np.clip(
                np.minimum(starts + self.block_ns, self.spike.end_ns)
                - np.maximum(starts, self.spike.start_ns),
                0,
                None,
            )
            lam += self.rate * (self.spike.rate_mult - 1) * overlap / 1e9
        return lam

    def _ensure(self, block: int) -> None:
        """Extend the index so blocks 0..block have known first seq and first id."""
        with self._lock:
            while len(self._seq_start) <= block + 1:
                batch = (len(self._seq_start) - 1) // COUNTS_PER_DRAW
                lam = self._expected_counts(batch * COUNTS_PER_DRAW, COUNTS_PER_DRAW)
                counts = seeded(self.seed, 21, *self.stream_key, batch).poisson(lam).astype(np.int64)
                gaps = np.zeros_like(counts)
                if self.id_gap_rate > 0:
                    gaps = seeded(self.seed, 22, *self.stream_key, batch).binomial(counts, self.id_gap_rate)
                self._seq_start = np.concatenate([self._seq_start, self._seq_start[-1] + np.cumsum(counts)])
                self._id_start = np.concatenate(
                    [self._id_start, self._id_start[-1] + np.cumsum(counts + gaps)]
                )

    def block_of_time(self, t_ns: int) -> int:
        return (t_ns - self.origin_ns) // self.block_ns

    def block(self, k: int) -> Block:
        key = (self.spec.exchange, self.spec.symbol, k)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        self._ensure(k)
        return self.cache.put(key, self._generate(k))

    # ---- lookups by time, id and sequence number ----------------------------------------

    def end_seq(self, now_ns: int) -> int:
        """How many trades exist at `now_ns` (trades with time <= now)."""
        k = self.block_of_time(now_ns)
        if k < 0:
            return 0
        blk = self.block(k)
        return blk.seq_start + int(np.searchsorted(blk.time_ns, now_ns, side="right"))

    def seq_at_time(self, t_ns: int, *, inclusive: bool = True) -> int:
        """First sequence number whose time is >= t (or > t when not inclusive)."""
        k = self.block_of_time(t_ns)
        if k < 0:
            return 0
        blk = self.block(k)
        if inclusive:
            return blk.seq_start + int(np.searchsorted(blk.time_ns, t_ns, side="left"))
        return blk.seq_start + int(np.searchsorted(blk.time_ns, t_ns, side="right"))

    def seq_at_id(self, trade_id: int, limit_block: int) -> int:
        """First sequence number whose id is >= trade_id, searching blocks up to `limit_block`."""
        self._ensure(limit_block)
        starts = self._id_start[: limit_block + 2]
        k = int(np.searchsorted(starts, trade_id, side="right")) - 1
        if k < 0:
            return 0
        if k > limit_block:
            return int(self._seq_start[limit_block + 1])
        blk = self.block(k)
        return blk.seq_start + int(np.searchsorted(blk.ids, trade_id, side="left"))

    def pieces(self, seq_a: int, seq_b: int) -> list[tuple[Block, int, int]]:
        """The (block, lo, hi) slices covering sequence numbers [seq_a, seq_b), ascending."""
        out: list[tuple[Block, int, int]] = []
        if seq_b <= seq_a:
            return out
        with self._lock:
            starts = self._seq_start
        k = max(int(np.searchsorted(starts, seq_a, side="right")) - 1, 0)
        while seq_a < seq_b:
            blk = self.block(k)
            lo, hi = seq_a - blk.seq_start, min(seq_b - blk.seq_start, len(blk))
            if hi > lo:
                out.append((blk, lo, hi))
                seq_a = blk.seq_start + hi
            k += 1
        return out

    def arrays(self, seq_a: int, seq_b: int) -> dict[str, np.ndarray]:
        """Trades [seq_a, seq_b) as column arrays (for ground truth)."""
        parts = self.pieces(seq_a, seq_b)
        cols = ("ids", "time_ns", "price_ticks", "size_steps", "taker_buy", "market_order")
        if not parts:
            return {
                c: np.array([], dtype=np.int64 if c not in ("taker_buy", "market_order") else bool)
                for c in cols
            }
        return {c: np.concatenate([getattr(b, c)[lo:hi] for b, lo, hi in parts]) for c in cols}

    def skipped_between(self, first_id: int, last_id: int, limit_block: int) -> np.ndarray:
        """Ids in [first_id, last_id] that were never issued."""
        if self.id_gap_rate <= 0 or last_id < first_id:
            return np.array([], dtype=np.int64)
        self._ensure(limit_block)
        starts = self._id_start[: limit_block + 2]
        k0 = max(int(np.searchsorted(starts, first_id, side="right")) - 1, 0)
        k1 = min(int(np.searchsorted(starts, last_id, side="right")) - 1, limit_block)
        found = [self.block(k).skipped_ids for k in range(k0, k1 + 1)]
        ids = np.concatenate(found) if found else np.array([], dtype=np.int64)
        return ids[(ids >= first_id) & (ids <= last_id)]

    # ---- generation ------------------------------------------------------------------------

    def _generate(self, k: int) -> Block:
        seq0, seq1 = int(self._seq_start[k]), int(self._seq_start[k + 1])
        id0, id1 = int(self._id_start[k]), int(self._id_start[k + 1])
        n, n_gaps = seq1 - seq0, (id1 - id0) - (seq1 - seq0)
        rng = seeded(self.seed, 23, *self.stream_key, k)
        start = self.origin_ns + k * self.block_ns

        # One taker order fills against several makers at one timestamp (same side, walking ticks).
        fills = np.minimum(rng.geometric(1.0 / self.style.mean_fills, size=max(n, 1)), MAX_FILLS)
        ends = np.cumsum(fills)
        n_orders = int(np.searchsorted(ends, n)) + 1 if n else 0
        fills = fills[:n_orders].copy()
        if n_orders:
            fills[-1] = n - (ends[n_orders - 2] if n_orders > 1 else 0)
        order_of = np.repeat(np.arange(n_orders), fills)
        walk = np.arange(n) - np.repeat(np.cumsum(fills) - fills, fills)

        raw_t = start + self._order_offsets(rng, start, n_orders)
        t = raw_t[order_of]
        buy = (rng.random(n_orders) < 0.5)[order_of]
        market = (rng.random(n_orders) < 0.65)[order_of]

        # Noise per order, not per fill, so one order's sweep walks the book monotonically.
        noise = (rng.standard_normal(n_orders) * self.style.noise_bp * 1e-4)[order_of]
        if self.spike is not None:
            noise[self.spike.inside(t)] *= self.spike.noise_mult
        log_p = self.fair.log_at(t - self.lag_ns) + noise + QUOTE_BASIS_BP.get(self.spec.quote, 0.0) * 1e-4
        side_sign = np.where(buy, 1, -1)
        price = np.exp(log_p) * (1 + side_sign * self.style.half_spread_bp * 1e-4)
        ticks = np.maximum(
            np.rint(price * 10**self.spec.price_decimals).astype(np.int64) + side_sign * walk, 1
        )

        sizes = np.exp(np.log(self.asset.size_median) + self.asset.size_sigma * rng.standard_normal(n))
        steps = np.clip(np.rint(sizes * 10**self.spec.size_decimals), 1, None).astype(np.int64)

        skip = np.zeros(n, dtype=np.int64)
        if n_gaps:
            skip[rng.choice(n, size=n_gaps, replace=False)] = 1
        ids = id0 + np.arange(n, dtype=np.int64) + np.cumsum(skip)
        skipped = ids[skip == 1] - 1
        return Block(k, seq0, ids, self._quantize(t), ticks, steps, buy, market, skipped)

    def _order_offsets(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Sorted order times within the block, denser where the spike raises the rate."""
        u = np.sort(rng.random(n))
        if self.spike is None or self.spike.end_ns <= start or self.spike.start_ns >= start + self.block_ns:
            return (u * self.block_ns).astype(np.int64)
        edges = np.linspace(0, self.block_ns, _INTENSITY_STEPS + 1)
        mids = start + ((edges[:-1] + edges[1:]) / 2).astype(np.int64)
        weight = np.where(self.spike.inside(mids), self.spike.rate_mult, 1.0)
        cdf = np.concatenate([[0.0], np.cumsum(weight)]) / weight.sum()
        return np.minimum(np.interp(u, cdf, edges), self.block_ns - 1).astype(np.int64)

    def _quantize(self, t: np.ndarray) -> np.ndarray:
        unit = self.style.time_unit_ns
        if unit > 1:
            return t - t % unit
        # Kraken keeps ns digits (its `last` shows them) but sends time as a float with ~7
        # decimals (error <= 1 ulp = 238 ns); keeping the ns part in 250..749 means the float
        # never rounds across a microsecond.
        return t - t % 1000 + 250 + (t % 1000) // 2
