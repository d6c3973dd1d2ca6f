"""One stream's run: fetching pages, batching them as Arrow, committing each flush.

`StreamRun` is the plumbing the walks share; the walks themselves are in forward.py
(`forward`, `below`) and backward.py (`up`, `down`). Four walks, each landing a complete id
range (state.py names them):

* `forward`: from a cursor towards the newest trade (Binance `fromId`, Kraken `since`).
  Extends the block up, or creates it (a Kraken cold start from `now - window`).
* `up`: newest-first from the newest trade down to the watermark (Coinbase, whose `before`
  cursor cannot be trusted to return the trades just above it; capped Binance catch-ups).
  A walk longer than one flush keeps its progress in `up`, so a crash resumes it.
* `down`: below the block, newest-first (a Coinbase/Binance cold start reaching back over its
  window; backfills). Creates the block on its first flush when there is none.
* `below`: Kraken backfills, forward from `--since` up to the block's first trade.

Every walk filters each page to the ids it still needs, so overlapping pages never land a
trade twice, and commits whole pages only. Every page is checked against its cursor and what
the walk already holds (contiguity.py): a contradicting answer is asked again and, if it
persists, fails the stream; it is never read as the end of history. A fetch error ends the
walk after committing what it already holds (a complete range), never past the failed page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa

from schemahub_lib.connectors.base import Connector, Cursor, Page, Product, RawTrade
from schemahub_lib.landing.commit import Change, Committer, Outcome
from schemahub_lib.landing.contiguity import (
    CONTRADICTION_PAUSES_S,
    MAX_CONTRADICTIONS,
    ContradictionError,
    PageCheck,
    page_problem,
    without_conflicts,
)
from schemahub_lib.landing.state import Position, StreamState
from schemahub_lib.landing.writer import RejectRow, id_column
from schemahub_lib.logs import log_event


def pos(t: RawTrade) -> Position:
    return Position(t.trade_id, t.time_ns)


class StreamStopped(Exception):
    """Another run holds this stream (a conflict) or landed our batch: stop the walk."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class StreamSkipped(Exception):
    """Nothing to do for this stream in this run, for the reason given."""


class StreamInterrupted(Exception):
    """`interrupt` was set (following stopped) before the walk's next page. Raised by `fetch`,
    so the walk ends as it does on a fetch error: what it holds is landed, a complete range,
    and the next run resumes from the watermark."""


@dataclass
class StreamStats:
    pages: int = 0
    trades: int = 0
    rejects: int = 0
    commits: int = 0
    merged: int = 0
    contradictions: int = 0  # answers asked again because they contradicted their cursor
    status: str = "ok"
    detail: str = ""  # a note the report gives an ok stream (a followed stream's recovered outages)


@dataclass
class Batch:
    """What a stream fetched since its last flush: each page's new trades as Arrow (so no
    Python object outlives its page), their id range, and the rejects."""

    pages: list[tuple[int, pa.Table]] = field(default_factory=list)
    count: int = 0
    low: Position | None = None  # the batch's lowest trade
    high: Position | None = None  # and highest
    rejects: list[RejectRow] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, trades: list[RawTrade], table: pa.Table) -> None:
        """`trades` ascending by id, `table` the same trades as Arrow."""
        low, high = pos(trades[0]), pos(trades[-1])
        self.pages.append((low.trade_id, table))
        self.count += len(trades)
        self.low = low if self.low is None or low < self.low else self.low
        self.high = high if self.high is None or high > self.high else self.high

    def arrow(self) -> pa.Table | None:
        """The batch ascending by trade id, whichever direction it was fetched in."""
        if not self.pages:
            return None
        return pa.concat_tables([t for _, t in sorted(self.pages, key=lambda p: p[0])])


class StreamRun:
    """One (exchange, product) stream of one run: fetches, flushes, commits."""

    def __init__(
        self,
        product: Product,
        connector: Connector,
        committer: Committer,
        state: StreamState,
        *,
        flush_trades: int,
        flush_seconds: float,
        on_progress: Callable[[StreamRun, int], None] | None = None,
        on_page: Callable[[StreamRun, Page], None] | None = None,
        hold: bool = False,
    ) -> None:
        self.product = product
        self.exchange = product.exchange
        self.connector = connector
        self.committer = committer
        self.state = state
        self.flush_trades = flush_trades
        self.flush_seconds = flush_seconds
        self.on_progress = on_progress
        self.on_page = on_page  # sees every page fetched (explore --live draws from them)
        # hold: keep each flush's change in memory, merged with the next ones, and commit them
        # as one when `flush_seconds`/`flush_trades` are due or the stream closes. A follower
        # walking every second (ingest's `Follow`) then commits once per flush interval, not
        # once per walk. `state` moves on at once, so the next walk starts above what is held.
        self.hold = hold
        self.interrupt: threading.Event | None = None  # set: the next fetch raises StreamInterrupted
        self._held: Change | None = None
        self._held_since = 0.0
        self.stats = StreamStats()
        self.position_ns: int | None = None  # time of the latest trade handled (for progress)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[Outcome] | None = None

    # ---- plumbing ------------------------------------------------------------------------

    def fetch(self, cursor: Cursor | None, batch: Batch | None, check: PageCheck | None = None) -> Page:
        """One page that agrees with its cursor and `check` (see contiguity.py), asking again
        while it does not; raises ContradictionError when every answer contradicted.
        `batch=None`: a probe, whose rejects are not kept."""
        for attempt in range(1, MAX_CONTRADICTIONS + 1):
            if self.interrupt is not None and self.interrupt.is_set():
                raise StreamInterrupted(
                    f"{self.exchange} {self.product.symbol}: interrupted before the next page"
                )
            page = self.connector.fetch_page(self.product.exchange_symbol, cursor)
            self.stats.pages += 1
            problem = page_problem(self.connector, cursor, page) or (check(page) if check else None)
            if problem is None:
                break
            self.stats.contradictions += 1
            log_event("landing.page_contradicts_cursor", exchange=self.exchange,
                      product=self.product.symbol, url=page.url, attempt=attempt,
                      problem=problem)  # fmt: skip
            if attempt == MAX_CONTRADICTIONS:
                raise ContradictionError(
                    self.exchange, page.url,
                    f"{problem}; the same after {attempt} attempts, so the stream stops here "
                    "instead of guessing (what it landed before is complete)",
                )  # fmt: skip
            time.sleep(CONTRADICTION_PAUSES_S[min(attempt, len(CONTRADICTION_PAUSES_S)) - 1])
        page = without_conflicts(page)
        if self.on_page is not None:
            self.on_page(self, page)
        if batch is not None:
            self.keep_rejects(batch, page)
        return page

    def keep_rejects(self, batch: Batch, page: Page) -> None:
        batch.rejects.extend(
            RejectRow(self.exchange, self.product.symbol, r.trade_id, r.reason, r.payload, page.url)
            for r in page.rejects
        )

    def take(self, batch: Batch, trades: list[RawTrade]) -> None:
        """Add a page's new trades (ascending) to the batch, converted to Arrow at once."""
        if trades:
            batch.add(trades, self.committer.builder().page(trades))

    def due(self, batch: Batch) -> bool:
        return batch.count >= self.flush_trades or time.monotonic() - batch.started >= self.flush_seconds

    def commit(self, change: Change) -> None:
        """Commit in the background while the next pages are fetched (one commit in flight).

        `state` moves to where the change takes the stream at once; `drain` replaces it with
        what the table says, and raises what the commit raised."""
        if self.hold:
            self._hold(change)
            return
        self._submit(change)

    def _submit(self, change: Change) -> None:
        self.drain()
        self.state = self.state.overlay(change.target, change.touches)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"commit-{self.exchange}")
        self._pending = self._pool.submit(self.committer.commit, change)

    def drain(self) -> None:
        """Wait for the commit in flight and take in its outcome (not what `hold` keeps)."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        self._settle(pending.result())
        if self._held is not None:  # the table is behind what is held: the walks go on from there
            self.state = self.state.overlay(self._held.target, self._held.touches)

    def _hold(self, change: Change) -> None:
        held = self._held
        if held is None:
            self._held_since = time.monotonic()
            merged = change
        else:
            rows = [t for t in (held.arrow, change.arrow) if t is not None]
            arrow = rows[0] if len(rows) == 1 else None
            if len(rows) > 1:
                arrow = pa.concat_tables(rows).sort_by(id_column(self.exchange))
            merged = Change(
                change.product,
                held.expected,
                change.target,
                held.touches | change.touches,
                arrow,
                [*held.rejects, *change.rejects],
                held.merge_from if held.merge_from is not None and change.merge_from is not None else None,
            )
        self.state = self.state.overlay(change.target, change.touches)
        self._held = merged
        if merged.count >= self.flush_trades or time.monotonic() - self._held_since >= self.flush_seconds:
            self.release()

    @property
    def held(self) -> int:
        """Trades `hold` keeps, not committed yet."""
        return 0 if self._held is None else self._held.count

    def held_since(self) -> float:
        """When the oldest change `hold` keeps was made (monotonic); now when none is held."""
        return self._held_since if self._held is not None else time.monotonic()

    def release(self) -> None:
        """Commit what `hold` keeps (in the background, like `commit`)."""
        held, self._held = self._held, None
        if held is not None:
            self._submit(held)

    def close(self) -> None:
        try:
            self.release()
            self.drain()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def _settle(self, outcome: Outcome) -> None:
        self.stats.rejects += outcome.rejects_written
        if outcome.status in ("conflict", "superseded"):
            self.state = outcome.state
            raise StreamStopped(outcome)
        if outcome.status != "noop":
            self.stats.commits += 1
            self.stats.trades += outcome.landed
            self.stats.merged += outcome.status == "merged"
            self.state = outcome.state
            if self.on_progress is not None:
                self.on_progress(self, outcome.landed)

    def report(self, trades: list[RawTrade]) -> None:
        if trades:
            self.position_ns = trades[-1].time_ns

    def commit_rejects(self, batch: Batch) -> None:
        if batch.rejects:
            self.commit(
                Change(self.product.symbol, self.state, self.state, frozenset(), rejects=batch.rejects)
            )
