"""Newest-first walks: `up` (catch-up above the watermark) and `down` (below the block).

Both page towards older trades (Coinbase `after`, Binance `fromId = min - limit`) and stop at
a floor: a trade id at or below `floor_id`, a trade older than `floor_ns`, or the start of
the exchange's history. Progress is the lowest trade landed, so a walk that stops early (a
crash, a failed page, a flush) resumes from the state alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemahub_lib.connectors.base import Cursor, Page, RawTrade
from schemahub_lib.landing.commit import ALL_FIELDS, FORWARD_FIELDS, Change
from schemahub_lib.landing.contiguity import (
    MAX_CONTRADICTIONS,
    ContradictionError,
    PageCheck,
    meets,
    page_ids,
    reaches,
    span,
)
from schemahub_lib.landing.state import DownWalk, History, Position, StreamState, UpWalk
from schemahub_lib.landing.stream import Batch, StreamRun, pos

DOWN_FIELDS = frozenset({"first", "down", "history"})


def take_down(
    page: Page, below_id: int | None, floor_id: int | None, floor_ns: int | None, ceiling_ns: int | None
) -> tuple[list[RawTrade], RawTrade | None, bool]:
    """The page's trades a newest-first walk still needs (newest first), the trade at which
    it reached its floor (None: not reached), and whether it reached it by time."""
    fresh: list[RawTrade] = []
    for t in reversed(page.trades):
        if below_id is not None and t.trade_id >= below_id:
            continue  # landed already, or above where this walk started
        if floor_id is not None and t.trade_id <= floor_id:
            return fresh, t, False
        if floor_ns is not None and t.time_ns < floor_ns:
            return fresh, t, True
        if ceiling_ns is not None and t.time_ns >= ceiling_ns:
            continue
        fresh.append(t)
    return fresh, None, False


class _Walker:
    """The page loop both walks share."""

    def __init__(self, run: StreamRun, cursor: Cursor | None, low: Position | None) -> None:
        self.run = run
        self.cursor = cursor
        self.low = low  # the lowest trade landed
        self.seen = low.trade_id if low else None  # the lowest id any page showed
        self.url = ""
        self.older: Position | None = None  # a trade older than the floor, once reached

    def step(
        self, batch: Batch, floor_id: int | None, floor_ns: int | None, ceiling_ns: int | None
    ) -> tuple[list[RawTrade], bool, bool]:
        """Fetch one page: (new trades newest first, reached floor, reached it by time).
        `cursor` is None afterwards when the exchange has no older history, which a walk
        believes only from an answer that held twice around a different request."""
        cursor, run = self.cursor, self.run
        check = None if self.seen is None else meets(run.connector, cursor, self.seen)
        if cursor is None and self.seen is None and floor_id is not None:
            check = reaches(floor_id)  # the newest page, above a watermark that exists
        page = run.fetch(cursor, None, check)
        if self.seen is not None and not self._moved(page):
            page = self._confirm_end(cursor, page, check)
        elif cursor is None and floor_id is not None and max(page_ids(page)) <= floor_id:
            page = self._confirm_newest(page, floor_id, check)
        elif self._jumps(page):
            page = self._confirm_jump(cursor, page, check)
        run.keep_rejects(batch, page)
        self.url = page.url
        below = self.low.trade_id if self.low else None
        fresh, stop, by_time = take_down(page, below, floor_id, floor_ns, ceiling_ns)
        reached = stop is not None
        if by_time and stop is not None:
            self.older = pos(stop)  # the evidence that the walk's start is complete
        if fresh:
            self.low = pos(fresh[-1])
            run.take(batch, fresh[::-1])
            run.report(fresh[-1:])
        if self._moved(page):
            self.seen = min(page_ids(page))
            self.cursor = page.older
        else:
            self.cursor = None  # confirmed: nothing older than what the walk holds
        return fresh, reached, by_time

    def _moved(self, page: Page) -> bool:
        ids = page_ids(page)
        return bool(ids) and (self.seen is None or min(ids) < self.seen)

    def _jumps(self, page: Page) -> bool:
        """The page does not start just below the walk's lowest id, where ids are consecutive:
        ids never issued, or another request's answer (a cache serving an older page) that
        would skip the trades between."""
        ids = page_ids(page)
        return (
            self.run.connector.dense_ids and self.seen is not None and bool(ids) and max(ids) < self.seen - 1
        )

    def _confirm_jump(self, cursor: Cursor | None, page: Page, check: PageCheck | None) -> Page:
        """`page` skips ids just below the walk's lowest: never issued, or an older page served
        first. Ask for the trades after the lowest id, then the same again."""
        assert self.seen is not None
        return self._ask_again(
            cursor, page, check, self.run.connector.cursor_after(self.seen, 0, None),
            settled=lambda again: not self._jumps(again),
            what=f"the trades just below id {self.seen}",
        )  # fmt: skip

    def _confirm_newest(self, page: Page, floor_id: int, check: PageCheck | None) -> Page:
        """The newest page shows nothing after the watermark: nothing new, or an older answer
        served again (a cache). Ask for something else, then the newest again."""
        return self._ask_again(
            None, page, check, self.run.connector.cursor_after(floor_id - 1, 0, None),
            settled=lambda again: max(page_ids(again)) > floor_id,
            what="the newest trades",
        )  # fmt: skip

    def _confirm_end(self, cursor: Cursor | None, page: Page, check: PageCheck | None) -> Page:
        """`page` shows nothing below the walk's lowest id: the start of history, or an answer
        to an earlier request served again. Ask for something else, then the same again."""
        assert self.seen is not None
        return self._ask_again(
            cursor, page, check, self.run.connector.cursor_after(self.seen, 0, None),
            settled=self._moved,
            what=f"the page below id {self.seen}",
        )  # fmt: skip

    def _ask_again(
        self,
        cursor: Cursor | None,
        page: Page,
        check: PageCheck | None,
        other: Cursor | None,
        *,
        settled: Callable[[Page], bool],
        what: str,
    ) -> Page:
        """Ask for `other`, then `cursor` again, until the answer is `settled` or the same as
        the one before it: an answer that holds twice around a different request is the
        exchange's own. ContradictionError when every answer differs."""
        run = self.run
        for _ in range(MAX_CONTRADICTIONS):
            run.fetch(other, None)
            again = run.fetch(cursor, None, check)
            if settled(again) or page_ids(again) == page_ids(page):
                return again
            page = again
        raise ContradictionError(
            run.exchange, page.url,
            f"expected the same answer twice for {what}, got a different one each time ({span(page)} last)",
        )  # fmt: skip


def walk_up(run: StreamRun, *, floor_id: int | None, floor_ns: int | None, start: Cursor | None) -> None:
    """From `start` (None: the newest trade) down to the watermark, or resume `state.up`."""
    try:
        _walk_up(run, floor_id=floor_id, floor_ns=floor_ns, start=start)
    finally:
        run.drain()


def _walk_up(run: StreamRun, *, floor_id: int | None, floor_ns: int | None, start: Cursor | None) -> None:
    walk = run.state.up
    top: Position | None = None
    if walk is not None:
        top, floor_id, floor_ns = walk.top, walk.floor_id, walk.floor_ns
        walker = _Walker(run, run.connector.older_than(walk.low.trade_id), walk.low)
    else:
        walker = _Walker(run, start, None)
    batch = Batch()
    while True:
        if walker.cursor is None and top is not None:  # no older history
            _flush_up(run, batch, top, floor_id, floor_ns, complete=True, by_time=False)
            return
        try:
            fresh, reached, by_time = walker.step(batch, floor_id, floor_ns, None)
        except Exception:
            _flush_up(run, batch, top, floor_id, floor_ns, complete=False, by_time=False)
            raise
        if fresh and top is None:
            top = pos(fresh[0])
        # The watermark trade exists below, so "nothing older" before reaching it contradicts
        # the exchange's own history: land what is held (resumable) and fail the stream.
        broken = not reached and walker.cursor is None and floor_id is not None
        if reached or broken or run.due(batch):
            _flush_up(run, batch, top, floor_id, floor_ns, complete=reached, by_time=by_time)
            batch = Batch()
        if broken:
            raise ContradictionError(
                run.exchange, walker.url,
                f"expected older trades down to the watermark id {floor_id}, but the exchange "
                f"answered that nothing is older than id {walker.seen}",
            )  # fmt: skip
        if reached:
            return


def _flush_up(
    run: StreamRun,
    batch: Batch,
    top: Position | None,
    floor_id: int | None,
    floor_ns: int | None,
    *,
    complete: bool,
    by_time: bool,
) -> None:
    expected = run.state
    assert expected.last is not None
    if top is None:  # nothing newer than the watermark
        run.commit_rejects(batch)
        return
    arrow = batch.arrow()
    low = batch.low or (expected.up.low if expected.up else top)
    if not complete:
        target = expected.replace(up=UpWalk(top, low, floor_id, floor_ns))
        run.commit(Change(run.product.symbol, expected, target, FORWARD_FIELDS, arrow, batch.rejects))
        return
    skipped = expected.skipped
    gap_to = low.trade_id - 1 if by_time else (floor_id or 0)
    if gap_to > expected.last.trade_id:
        skipped = (*skipped, (expected.last.trade_id + 1, gap_to))
    target = expected.replace(last=top, cursor=None, up=None, skipped=skipped)
    # A walk done in one flush is a plain forward batch: mergeable with another run's progress.
    mergeable = expected.up is None and skipped == expected.skipped
    merge_from = expected.last.trade_id + 1 if mergeable else None
    run.commit(Change(run.product.symbol, expected, target, FORWARD_FIELDS, arrow, batch.rejects, merge_from))


def walk_down(run: StreamRun, *, owner: str, floor_ns: int | None, **bounds: Any) -> None:
    """Below the block down to `floor_ns` (or `floor_id`, or the start of history); see `_walk_down`."""
    try:
        _walk_down(run, owner=owner, floor_ns=floor_ns, **bounds)
    finally:
        run.drain()


def _walk_down(
    run: StreamRun,
    *,
    owner: str,
    floor_ns: int | None,
    floor_id: int | None = None,
    start: Cursor | None = None,
    ceiling_ns: int | None = None,
) -> None:
    """Below the block down to `floor_ns`/`floor_id` or the start of history. Without a block,
    from `start` (None: the newest trade), skipping trades at or after `ceiling_ns`."""
    first = run.state.first
    if first is not None:
        walker = _Walker(run, run.connector.older_than(first.trade_id), first)
        if walker.cursor is None:  # the block starts at the first possible id
            proof = History(floor_ns, True, "the landed trade has the first possible id")
            _flush_down(run, Batch(), None, owner, floor_ns, complete=True, proof=proof)
            return
    else:
        walker = _Walker(run, start, None)
    top: Position | None = None
    batch = Batch()
    while True:
        try:
            fresh, reached, _ = walker.step(batch, floor_id, floor_ns, ceiling_ns)
            reached = reached or walker.cursor is None  # the start of the exchange's history
        except Exception:
            _flush_down(run, batch, top, owner, floor_ns, complete=False)
            raise
        if fresh and top is None and first is None:
            top = pos(fresh[0])
        if reached or run.due(batch):
            _flush_down(run, batch, top, owner, floor_ns, complete=reached, proof=_proof(walker, floor_ns))
            batch = Batch()
        if reached:
            return


def _proof(walker: _Walker, floor_ns: int | None) -> History | None:
    """The evidence a finished walk down leaves (see state.History), or None (reached by id)."""
    if walker.older is not None:
        older = walker.older
        return History(floor_ns, True, f"trade {older.trade_id} is older than the start", older)
    if walker.cursor is None:
        return History(floor_ns, True, "the exchange has no older trade")
    return None


def _flush_down(
    run: StreamRun,
    batch: Batch,
    top: Position | None,
    owner: str,
    floor_ns: int | None,
    *,
    complete: bool,
    proof: History | None = None,
) -> None:
    expected = run.state
    arrow = batch.arrow()
    history = expected.history
    if complete and proof is not None and (owner == "backfill" or history is None):
        history = proof  # a backfill's --since, or a cold start's boundary, and its evidence
    elif complete and owner == "backfill":
        history = History(floor_ns, True)
    down = None if complete else DownWalk(owner, floor_ns)
    if expected.has_block:
        if batch.low is None and expected.down == down and expected.history == history:
            run.commit_rejects(batch)
            return
        target = expected.replace(first=batch.low or expected.first, down=down, history=history)
        run.commit(Change(run.product.symbol, expected, target, DOWN_FIELDS, arrow, batch.rejects))
        return
    if batch.low is None:  # nothing landed and no block to create
        run.commit_rejects(batch)
        return
    assert top is not None
    target = StreamState(first=batch.low, last=top, down=down, history=history)
    run.commit(Change(run.product.symbol, expected, target, ALL_FIELDS, arrow, batch.rejects))
