"""Which venue moves first, and by how many milliseconds, from the trades themselves.

The estimator is Hoffmann, Rosenbaum and Yoshida's (2013): the Hayashi-Yoshida covariance of
two asynchronously observed log-price paths, computed with one path shifted by a lag tau, is
largest at the true lead-lag. Hayashi-Yoshida sums r_a(I) * r_b(J) over every pair of
inter-trade intervals I of venue A and J of venue B that overlap, so it needs no resampling
onto a grid (resampling biases the covariance towards zero lag, the Epps effect) and no
interpolation. With B shifted back by tau the overlap test runs against J - tau; for each
interval of A the overlapping J form one contiguous run, summed from a prefix sum of B's
returns, so one tau costs two binary searches per trade.

A positive lag means A leads B: B's price follows A's by `lag_ms`.

Uncertainty: the covariance is a sum over A's intervals, so it splits by time into blocks at
no extra cost. Leaving one block out at a time gives jackknife replicates of the whole curve;
the standard error of their arg-max is the `± M`. A lag is only called a lead when it is larger
than both three times that error and the coarse grid step; otherwise no venue leads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LAG_MS = 1_000.0
COARSE_STEP_MS = 10.0
FINE_STEP_MS = 1.0
JACKKNIFE_BLOCKS = 10
MIN_TRADES = 30  # per venue; fewer cannot locate a peak


@dataclass(frozen=True)
class LeadLag:
    """The lead-lag between two venues' trades (A and B in the order given)."""

    a: str
    b: str
    lag_ms: float  # > 0: a leads b
    stderr_ms: float
    correlation: float  # Hayashi-Yoshida correlation at the lag
    trades_a: int
    trades_b: int
    significant: bool

    @property
    def leader(self) -> str | None:
        if not self.significant:
            return None
        return self.a if self.lag_ms > 0 else self.b

    @property
    def follower(self) -> str | None:
        if not self.significant:
            return None
        return self.b if self.lag_ms > 0 else self.a

    def text(self) -> str:
        if self.leader is None:
            return (
                f"no venue leads between {self.a} and {self.b} ({self.lag_ms:+.0f} ms ± {self.stderr_ms:.0f})"
            )
        return f"{self.leader} leads {self.follower} by {abs(self.lag_ms):.0f} ms ± {self.stderr_ms:.0f}"

    def as_dict(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "lag_ms": round(self.lag_ms, 1),
            "stderr_ms": round(self.stderr_ms, 1),
            "correlation": round(self.correlation, 4),
            "trades_a": self.trades_a,
            "trades_b": self.trades_b,
            "leader": self.leader,
            "follower": self.follower,
            "text": self.text(),
        }


def last_per_timestamp(t_ns: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One observation per distinct time (the last trade at it): an order sweeping several
    makers prints many fills at one timestamp, and zero-length intervals carry no information."""
    if len(t_ns) == 0:
        return t_ns, price
    keep = np.r_[t_ns[1:] != t_ns[:-1], True]
    return t_ns[keep], price[keep]


def hy_curve(
    t_a: np.ndarray, p_a: np.ndarray, t_b: np.ndarray, p_b: np.ndarray, lags_ns: np.ndarray, blocks: int
) -> tuple[np.ndarray, float]:
    """Hayashi-Yoshida covariance per (time block of A, lag), and the normaliser sqrt(Σr_a² Σr_b²).

    Times are sorted int64 ns with one observation each; returns shape (blocks, len(lags_ns)).
    """
    r_a = np.diff(np.log(p_a))
    r_b = np.diff(np.log(p_b))
    a0, a1 = t_a[:-1], t_a[1:]
    prefix_b = np.r_[0.0, np.cumsum(r_b)]  # prefix_b[k] = sum of r_b over intervals 0..k-1
    span = max(int(t_a[-1] - t_a[0]), 1)
    block_of = np.minimum((a1 - t_a[0]) * blocks // span, blocks - 1)
    out = np.empty((blocks, len(lags_ns)))
    for i, lag in enumerate(lags_ns):
        # B's interval j, shifted back by the lag, is (t_b[j] - lag, t_b[j+1] - lag]; it overlaps
        # (a0, a1] iff t_b[j+1] > a0 + lag and t_b[j] < a1 + lag. Shifting A's (fewer) bounds
        # forward instead of B's times back costs no copy of B.
        lo = np.searchsorted(t_b, a0 + lag, side="right") - 1  # first j with t_b[j+1] > a0 + lag
        hi = np.searchsorted(t_b, a1 + lag, side="left")  # j < hi  <=>  t_b[j] < a1 + lag
        lo = np.clip(lo, 0, len(r_b))
        hi = np.clip(hi, 0, len(r_b))
        sums = np.where(hi > lo, prefix_b[np.maximum(hi, lo)] - prefix_b[lo], 0.0)
        out[:, i] = np.bincount(block_of, weights=r_a * sums, minlength=blocks)
    norm = float(np.sqrt(np.sum(r_a**2) * np.sum(r_b**2))) or 1.0
    return out, norm


def estimate_lead_lag(
    a: str,
    t_a: np.ndarray,
    p_a: np.ndarray,
    b: str,
    t_b: np.ndarray,
    p_b: np.ndarray,
    *,
    max_lag_ms: float = MAX_LAG_MS,
) -> LeadLag | None:
    """The lead-lag of venue `b` behind venue `a`; None when either has too few trades.

    A coarse pass over ±max_lag_ms finds the peak of |covariance|; a fine pass at 1 ms around
    it places it. Trades must be sorted by time.
    """
    t_a, p_a = last_per_timestamp(np.asarray(t_a, dtype=np.int64), np.asarray(p_a, dtype=float))
    t_b, p_b = last_per_timestamp(np.asarray(t_b, dtype=np.int64), np.asarray(p_b, dtype=float))
    if len(t_a) < MIN_TRADES or len(t_b) < MIN_TRADES:
        return None
    if len(t_a) > len(t_b):
        # The work is a binary search per interval of A: search with the sparser venue.
        swapped = estimate_lead_lag(b, t_b, p_b, a, t_a, p_a, max_lag_ms=max_lag_ms)
        assert swapped is not None
        return LeadLag(
            a=a,
            b=b,
            lag_ms=-swapped.lag_ms,
            stderr_ms=swapped.stderr_ms,
            correlation=swapped.correlation,
            trades_a=swapped.trades_b,
            trades_b=swapped.trades_a,
            significant=swapped.significant,
        )
    ms = 1_000_000
    coarse = np.arange(-max_lag_ms, max_lag_ms + COARSE_STEP_MS / 2, COARSE_STEP_MS)
    curves, norm = hy_curve(t_a, p_a, t_b, p_b, (coarse * ms).astype(np.int64), JACKKNIFE_BLOCKS)
    total = curves.sum(axis=0)
    peak = coarse[int(np.argmax(np.abs(total)))]
    fine = np.arange(peak - COARSE_STEP_MS * 2, peak + COARSE_STEP_MS * 2 + FINE_STEP_MS / 2, FINE_STEP_MS)
    lags = np.r_[coarse, fine]
    fine_curves, _ = hy_curve(t_a, p_a, t_b, p_b, (fine * ms).astype(np.int64), JACKKNIFE_BLOCKS)
    curves = np.concatenate([curves, fine_curves], axis=1)
    total = curves.sum(axis=0)
    best = int(np.argmax(np.abs(total)))
    # Jackknife: the arg-max of the curve without each block in turn.
    replicates = np.array([lags[int(np.argmax(np.abs(total - curves[k])))] for k in range(len(curves))])
    k = len(replicates)
    stderr = float(np.sqrt((k - 1) / k * np.sum((replicates - replicates.mean()) ** 2)))
    stderr = max(stderr, FINE_STEP_MS / 2)
    lag = float(lags[best])
    significant = abs(lag) > max(3 * stderr, COARSE_STEP_MS) and total[best] > 0
    return LeadLag(
        a=a,
        b=b,
        lag_ms=lag,
        stderr_ms=stderr,
        correlation=float(total[best] / norm),
        trades_a=len(t_a),
        trades_b=len(t_b),
        significant=significant,
    )
