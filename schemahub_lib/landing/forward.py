"""Forward walks: `walk_forward` (towards the newest trade) and `walk_below` (Kraken backfills,
from `--since` up to the block's first trade). Both commit whole pages; the newest-first walks
are in backward.py.
"""

from __future__ import annotations

from typing import Any

from schemahub_lib.connectors.base import Cursor, Page
from schemahub_lib.landing.commit import ALL_FIELDS, FORWARD_FIELDS, Change
from schemahub_lib.landing.contiguity import (
    MAX_CONTRADICTIONS,
    ContradictionError,
    PageCheck,
    advances,
    page_ids,
    span,
)
from schemahub_lib.landing.state import BelowBlock, History, Position, StreamState
from schemahub_lib.landing.stream import Batch, StreamRun, pos

# How far past a page's first trade the confirming request asks from: past any rounding of
# the time as written (contiguity.TIME_SLACK_NS), so an answer holding that trade contradicts.
DECOY_STEP_NS = 10_000


def walk_forward(run: StreamRun, cursor: Cursor | None, **bounds: Any) -> None:
    """Ascending from `cursor` to the newest trade (see `_forward`); commits are drained."""
    try:
        _forward(run, cursor, **bounds)
    finally:
        run.drain()


def _forward(
    run: StreamRun,
    cursor: Cursor | None,
    *,
    floor_ns: int | None = None,
    stop_id: int | None = None,
    stop_ns: int | None = None,
    history: History | None = None,
    gap: bool = False,
) -> None:
    """Ascending from `cursor` to the newest trade (or `stop_id`/`stop_ns`, exclusive).

    `gap`: the cursor starts above the watermark on purpose (a capped catch-up); the ids
    between are recorded as skipped."""
    batch, seen = Batch(), -1
    high = run.state.last.trade_id if run.state.last else None
    gap_from = high + 1 if gap and high is not None else None
    last = None if gap else run.state.last  # the trade the next page must follow on from
    while True:
        try:
            check = advances(seen if seen >= 0 else None)
            page = run.fetch(cursor, None, check)
            if last is not None and _jumps(page, last.trade_id):
                page = _confirm_jump(run, cursor, page, last, check)
            elif last is None and seen < 0:
                page = _confirm_first(run, cursor, page, check)
            run.keep_rejects(batch, page)
        except Exception:
            _flush_forward(run, batch, None, history, gap_from)
            raise
        fresh = [
            t
            for t in page.trades
            if (high is None or t.trade_id > high)
            and (floor_ns is None or t.time_ns >= floor_ns)
            and (stop_id is None or t.trade_id < stop_id)
            and (stop_ns is None or t.time_ns < stop_ns)
        ]
        stopped = any(
            (stop_id is not None and t.trade_id >= stop_id) or (stop_ns is not None and t.time_ns >= stop_ns)
            for t in page.trades
        )
        if fresh:
            high = fresh[-1].trade_id
            last = pos(fresh[-1])
            run.take(batch, fresh)
            run.report(fresh)
        seen = max(seen, *page_ids(page), -1)
        end = stopped or page.newer is None
        if end or run.due(batch):
            resume = None if stopped or page.newer is None else page.newer.value
            _flush_forward(run, batch, resume, history, gap_from)
            if batch.count:
                gap_from = None
            batch = Batch()
        if end:
            return
        cursor = page.newer


def _jumps(page: Page, high: int) -> bool:
    """The page's first id above `high` is not the next one: ids never issued, or another
    request's answer (a cache serving a later page) that would skip the trades between."""
    above = [i for i in page_ids(page) if i > high]
    return bool(above) and min(above) > high + 1


def _confirm_jump(
    run: StreamRun, cursor: Cursor | None, page: Page, last: Position, check: PageCheck
) -> Page:
    """Ask for something else (the page from just below `last`), then the same again: an
    answer that holds twice around a different one is the exchange's own, and the ids it
    skips were never issued."""
    for _ in range(MAX_CONTRADICTIONS):
        run.fetch(run.connector.cursor_after(last.trade_id - 1, last.time_ns - 10**9, None), None)
        again = run.fetch(cursor, None, check)
        if not _jumps(again, last.trade_id) or _first_above(again, last) == _first_above(page, last):
            return again
        page = again
    raise ContradictionError(
        run.exchange, page.url,
        f"expected the trades just after id {last.trade_id}, got a different later page each time "
        f"({span(page)} last)",
    )  # fmt: skip


def _confirm_first(run: StreamRun, cursor: Cursor | None, page: Page, check: PageCheck) -> Page:
    """The first page of a walk from a time cursor sets where the stream starts; it could be
    another request's answer (a cache), which would hide the trades before it. Ask for the
    trades after its first one (an answer that holds that trade contradicts its cursor), then
    the same again: the same start twice around a different answer is the exchange's. On a live
    market a page shorter than the limit gains the trades made between the asks, so the answers
    agree when one's ids begin the other's (`_same_start`)."""
    if cursor is None or cursor.seen_through_id is not None or not page.trades:
        return page
    for _ in range(MAX_CONTRADICTIONS):
        first = page.trades[0]
        # Not `first.trade_id` itself: a connector leaves seen ids out, and this one must show.
        decoy = run.connector.cursor_after(first.trade_id - 1, first.time_ns + DECOY_STEP_NS, None)
        run.fetch(decoy, None)
        again = run.fetch(cursor, None, check)
        if _same_start(page, again):
            return again
        page = again
        if not page.trades:
            return page
    raise ContradictionError(
        run.exchange,
        page.url,
        f"expected the same first page twice, got a different one each time ({span(page)} last)",
    )


def _same_start(page: Page, again: Page) -> bool:
    """Two answers to one time cursor that start at the same trade and agree on every trade both
    hold: only trades made after the first answer may be new at the end of the second."""
    first, second = page_ids(page), page_ids(again)
    shared = min(len(first), len(second))
    return shared > 0 and first[:shared] == second[:shared] and len(second) >= len(first)


def _first_above(page: Page, last: Position) -> int:
    return min(i for i in page_ids(page) if i > last.trade_id)


def _flush_forward(
    run: StreamRun, batch: Batch, resume: str | None, history: History | None, gap_from: int | None
) -> None:
    if batch.low is None or batch.high is None:
        run.commit_rejects(batch)
        return
    expected, low, high = run.state, batch.low, batch.high
    if expected.has_block:
        assert expected.last is not None
        skipped = expected.skipped
        if gap_from is not None and low.trade_id > gap_from:
            skipped = (*skipped, (gap_from, low.trade_id - 1))
        target = expected.replace(last=high, cursor=resume, skipped=skipped)
        touches = FORWARD_FIELDS
        merge_from = expected.last.trade_id + 1 if skipped == expected.skipped else None
    else:
        target = StreamState(first=low, last=high, cursor=resume, history=history)
        touches, merge_from = ALL_FIELDS, low.trade_id
    run.commit(
        Change(run.product.symbol, expected, target, touches, batch.arrow(), batch.rejects, merge_from)
    )


def cursor_proof(since_ns: int | None) -> History:
    """A forward walk from a time cursor starts at the exchange's first trade at or after it
    (the cursor's contract; a page starting earlier is filtered, one starting later is
    refused by the connector's checks)."""
    return History(
        since_ns, True, f"walked forward from since={since_ns or 0}, the first trade at or after it"
    )


def walk_below(run: StreamRun, since_ns: int | None) -> None:
    """Forward from `since_ns` (or the recorded `below` block) up to the block's first trade."""
    try:
        _below(run, since_ns)
    finally:
        run.drain()


def _below(run: StreamRun, since_ns: int | None) -> None:
    assert run.state.first is not None
    block = run.state.below
    cursor: Cursor | None
    if block is not None:
        cursor = run.connector.cursor_after(block.last.trade_id, block.last.time_ns, block.cursor)
    else:
        cursor = run.connector.from_time(since_ns or 0)
    stop_id = run.state.first.trade_id
    high = block.last.trade_id if block else None
    last = block.last if block else None
    batch, seen = Batch(), -1
    while True:
        try:
            check = advances(seen if seen >= 0 else None)
            page = run.fetch(cursor, None, check)
            if last is not None and _jumps(page, last.trade_id):
                page = _confirm_jump(run, cursor, page, last, check)
            elif last is None and seen < 0:
                page = _confirm_first(run, cursor, page, check)
            run.keep_rejects(batch, page)
        except Exception:
            _flush_below(run, batch, None, since_ns, complete=False)
            raise
        fresh = [t for t in page.trades if (high is None or t.trade_id > high) and t.trade_id < stop_id]
        # Only a trade at or above the block's first proves the walk met it; a last page
        # without one (an exchange answering short) stops the walk unfinished instead.
        reached = any(t.trade_id >= stop_id for t in page.trades)
        if fresh:
            high = fresh[-1].trade_id
            last = pos(fresh[-1])
            run.take(batch, fresh)
            run.report(fresh)
        seen = max(seen, *page_ids(page), -1)
        stop = reached or page.newer is None
        if stop or run.due(batch):
            _flush_below(
                run, batch, None if page.newer is None else page.newer.value, since_ns, complete=reached
            )
            batch = Batch()
        if not reached and page.newer is None:
            # The block's first trade exists above, so "nothing newer" contradicts the exchange.
            raise ContradictionError(
                run.exchange, page.url,
                f"expected trades up to the landed trade {stop_id}, but the exchange answered that "
                f"nothing is newer than id {seen if seen >= 0 else 'the cursor'}",
            )  # fmt: skip
        if stop:
            return
        cursor = page.newer


def _flush_below(
    run: StreamRun, batch: Batch, resume: str | None, since_ns: int | None, *, complete: bool
) -> None:
    expected, low, high = run.state, batch.low, batch.high
    block = expected.below
    if (low is None or high is None) and not complete:
        run.commit_rejects(batch)
        return
    touches = frozenset({"first", "below", "history"})
    if complete:
        first = block.first if block else (low or expected.first)
        target = expected.replace(first=first, below=None, history=cursor_proof(since_ns))
    else:
        assert low is not None and high is not None
        target = expected.replace(below=BelowBlock(block.first if block else low, high, resume, since_ns))
    run.commit(Change(run.product.symbol, expected, target, touches, batch.arrow(), batch.rejects))
