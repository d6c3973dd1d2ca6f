"""The live board: each market's last price against the venues it is comparable with.

A market is compared with the median of the other fresh markets of the same base asset and the
same quote asset (USD with USD), never with itself. Where it is the only fresh market of its
quote, it is compared with the fresh markets of the asset in other quotes and the row says so
(`USDT vs USD: ...; includes the USDT/USD basis`): the spread then includes the stablecoin
basis and is never silently mixed. The label names every market compared with. A market
whose last trade is older than `stale_s`, or whose venue has not answered for that long, is
stale: flagged, and left out of every median. A fresh market further than `threshold_bps`
from its median is flagged, and the flag's duration is an episode (market, the markets
compared, start, end, peak bps: the largest distance from the median, signed, negative below).
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

NS = 1_000_000_000


@dataclass(frozen=True)
class Quote:
    """What the detector last saw of one market."""

    exchange: str  # registry name, e.g. kraken
    symbol: str  # canonical, e.g. BTC-USD
    price: float | None  # last trade's price (None: no trade seen yet)
    trade_ns: int | None  # last trade's time
    answered_ns: int | None  # when the venue last answered for this market
    error: str | None = None  # the last poll's error, if it failed

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
class Episode:
    episode_id: str
    base_asset: str
    exchange: str
    symbol: str
    venues: str
    comparison: str
    start_ns: int
    end_ns: int
    peak_bps: float
    threshold_bps: float

    def row(self) -> dict[str, Any]:
        def ts(ns: int) -> datetime:
            return datetime.fromtimestamp(ns / NS, tz=UTC)

        return {
            "episode_id": self.episode_id,
            "recorded_at": datetime.now(UTC),
            "base_asset": self.base_asset,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "venues": self.venues,
            "comparison": self.comparison,
            "start_ts": ts(self.start_ns),
            "end_ts": ts(self.end_ns),
            "peak_bps": round(self.peak_bps, 3),
            "threshold_bps": self.threshold_bps,
        }


def is_stale(q: Quote, now_ns: int, stale_s: float) -> bool:
    limit = int(stale_s * NS)
    if q.trade_ns is None or q.price is None or now_ns - q.trade_ns > limit:
        return True
    return q.answered_ns is None or now_ns - q.answered_ns > limit


def board(
    quotes: Iterable[Quote],
    now_ns: int,
    *,
    threshold_bps: float,
    stale_s: float,
    leaders: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per market, sorted by asset and market (see the module docstring)."""
    quotes = sorted(quotes, key=lambda q: (q.base, q.quote, q.exchange))
    fresh = [q for q in quotes if not is_stale(q, now_ns, stale_s)]
    rows = []
    for q in quotes:
        stale = q not in fresh
        peers, comparison = compare_with(q, quotes, fresh)
        if stale:
            peers, comparison = [], "left out of the comparison: stale"
        bps = None
        if peers and not stale and q.price is not None:
            median = statistics.median(p.price for p in peers if p.price is not None)
            bps = (q.price - median) / median * 1e4
        flags = []
        if stale:
            flags.append("stale")
        if bps is not None and abs(bps) > threshold_bps:
            flags.append("spread")
        rows.append(
            {
                "asset": q.base,
                "market": q.name,
                "exchange": q.exchange,
                "symbol": q.symbol,
                "quote": q.quote,
                "price": q.price,
                "age_s": None if q.trade_ns is None else round((now_ns - q.trade_ns) / NS, 1),
                "bps_vs_median": None if bps is None else round(bps, 2),
                "compared": comparison,
                "venues": ",".join(p.name for p in peers),
                "flags": flags,
                "leader": (leaders or {}).get(q.base),
                "error": q.error,
            }
        )
    return rows


def compare_with(q: Quote, quotes: Sequence[Quote], fresh: Sequence[Quote]) -> tuple[list[Quote], str]:
    """The markets `q` is compared with (never itself) and a label naming exactly them.

    The fresh other markets of its asset and quote; when there are none, the fresh markets of
    its asset in other quotes, labelled as including the basis between the quotes. A market of
    its quote left out because it is stale is named too."""
    others = [f for f in fresh if f.base == q.base and f != q]
    same = [f for f in others if f.quote == q.quote]
    peers = same or others
    if not peers:
        return [], "nothing fresh to compare with"
    quotes_in = sorted({p.quote for p in peers})
    names = ", ".join(p.name for p in peers)
    label = f"{q.quote} vs {'/'.join(quotes_in)}: " + (f"median of {names}" if len(peers) > 1 else names)
    if not same:
        label += f"; includes the {q.quote}/{'/'.join(quotes_in)} basis"
        left_out = [
            m for m in quotes if m.base == q.base and m.quote == q.quote and m != q and m not in fresh
        ]
        if left_out:
            label += f" ({', '.join(m.name for m in left_out)} left out: stale)"
    return peers, label


class EpisodeTracker:
    """Turns the `spread` flag on successive boards into episodes."""

    def __init__(self, threshold_bps: float) -> None:
        self.threshold_bps = threshold_bps
        self.open: dict[str, dict[str, Any]] = {}

    def update(self, rows: Iterable[dict[str, Any]], now_ns: int) -> list[Episode]:
        """Feed one board; returns the episodes that ended with it."""
        flagged = {r["market"]: r for r in rows if "spread" in r["flags"]}
        for name, r in flagged.items():
            ep = self.open.setdefault(name, {"row": r, "start_ns": now_ns, "peak": r["bps_vs_median"]})
            if abs(r["bps_vs_median"]) > abs(ep["peak"]):
                ep["peak"] = r["bps_vs_median"]
        ended = [name for name in self.open if name not in flagged]
        return [self._close(name, now_ns) for name in ended]

    def close_all(self, now_ns: int) -> list[Episode]:
        return [self._close(name, now_ns) for name in list(self.open)]

    def _close(self, name: str, now_ns: int) -> Episode:
        ep = self.open.pop(name)
        r = ep["row"]
        return Episode(
            episode_id=uuid.uuid4().hex,
            base_asset=r["asset"],
            exchange=r["exchange"],
            symbol=r["symbol"],
            venues=r["venues"],
            comparison=r["compared"],
            start_ns=ep["start_ns"],
            end_ns=now_ns,
            peak_bps=float(ep["peak"]),
            threshold_bps=self.threshold_bps,
        )
