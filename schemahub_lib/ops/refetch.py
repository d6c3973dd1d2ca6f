"""Refetch an id range from an exchange that can page by trade id, and prove what it lacks.

Coinbase `after=X` serves the `limit` trades just below X, newest first; Binance `fromId=F`
serves the `limit` trades from F up, oldest first (EXCHANGE_APIS.md §1.1, §2.2). Either answer
is every trade the exchange has in the id span the page covers, so an id inside that span the
page lacks was never issued. Kraken pages by time (`since`), not by id: not refetchable here.

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

REFETCHABLE = frozenset({"coinbase", "binance"})


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


def first_cursor(exchange: str, gap: Range) -> Cursor:
    a, b = gap
    return Cursor("after", str(b + 1)) if exchange == "coinbase" else Cursor("fromId", str(a))


def refetch_range(connector: Connector, exchange: str, product: str, gap: Range) -> Refetched:
    """Every trade the exchange serves with an id in `gap` (inclusive), page by page."""
    a, b = gap
    out = Refetched()
    cursor: Cursor | None = first_cursor(exchange, gap)
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
        else:
            out.proven.append((int(cursor.value), hi))
            cursor = Cursor("fromId", str(hi + 1)) if hi < b else None
    return out


def confirm_absent(connector: Connector, exchange: str, product: str, candidate: Range) -> Refetched:
    """One request aimed at `candidate`: its `absent` is what the exchange still lacks."""
    out = Refetched()
    cursor = first_cursor(exchange, candidate)
    page = connector.fetch_page(product, cursor)
    out.pages = 1
    _keep(out, page, candidate)
    if page.trades:
        lo, hi = min(t.trade_id for t in page.trades), max(t.trade_id for t in page.trades)
        out.proven.append((lo, candidate[1]) if exchange == "coinbase" else (candidate[0], hi))
    return out


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
