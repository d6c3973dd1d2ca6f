"""Ground truth: exactly which trades exist, which ids were never issued, what faults hid.

`hidden` is what a client could not have had: trades a fault swallowed from a page that no
answer has delivered intact (not cut short, not late) since the serve that first swallowed
them. A trade served only before that serve stays hidden: the client that got it may not have
kept it (a backfill killed before its flush), and its successor got the page without it.
`dropped` lists every trade a fault swallowed at some serve.

Tests compare what landed with this. Bounds are inclusive; only trades that exist at the
clock's now are reported, the same set the venue's API can serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.catalog import EXCHANGES, ProductSpec, price_texts, size_texts
from schemahub_lib.sim.faults import FaultBook
from schemahub_lib.sim.scenario import Scenario


@dataclass
class Truth:
    """The trades of one product between bounds, as columns, plus what is missing and why.

    `time_ns` is the venue's own time (Coinbase µs, Binance, OKX and Bitfinex ms, Kraken exact
    ns as in `last`);
    `price`/`size` are the exact decimal strings served; `taker_side` is "buy"/"sell" for the
    aggressor whatever the venue's own convention.
    """

    exchange: str
    product: str  # the venue's symbol (Kraken altname)
    key: str  # what the venue answers with (Kraken's AssetPairs key)
    symbol: str  # canonical BASE-QUOTE
    trade_id: np.ndarray
    time_ns: np.ndarray
    price: list[str]
    size: list[str]
    taker_side: list[str]
    never_issued: list[int] = field(default_factory=list)
    hidden: list[int] = field(default_factory=list)  # trades a fault swallowed, not delivered since
    dropped: list[int] = field(default_factory=list)  # every trade a fault swallowed from some page
    corrupted: dict[int, str] = field(default_factory=dict)  # trade id -> invalid variant served
    spike: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.trade_id)

    def records(self) -> list[dict[str, Any]]:
        return [
            {"trade_id": i, "time_ns": t, "price": p, "size": s, "taker_side": side}
            for i, t, p, s, side in zip(
                self.trade_id.tolist(),
                self.time_ns.tolist(),
                self.price,
                self.size,
                self.taker_side,
                strict=True,
            )
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange,
            "product": self.product,
            "key": self.key,
            "symbol": self.symbol,
            "count": len(self),
            "first_id": int(self.trade_id[0]) if len(self) else None,
            "last_id": int(self.trade_id[-1]) if len(self) else None,
            "first_time_ns": int(self.time_ns[0]) if len(self) else None,
            "last_time_ns": int(self.time_ns[-1]) if len(self) else None,
            "never_issued": self.never_issued,
            "hidden": self.hidden,
            "dropped": self.dropped,
            "corrupted": {str(k): v for k, v in self.corrupted.items()},
            "spike": None if self.spike is None else {"start_ns": self.spike[0], "end_ns": self.spike[1]},
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "trades": self.records()}


def load_truth(
    scenario: Scenario,
    faults: FaultBook,
    exchange: str,
    product: str,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    from_id: int | None = None,
    to_id: int | None = None,
) -> Truth:
    """Trades of `product` with start_ns <= time <= end_ns and from_id <= id <= to_id."""
    if exchange not in EXCHANGES:
        raise ConfigError(f"unknown exchange {exchange!r}; known: {', '.join(sorted(EXCHANGES))}")
    spec = scenario.product(exchange, product)
    stream = scenario.stream(exchange, product)
    if spec is None or stream is None:
        raise ConfigError(f"{exchange} has no tradable product {product!r}")
    now = scenario.now_ns()
    lo, hi = 0, stream.end_seq(now)
    if end_ns is not None:
        hi = min(hi, stream.seq_at_time(end_ns, inclusive=False))
    if start_ns is not None:
        lo = max(lo, stream.seq_at_time(start_ns))
    last_block = stream.block_of_time(now)
    if from_id is not None:
        lo = max(lo, stream.seq_at_id(from_id, last_block))
    if to_id is not None:
        hi = min(hi, stream.seq_at_id(to_id + 1, last_block))
    cols = stream.arrays(lo, max(lo, hi))
    ids = cols["ids"]
    never: list[int] = []
    if len(ids):
        never = stream.skipped_between(int(ids[0]), int(ids[-1]), last_block).tolist()
    in_range = set(ids.tolist())
    return Truth(
        exchange=exchange,
        product=spec.symbol,
        key=spec.key,
        symbol=spec.canonical,
        trade_id=ids,
        time_ns=cols["time_ns"],
        price=price_texts(spec, cols["price_ticks"]),
        size=size_texts(spec, cols["size_steps"]),
        taker_side=["buy" if b else "sell" for b in cols["taker_buy"].tolist()],
        never_issued=never,
        hidden=sorted(i for i in faults.hidden(exchange, spec.symbol) if i in in_range),
        dropped=sorted(i for i in faults.dropped(exchange, spec.symbol) if i in in_range),
        corrupted={i: v for i, v in faults.corrupted(exchange, spec.symbol).items() if i in in_range},
        spike=None if scenario.spike is None else (scenario.spike.start_ns, scenario.spike.end_ns),
    )


def product_listing(scenario: Scenario) -> dict[str, list[dict[str, Any]]]:
    """Every simulated product per venue, for /_sim/info."""
    out: dict[str, list[dict[str, Any]]] = {}
    for (exchange, _), stream in scenario.streams.items():
        spec: ProductSpec = stream.spec
        out.setdefault(exchange, []).append(
            {
                "symbol": spec.symbol,
                "key": spec.key,
                "canonical": spec.canonical,
                "first_id": spec.first_id,
                "trades_per_s": stream.rate,
                "lag_ms": stream.lag_ns / 1e6,
            }
        )
    return out
