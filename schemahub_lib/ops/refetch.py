"""Refetch an id range from an exchange, and prove what it lacks.

Coinbase `after=X` serves the `limit` trades just below X, newest first; Binance `fromId=F`
serves the `limit` trades from F up, oldest first (EXCHANGE_APIS.md §1.1, §2.2). Kraken pages
by time: `since=S` serves the `count` trades from S up, oldest first, and its trade ids rise
with time (§3.1). A Kraken walk therefore starts at a `since` at or below the time of the trade
just before the range (the audit's `after_ts`, so every id of the range is at or after it),
leaves out the ids up to that trade (`seen_through_id`), and follows the connector's `newer`
cursor. Any of these answers is every trade the exchange has in the id span the page covers,
so an id inside that span the page lacks was never issued.

`refetch_range` walks the range page by page and returns the trades in it, the ids rejected
by validation, and the sub-ranges the answers covered (`proven`). `confirm_absent` asks once
more, aimed at one candidate range, so a page that swallowed trades (a fault, not the API's
contract) cannot turn real trades into "never issued".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from schemahub_lib.connectors.base import Connector, Cursor, Page, RawTrade, Reject
from schemahub_lib.connectors.kraken import TIME_TEXT_SLACK_NS
from schemahub_lib.ops.coverage import Range, merge

REFETCHABLE = frozenset({"coinbase", "binance", "kraken"})
BY_TIME = frozenset({"kraken"})  # refetched from a time bound (`after_ns`), not from an id


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


def first_cursor(exchange: str, gap: Range, after_ns: int | None = None) -> Cursor:
    """The request that starts `gap`. Kraken needs `after_ns`: at or below the trade before it."""
    a, b = gap
    if exchange == "coinbase":
        return Cursor("after", str(b + 1))
    if exchange in BY_TIME:
        if after_ns is None:
            raise ValueError(f"{exchange} refetch of ids {a}..{b} needs the time of the trade before them")
        # `time` as landed can sit ~100 ns off the exact time and `since` may be exclusive, so
        # start a microsecond early; the ids up to the trade before the gap are left out.
        return Cursor("since", str(max(after_ns - TIME_TEXT_SLACK_NS, 0)), seen_through_id=a - 1)
    return Cursor("fromId", str(a))


def refetch_range(
    connector: Connector, exchange: str, product: str, gap: Range, after_ns: int | None = None
) -> Refetched:
    """Every trade the exchange serves with an id in `gap` (inclusive), page by page.

    `after_ns` (Kraken): an integer ns time at or below that of the trade just before `gap`."""
    a, b = gap
    out = Refetched()
    cursor: Cursor | None = first_cursor(exchange, gap, after_ns)
    while cursor is not None:
        page = connector.fetch_page(product, cursor)
        out.pages += 1
        _keep(out, page, gap)
        if not page.trades:
            break  # nothing served: the rest of the range stays unproven
        lo, hi = min(t.trade_id for t in page.trades), max(t.trade_id for t in page.trades)
        if exchange == "coinbase":
            out.proven.append((lo, int(cursor.value) - 1))
            cursor = Cursor("after", str(lo)) if lo > a else None
        elif exchange in BY_TIME:
            # The page holds every trade from `since` on up to `hi`, and every id above the
            # cursor's seen id is at or after `since`: the span is (seen, hi].
            out.proven.append((_seen(cursor, lo) + 1, hi))
            cursor = page.newer if hi < b else None  # None: history ends here
        else:
            out.proven.append((int(cursor.value), hi))
            cursor = Cursor("fromId", str(hi + 1)) if hi < b else None
    return out


def confirm_absent(
    connector: Connector, exchange: str, product: str, candidate: Range, after_ns: int | None = None
) -> Refetched:
    """One request aimed at `candidate`: its `absent` is what the exchange still lacks.

    `after_ns` (Kraken): at or below the time of the trade just before `candidate`."""
    out = Refetched()
    cursor = first_cursor(exchange, candidate, after_ns)
    page = connector.fetch_page(product, cursor)
    out.pages = 1
    _keep(out, page, candidate)
    if page.trades:
        lo, hi = min(t.trade_id for t in page.trades), max(t.trade_id for t in page.trades)
        if exchange == "coinbase":
            out.proven.append((lo, candidate[1]))
        elif exchange in BY_TIME:
            out.proven.append((_seen(cursor, lo) + 1, hi))
        else:
            out.proven.append((candidate[0], hi))
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
