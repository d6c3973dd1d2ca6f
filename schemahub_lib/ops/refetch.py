"""Refetch an id range from an exchange, and prove what it lacks.

How a range is asked for is the connector's to say (its paging facts, never its name):

* time-paged (`pages_by_time`, Kraken `since`, Bitfinex `start`): from a time at or below the
  trade just before the range (the audit's `after_ts`, so every id of the range is at or after
  it), leaving out the ids up to that trade (`seen_through_id`), then the `newer` cursors.
* id-paged with a trusted newer cursor (Binance `fromId`): from the range's first id upwards.
* id-paged newest first (Coinbase and OKX `after`): from just above the range's last id down.

Each answer is every trade the exchange has in the id span its cursor admits (the connector's
`cursor_bounds`: "from" = ids >= the value, "below" = ids < the value; a time cursor admits the
ids above its `seen_through_id`), so an id inside the span the answer lacks was never issued.

`refetch_range` walks the range page by page and returns the trades in it, the ids rejected
by validation, and the sub-ranges the answers covered (`proven`). `confirm_absent` asks once
more, aimed at one candidate range, so a page that swallowed trades (a fault, not the API's
contract) cannot turn real trades into "never issued".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from schemahub_lib.connectors.base import Connector, Cursor, Page, RawTrade, Reject
from schemahub_lib.ops.coverage import Range, merge

# A landed time can sit up to ~1 µs above the exact one (Kraken's float seconds), and a time
# cursor may be exclusive: a time-paged refetch starts this much earlier.
TIME_SLACK_NS = 1_000


@dataclass
class Refetched:
    trades: dict[int, RawTrade] = field(default_factory=dict)  # id -> trade, ids inside the range
    rejects: list[tuple[Reject, str]] = field(default_factory=list)  # (reject, url)
    proven: list[Range] = field(default_factory=list)  # spans the exchange's answers covered
    pages: int = 0

    @property
    def rejected_ids(self) -> set[int]:
        return {int(r.trade_id) for r, _ in self.rejects if r.trade_id is not None and r.trade_id.isdigit()}

    def absent(self, gap: Range) -> list[Range]:
        """Ids of `gap` inside a proven span that came back neither as trade nor as reject."""
        have = set(self.trades) | self.rejected_ids
        out: list[Range] = []
        for lo, hi in merge(self.proven):
            lo, hi = max(lo, gap[0]), min(hi, gap[1])
            run_start = None
            for i in range(lo, hi + 2):
                if i <= hi and i not in have:
                    run_start = i if run_start is None else run_start
                elif run_start is not None:
                    out.append((run_start, i - 1))
                    run_start = None
        return out


def first_cursor(connector: Connector, gap: Range, after_ns: int | None = None) -> Cursor:
    """The request that starts `gap`. A time-paged exchange needs `after_ns`: a time at or
    below that of the trade just before the gap."""
    a, b = gap
    if connector.pages_by_time:
        if after_ns is None:
            raise ValueError(
                f"{connector.name} refetch of ids {a}..{b} needs the time of the trade before them"
            )
        return connector.from_time(max(after_ns - TIME_SLACK_NS, 0), seen_through_id=a - 1)
    if connector.trusts_newer:
        return connector.cursor_after(a - 1, 0, None)  # the ids from `a` up
    older = connector.older_than(b + 1)  # the ids just below b + 1
    if older is None:
        raise ValueError(f"{connector.name} has no cursor below id {b + 1}")
    return older


def _upwards(connector: Connector) -> bool:
    return connector.pages_by_time or connector.trusts_newer


def proven_span(connector: Connector, cursor: Cursor, lo: int, hi: int) -> Range:
    """The ids an answer to `cursor` showing trades `lo..hi` covers completely."""
    bound = getattr(connector, "cursor_bounds", {}).get(cursor.param)
    if bound == "from":
        return (int(cursor.value), hi)
    if bound == "below":
        return (lo, int(cursor.value) - 1)
    # A time cursor: every id above the seen one is at or after its time.
    return (_seen(cursor, lo) + 1, hi)


def refetch_range(
    connector: Connector, exchange: str, product: str, gap: Range, after_ns: int | None = None
) -> Refetched:
    """Every trade the exchange serves with an id in `gap` (inclusive), page by page.

    `after_ns` (time-paged exchanges): at or below the time of the trade just before `gap`."""
    a, b = gap
    out = Refetched()
    cursor: Cursor | None = first_cursor(connector, gap, after_ns)
    while cursor is not None:
        page = connector.fetch_page(product, cursor)
        out.pages += 1
        _keep(out, page, gap)
        if not page.trades:
            break  # nothing served: the rest of the range stays unproven
        lo, hi = min(t.trade_id for t in page.trades), max(t.trade_id for t in page.trades)
        out.proven.append(proven_span(connector, cursor, lo, hi))
        # Until the range is passed; a None cursor means history ends there.
        upwards = _upwards(connector)
        done = hi >= b if upwards else lo <= a
        cursor = None if done else (page.newer if upwards else page.older)
    return out


def confirm_absent(
    connector: Connector, exchange: str, product: str, candidate: Range, after_ns: int | None = None
) -> Refetched:
    """One request aimed at `candidate`: its `absent` is what the exchange still lacks.

    `after_ns` (time-paged exchanges): at or below the time of the trade just before `candidate`."""
    out = Refetched()
    cursor = first_cursor(connector, candidate, after_ns)
    page = connector.fetch_page(product, cursor)
    out.pages = 1
    _keep(out, page, candidate)
    if page.trades:
        lo, hi = min(t.trade_id for t in page.trades), max(t.trade_id for t in page.trades)
        out.proven.append(proven_span(connector, cursor, lo, hi))
    return out


def time_before(got: Refetched, first_id: int, default_ns: int | None) -> int | None:
    """The time (ns) of the highest trade in `got` below `first_id`, else `default_ns`."""
    below = [i for i in got.trades if i < first_id]
    return got.trades[max(below)].time_ns if below else default_ns


def _seen(cursor: Cursor, lo: int) -> int:
    return cursor.seen_through_id if cursor.seen_through_id is not None else lo - 1


def _keep(out: Refetched, page: Page, gap: Range) -> None:
    a, b = gap
    for t in page.trades:
        if a <= t.trade_id <= b:
            out.trades[t.trade_id] = t
    for r in page.rejects:
        if r.trade_id is not None and r.trade_id.isdigit() and a <= int(r.trade_id) <= b:
            out.rejects.append((r, page.url))


def ranges_of(ids: Sequence[int]) -> list[Range]:
    """Consecutive runs of sorted distinct ids as inclusive ranges."""
    out: list[Range] = []
    for i in sorted(set(ids)):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out
