"""A replay window: what the page animates, computed here from every trade in the window.

The timeline is a fixed grid (`step_ms`); at each step it holds, per market, the last traded
price at or before the step and the trades in the second up to it, and across markets the
spread (max - min over the median, in bps) and each market's distance from the median. The
page indexes this grid by the slider position and draws; it computes nothing.

Drawing uses a downsampled copy of each market's trades (first, min, max and last of each
bucket, so every excursion is drawn); the numbers above always come from all trades.

Gaps: the coverage ledger's gap rows that fall in the window, a market with no trades in the
window, and silences far longer than the market's normal pace are returned as intervals so
the page never draws a hole as calm trading.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemahub_lib.explore.leadlag import LeadLag, estimate_lead_lag
from schemahub_lib.explore.source import ExploreError, MarketKey, MarketTrades

MAX_WINDOW_S = 30 * 60  # a longer request is cut to this, and the answer says so
MAX_STEPS = 20_000
DRAW_BUCKETS = 1_500  # per market: up to 4 points per bucket
SILENCE_MIN_S = 30.0  # a silence shorter than this is never a gap
SILENCE_FACTOR = 50.0  # ... nor one shorter than this many median inter-trade times
NS = 1_000_000_000
MS = 1_000_000


@dataclass(frozen=True)
class Window:
    start_ns: int
    end_ns: int
    notice: str | None = None  # why the window differs from what was asked


def clamp_window(start_ns: int, end_ns: int, max_s: int = MAX_WINDOW_S) -> Window:
    if end_ns <= start_ns:
        raise ExploreError(f"empty window: end ({end_ns}) must be after start ({start_ns})")
    if end_ns - start_ns > max_s * NS:
        return Window(
            start_ns,
            start_ns + max_s * NS,
            f"window capped at {max_s // 60} minutes (asked for {(end_ns - start_ns) / 60e9:.0f})",
        )
    return Window(start_ns, end_ns)


def step_for(window: Window) -> int:
    """Grid step in ms: 100 ms, coarser only when the grid would pass MAX_STEPS."""
    span_ms = (window.end_ns - window.start_ns) // MS
    return int(max(100, -(-span_ms // MAX_STEPS)))


def last_price_grid(t_ns: np.ndarray, price: np.ndarray, grid_ns: np.ndarray) -> np.ndarray:
    """The last price at or before each grid time (NaN before the first trade)."""
    idx = np.searchsorted(t_ns, grid_ns, side="right") - 1
    out = np.full(len(grid_ns), np.nan)
    ok = idx >= 0
    out[ok] = price[idx[ok]]
    return out


def rate_grid(t_ns: np.ndarray, grid_ns: np.ndarray, per_s: float = 1.0) -> np.ndarray:
    """Trades in the `per_s` seconds up to each grid time, per second."""
    hi = np.searchsorted(t_ns, grid_ns, side="right")
    lo = np.searchsorted(t_ns, grid_ns - int(per_s * NS), side="right")
    return (hi - lo) / per_s


def spread_grid(prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(spread in bps, each market's bps from the median) per grid step; prices: markets x steps."""
    # All-NaN columns (before any market traded) are expected: silence numpy's warning.
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(prices, axis=0)
        hi = np.nanmax(prices, axis=0)
        lo = np.nanmin(prices, axis=0)
    present = np.sum(~np.isnan(prices), axis=0)
    spread = np.where(present >= 2, (hi - lo) / median * 1e4, np.nan)
    vs_median = (prices - median) / median * 1e4
    return spread, vs_median


def downsample(t_ns: np.ndarray, price: np.ndarray, start_ns: int, end_ns: int, buckets: int = DRAW_BUCKETS):
    """First, min, max and last trade of each time bucket, in time order (for drawing only)."""
    if len(t_ns) <= 4 * buckets:
        return t_ns, price
    width = max((end_ns - start_ns) // buckets, 1)
    b = (t_ns - start_ns) // width
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    ends = np.r_[starts[1:], len(b)] - 1
    picks = [starts, ends]
    for reduce in (np.minimum, np.maximum):
        extreme = reduce.reduceat(price, starts)
        # the first index in each bucket holding the extreme
        is_ext = price == np.repeat(extreme, np.diff(np.r_[starts, len(b)]))
        cand = np.where(is_ext, np.arange(len(price)), len(price))
        picks.append(np.minimum.reduceat(cand, starts))
    keep = np.unique(np.concatenate(picks))
    return t_ns[keep], price[keep]


def silences(t_ns: np.ndarray, start_ns: int, end_ns: int) -> list[tuple[int, int]]:
    """Stretches with no trade far longer than the market's normal pace."""
    if len(t_ns) < 3:
        return []
    edges = np.r_[start_ns, t_ns, end_ns]
    gaps = np.diff(edges)
    typical = float(np.median(np.diff(t_ns))) or 1.0
    limit = max(SILENCE_MIN_S * NS, SILENCE_FACTOR * typical)
    where = np.flatnonzero(gaps > limit)
    return [(int(edges[i]), int(edges[i + 1])) for i in where]


def find_gaps(
    trades: Mapping[MarketKey, MarketTrades], ledger: Sequence[Mapping[str, Any]], window: Window
) -> list[dict[str, Any]]:
    """Intervals (ms from the window start) where a market's data is missing or doubtful."""
    out: list[dict[str, Any]] = []

    def add(market: MarketKey, a: int, b: int, kind: str, detail: str) -> None:
        a, b = max(a, window.start_ns), min(b, window.end_ns)
        if b > a:
            out.append(
                {
                    "market": market.name,
                    "start_ms": (a - window.start_ns) // MS,
                    "end_ms": (b - window.start_ns) // MS,
                    "kind": kind,
                    "detail": detail,
                }
            )

    by_key = {(m.exchange.lower(), m.symbol): m for m in trades}
    for row in ledger:
        market = by_key.get((str(row["exchange"]).lower(), row["symbol"]))
        if market is None:
            continue
        a, b = _ns(row["first_ts"]), _ns(row["last_ts"])
        ids = f"ids {row.get('first_id')}..{row.get('last_id')}"
        add(market, a, b, "ledger", f"coverage ledger: {row.get('status')} gap in {row.get('layer')}, {ids}")
    for market, mt in trades.items():
        if len(mt.t_ns) == 0:
            add(market, window.start_ns, window.end_ns, "no_data", "no trades in this window")
            continue
        for a, b in silences(mt.t_ns, window.start_ns, window.end_ns):
            add(market, a, b, "silence", f"no trades for {(b - a) / NS:.0f} s")
    return out


def lead_lag_summary(results: Sequence[LeadLag]) -> dict[str, Any]:
    """One line for the page, and every pair's figures."""
    leads = [r for r in results if r.leader is not None]
    if not results:
        text = "lead-lag: not enough trades in the window"
    elif not leads:
        worst = max(results, key=lambda r: abs(r.lag_ms))
        text = f"no venue leads (largest lag {worst.lag_ms:+.0f} ms ± {worst.stderr_ms:.0f}, not significant)"
    else:
        text = "; ".join(r.text() for r in leads)
    return {"text": text, "pairs": [r.as_dict() for r in results]}


def lead_lag(trades: Mapping[MarketKey, MarketTrades]) -> dict[str, Any]:
    """Every pair of markets, the busier one first (so a positive lag reads 'first leads')."""
    ranked = sorted(trades.values(), key=lambda m: -len(m.t_ns))
    exchanges = [m.exchange for m in trades]

    def label(m: MarketKey) -> str:
        """The venue's name, with the symbol when the venue has two markets in the window."""
        return m.exchange.lower() if exchanges.count(m.exchange) == 1 else f"{m.exchange.lower()} {m.symbol}"

    results = []
    for i, a in enumerate(ranked):
        for b in ranked[i + 1 :]:
            r = estimate_lead_lag(label(a.market), a.t_ns, a.price, label(b.market), b.t_ns, b.price)
            if r is not None:
                results.append(r)
    return lead_lag_summary(results)


def build_replay(
    trades: Mapping[MarketKey, MarketTrades], window: Window, ledger: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The page's whole replay payload (JSON-ready): grid, drawing series, gaps, figures."""
    step_ms = step_for(window)
    grid = np.arange(window.start_ns, window.end_ns + 1, step_ms * MS, dtype=np.int64)
    markets = list(trades)
    prices = np.vstack([last_price_grid(trades[m].t_ns, trades[m].price, grid) for m in markets])
    spread, vs_median = spread_grid(prices)
    rates = [rate_grid(trades[m].t_ns, grid) for m in markets]
    quotes = sorted({m.quote for m in markets})
    series = []
    drawn = [downsample(trades[m].t_ns, trades[m].price, window.start_ns, window.end_ns) for m in markets]
    for i, m in enumerate(markets):
        mt = trades[m]
        series.append(
            {
                "market": m.name,
                "exchange": m.exchange,
                "symbol": m.symbol,
                "quote": m.quote,
                "trades": len(mt.t_ns),
                "last_price": _nullable(prices[i]),
                "bps_vs_median": _nullable(np.round(vs_median[i], 2)),
                "trades_per_s": rates[i].tolist(),
            }
        )
    return {
        "start_ns": window.start_ns,
        "end_ns": window.end_ns,
        "notice": window.notice,
        "step_ms": step_ms,
        "steps": len(grid),
        "quotes": quotes,
        "mixed_quotes": (
            f"compares {' and '.join(quotes)} quotes: the spread includes the {'/'.join(quotes)} basis"
            if len(quotes) > 1
            else None
        ),
        "markets": series,
        "draw": aligned(drawn, window.start_ns),
        "spread_bps": _nullable(np.round(spread, 2)),
        "trades_per_s": np.sum(rates, axis=0).tolist(),
        "gaps": find_gaps(trades, ledger, window),
        "trades": int(sum(len(t.t_ns) for t in trades.values())),
    }


def aligned(drawn: Sequence[tuple[np.ndarray, np.ndarray]], start_ns: int) -> dict[str, Any]:
    """The drawing series on one shared x axis (ms from the window start), null where a market
    has no point: the shape the chart library takes."""
    xs = np.unique(np.concatenate([t for t, _ in drawn])) if drawn else np.empty(0, np.int64)
    ys = []
    for t, p in drawn:
        y = np.full(len(xs), np.nan)
        y[np.searchsorted(xs, t)] = p
        ys.append(_nullable(y))
    return {"t_ms": ((xs - start_ns) / MS).round(3).tolist(), "prices": ys}


def _nullable(values: np.ndarray) -> list[float | None]:
    return [None if v != v else float(v) for v in values.tolist()]


def _ns(value: Any) -> int:
    return int(value.timestamp() * 1e9) if hasattr(value, "timestamp") else int(value)
