"""The volatility events worth replaying: the 10-second bins with the largest price range.

Per market, trades fall into fixed 10-second bins on trade time; a bin's range is
(max - min) / min in basis points. A bin's score is the median of its markets' ranges, so
one venue's bad print does not make an event. The best bins are taken greedily, each at
least `separation_s` from those already taken, so a spike lasting minutes is one event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from schemahub_lib.explore.source import MarketTrades

BIN_S = 10
SEPARATION_S = 300
TOP = 10


@dataclass(frozen=True)
class VolatilityEvent:
    start_ns: int  # the bin's start
    end_ns: int
    range_bps: float  # median over the markets trading in the bin
    markets: int
    trades: int

    def as_dict(self) -> dict[str, object]:
        return {
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "range_bps": round(self.range_bps, 2),
            "markets": self.markets,
            "trades": self.trades,
        }


def bin_ranges(
    t_ns: np.ndarray, price: np.ndarray, bin_s: int = BIN_S
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin index since the epoch, range in bps, trades) of every non-empty bin of one market."""
    if len(t_ns) == 0:
        empty = np.empty(0)
        return empty.astype(np.int64), empty, empty.astype(np.int64)
    bins = t_ns // (bin_s * 1_000_000_000)
    order = np.argsort(bins, kind="stable")
    bins, price = bins[order], price[order]
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    hi = np.maximum.reduceat(price, starts)
    lo = np.minimum.reduceat(price, starts)
    counts = np.diff(np.r_[starts, len(bins)])
    return bins[starts], (hi - lo) / lo * 1e4, counts


def find_events(
    markets: Iterable[MarketTrades],
    *,
    bin_s: int = BIN_S,
    separation_s: int = SEPARATION_S,
    top: int = TOP,
) -> list[VolatilityEvent]:
    """The `top` bins by median cross-market range, at least `separation_s` apart."""
    per_market = [bin_ranges(m.t_ns, m.price, bin_s) for m in markets]
    return rank_bins(per_market, bin_s=bin_s, separation_s=separation_s, top=top)


def rank_bins(
    per_market: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    bin_s: int = BIN_S,
    separation_s: int = SEPARATION_S,
    top: int = TOP,
) -> list[VolatilityEvent]:
    """`find_events` on bins already made: per market, (bin index, range in bps, trades)."""
    per_market = [p for p in per_market if len(p[0])]
    if not per_market:
        return []
    bins = np.concatenate([p[0] for p in per_market])
    ranges = np.concatenate([p[1] for p in per_market])
    counts = np.concatenate([p[2] for p in per_market])
    order = np.lexsort((ranges, bins))
    bins, ranges, counts = bins[order], ranges[order], counts[order]
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    ends = np.r_[starts[1:], len(bins)]
    # Ranges are sorted within each bin, so the median is the middle element(s).
    n = ends - starts
    median = (ranges[starts + (n - 1) // 2] + ranges[starts + n // 2]) / 2
    trades = np.add.reduceat(counts, starts)
    unique_bins = bins[starts]
    chosen: list[VolatilityEvent] = []
    gap = separation_s // bin_s
    taken: list[int] = []
    for i in np.argsort(-median, kind="stable"):
        if len(chosen) >= top:
            break
        b = int(unique_bins[i])
        if any(abs(b - t) < gap for t in taken):
            continue
        taken.append(b)
        width = bin_s * 1_000_000_000
        chosen.append(
            VolatilityEvent(b * width, (b + 1) * width, float(median[i]), int(n[i]), int(trades[i]))
        )
    return chosen
