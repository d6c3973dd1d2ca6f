"""Checking each page against the cursor that asked for it, so a walk proves contiguity.

A walk lands a complete id range only if every page it read is the answer to its own
request. An exchange (or a cache in front of it) can answer otherwise: the previous page
again, a page starting before the cursor, a page that stops short of the trade the walk
already holds. Read naively, such an answer looks like "nothing older/newer", and a walk
that believes it reports `ok` with trades missing (issue 10). So:

* `page_problem` says how a page contradicts its cursor's documented bounds (a connector's
  `cursor_bounds`: which ids a cursor parameter admits) or what the walk knows must be there.
* `StreamRun.fetch` (stream.py) asks again when a page contradicts, and after
  `MAX_CONTRADICTIONS` answers that all contradict fails the stream with a
  `ContradictionError` naming the exchange, the URL, what was expected and what came back.
* A walk only reads "no more history" from an answer that is itself confirmed (backward.py).
* `without_conflicts`: two records with one id and different content on one page are both
  rejected with the reason, never both landed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from schemahub_lib.connectors.base import Connector, Cursor, Page, RawTrade, Reject
from schemahub_lib.connectors.responses import ids_of
from schemahub_lib.errors import ExchangeError

# Answers to one request that may contradict it before the stream fails, and the pause
# before each repeat (a cache or a lagging replica usually catches up within seconds).
MAX_CONTRADICTIONS = 4
CONTRADICTION_PAUSES_S = (0.1, 0.5, 1.5)

TIME_SLACK_NS = 1_000
PageCheck = Callable[[Page], "str | None"]


# Time bounds: the cursor value's unit in ns.
TIME_BOUNDS = {"time_from": 1, "time_from_ms": 1_000_000}


class ContradictionError(ExchangeError):
    """An exchange kept answering a request with a page its cursor rules out; the stream
    stops rather than guess, and names the URL, the expectation and the answer."""


def page_ids(page: Page) -> list[int]:
    return ids_of(page.trades, page.rejects)


def span(page: Page) -> str:
    ids = page_ids(page)
    return f"ids {min(ids)}..{max(ids)} ({len(ids)} rows)" if ids else "no trades"


def page_problem(connector: Connector, cursor: Cursor | None, page: Page) -> str | None:
    """How `page` contradicts the bounds `cursor` promises, or None.

    A connector's `cursor_bounds` maps a cursor parameter to the ids it admits:
    "from" (id >= value), "below" (id < value), "above" (id > value), "time_from" (trade
    time >= value ns, less `TIME_SLACK_NS` for times written as rounded decimals),
    "time_from_ms" (the same with the value in milliseconds, Bitfinex's `start`)."""
    if cursor is None:
        return None
    bound = getattr(connector, "cursor_bounds", {}).get(cursor.param)
    ids = page_ids(page)
    if bound is None or not ids:
        return None
    if bound in TIME_BOUNDS:
        start_ns = int(cursor.value) * TIME_BOUNDS[bound]
        early = [t for t in page.trades if t.time_ns < start_ns - TIME_SLACK_NS]
        if early:
            return (
                f"expected trades at or after {cursor.param}={cursor.value}, got {len(early)} earlier, "
                f"from id {early[0].trade_id} at {early[0].time_ns}"
            )
        return None
    value, low, high = int(cursor.value), min(ids), max(ids)
    if bound == "from" and low < value:
        return f"expected trade ids >= {value} for {cursor.param}={value}, got {span(page)}"
    if bound == "below" and high >= value:
        return f"expected trade ids < {value} for {cursor.param}={value}, got {span(page)}"
    if bound == "above" and low <= value:
        return f"expected trade ids > {value} for {cursor.param}={value}, got {span(page)}"
    return None


def meets(connector: Connector, cursor: Cursor | None, known_id: int) -> PageCheck:
    """A backward page must reach down from `known_id` without a hole: asked from an inclusive
    lower bound below it, the answer holds every issued id up to it, so at least `known_id - 1`
    (or `known_id` itself when that id was never issued). An empty answer cannot be right:
    `known_id` exists and lies at or above the cursor."""

    def check(page: Page) -> str | None:
        if cursor is None or getattr(connector, "cursor_bounds", {}).get(cursor.param) != "from":
            return None
        if int(cursor.value) > known_id:
            return None
        ids = page_ids(page)
        if not ids:
            return f"expected the trades from {cursor.value} up to the landed trade {known_id}, got no trades"
        if max(ids) < known_id - 1:
            return (
                f"expected the trades from {cursor.value} up to the landed trade {known_id}, got "
                f"{span(page)}: the ids {max(ids) + 1}..{known_id - 1} would be missing"
            )
        return None

    return check


def reaches(known_id: int) -> PageCheck:
    """The newest trades must include `known_id` or later: that trade exists."""

    def check(page: Page) -> str | None:
        ids = page_ids(page)
        if ids and max(ids) >= known_id:
            return None
        return f"expected the newest trades to reach the landed trade {known_id}, got {span(page)} (stale?)"

    return check


def advances(seen_id: int | None) -> PageCheck:
    """A forward page that shows trades must show one above `seen_id` (the walk's highest)."""

    def check(page: Page) -> str | None:
        ids = page_ids(page)
        if seen_id is None or not ids or max(ids) > seen_id or page.newer is None:
            return None
        return f"expected trades after id {seen_id}, got {span(page)} again (a repeated page?)"

    return check


def without_conflicts(page: Page) -> Page:
    """Records sharing one id on a page: identical copies are one trade; copies that differ
    all become rejects with the reason (which one the exchange meant cannot be told)."""
    trades = page.trades
    if len({t.trade_id for t in trades}) == len(trades):
        return page
    copies: dict[int, list[RawTrade]] = {}
    for t in trades:
        copies.setdefault(t.trade_id, []).append(t)
    kept: list[RawTrade] = []
    rejects = list(page.rejects)
    for trade_id, same in copies.items():
        if all(t.payload == same[0].payload for t in same):
            kept.append(same[0])
            continue
        reason = f"trade id {trade_id} appears {len(same)} times on one page with different content"
        rejects.extend(Reject(reason, t.payload, str(trade_id)) for t in same)
    return dataclasses.replace(page, trades=tuple(kept), rejects=tuple(rejects))
