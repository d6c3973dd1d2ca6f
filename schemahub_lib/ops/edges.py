"""A stream's head and tail: what landing's state promises against what raw actually holds.

Landing records, per stream, the lowest trade of its landed block and the evidence that it is
the exchange's first at or after the promised start (`History`: the start, the proof, the
trade just below it), and the newest trade landed (the watermark). Raw's own lowest and
highest ids are the audit's. A head gap is the ids from the promised first trade up to raw's
lowest (those trades were landed once and are gone, so the first trade raw holds has no start
evidence); a tail gap is the ids above raw's highest up to the watermark. Both are reported
like any gap, as an id range with times, and repair refetches them the same way.

Times of an edge gap, as of any gap, are those of the trades either side: for a head gap the
evidence trade below the start (when recorded; else the promised first trade's own time) and
raw's lowest trade; for a tail gap raw's highest trade and, with no trade after it, the
watermark's own time. `after_ts` is so always at or below the time of the gap's first id: a
time-paged refetch starting there reaches every id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemahub_lib.landing.state import Position, StreamState

HEAD = "head"
TAIL = "tail"


@dataclass(frozen=True)
class Edge:
    """An id range landing's state promises that raw does not hold, at one end of a stream."""

    edge: str  # head or tail
    first_id: int
    last_id: int
    after_ts: datetime
    before_ts: datetime


def edges(
    state: StreamState,
    first_id: int | None,
    last_id: int | None,
    first_ts: datetime | None,
    last_ts: datetime | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Edge]:
    """The head and tail gaps of one stream whose raw ids span `first_id..last_id` at times
    `first_ts..last_ts` (None: no rows), within the trade-time window [since, until)."""
    landed = state.landed_ids()
    if not landed:
        return []
    low = state.below.first if state.below is not None else state.first
    high = state.up.top if state.up is not None else state.last
    if low is None or high is None:
        return []
    out: list[Edge] = []
    if first_id is None or last_id is None:
        if _inside(low, since, until) or _inside(high, since, until):
            out.append(Edge(HEAD, low.trade_id, high.trade_id, start_time(state, low), time_of(high)))
        return out
    if first_id > low.trade_id and _inside(low, since, until):
        out.append(Edge(HEAD, low.trade_id, first_id - 1, start_time(state, low), first_ts or time_of(low)))
    if last_id < high.trade_id and _inside(high, since, until):
        out.append(Edge(TAIL, last_id + 1, high.trade_id, last_ts or time_of(high), time_of(high)))
    return out


def start_time(state: StreamState, low: Position) -> datetime:
    """At or below the time of the promised first trade: the evidence trade when recorded."""
    before = state.history.before if state.history is not None else None
    if before is not None and before.time_ns <= low.time_ns:
        return _dt(before.time_ns)
    return time_of(low)


def start_evidence(state: StreamState) -> dict[str, Any] | None:
    """The promised start and its evidence, as audit reports and records them."""
    history, first = state.history, state.first
    if first is None:
        return None
    out: dict[str, Any] = {"first_id": first.trade_id, "first_ts": time_of(first).isoformat()}
    if history is None:
        return {**out, "start": None, "proof": None, "proven": False}
    out.update(
        start=_dt(history.since_ns).isoformat() if history.since_ns is not None else "start of history",
        proof=history.proof,
        proven=history.proven,
    )
    if history.before is not None:
        out.update(before_id=history.before.trade_id, before_ts=time_of(history.before).isoformat())
    return out


def _inside(p: Position, since: datetime | None, until: datetime | None) -> bool:
    t = time_of(p)
    return (since is None or t >= since) and (until is None or t < until)


def time_of(p: Position) -> datetime:
    return _dt(p.time_ns)


def _dt(ns: int) -> datetime:
    # Integer arithmetic: microsecond precision, no float on the way.
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
