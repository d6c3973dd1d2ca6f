"""Where a stream stands: the landed trade-id ranges of one (exchange, product), as JSON.

The authoritative copy lives in the raw table's snapshot summary (see watermarks.py), one
property holding every stream of that exchange, so a raw append and the position it advances
commit in one Iceberg snapshot.

A stream's landed trades are always these id ranges, each complete (every trade the
exchange served with an id inside it is in raw exactly once):

* the block `[first, last]`: contiguous. `last` is the ingest watermark, `first` the
  backfill low-water mark. Ingest extends it up, backfill down.
* `up`: an unfinished backward walk above the block (Coinbase catch-ups page newest-first):
  `[up.low, up.top]` is landed, `(last, up.low)` not yet. It merges into the block when the
  walk reaches `last` (or its floor).
* `down`: an unfinished walk below the block (a cold start reaching back over its window, or
  a backfill). Its progress is `first` itself; `down` keeps the walk's owner and floor.
* `below`: a forward block under `first` (Kraken backfills page forward from `--since`):
  `[below.first, below.last]` is landed. It merges into the block when it reaches `first`.
* `skipped`: id ranges left out on purpose (a capped catch-up); audit reports them.
* `landed`: how many rows landing has committed to raw for the stream, every commit path
  alike (commit.py adds each commit's rows in the same snapshot, so it is exact at every
  snapshot). Audit compares it with raw's row count: the one middle-of-range proof where ids
  are not consecutive (Bitfinex). None: the state predates counts (no count proof).

Positions are `[trade_id, time_ns]`; cursors are exact strings.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from schemahub_lib.errors import SchemaHubError

STATE_VERSION = 1
# Every field a commit can change; a commit names the ones it touches (see commit.py).
FIELDS = ("first", "last", "cursor", "up", "down", "below", "skipped", "history")


class StateError(SchemaHubError):
    """A stored stream state cannot be read; names the table, snapshot and stream."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """One trade's place in a stream."""

    trade_id: int
    time_ns: int

    def to_json(self) -> list[int]:
        return [self.trade_id, self.time_ns]

    @classmethod
    def from_json(cls, value: Any) -> Position:
        trade_id, time_ns = value
        return cls(int(trade_id), int(time_ns))


@dataclass(frozen=True, slots=True)
class UpWalk:
    """A backward walk from `top` down to `floor_id` (exclusive) or `floor_ns`, landed down to `low`."""

    top: Position
    low: Position
    floor_id: int | None  # stop at ids <= floor_id (the block's last id)
    floor_ns: int | None  # stop at trades older than this (a capped catch-up)


@dataclass(frozen=True, slots=True)
class DownWalk:
    """A walk below the block in progress; `first` is how far it got."""

    owner: str  # "ingest" (a cold start) or "backfill"
    floor_ns: int | None  # stop at trades older than this; None: the start of history


@dataclass(frozen=True, slots=True)
class BelowBlock:
    """A forward block under the block (Kraken backfill), landed `[first, last]`."""

    first: Position
    last: Position
    cursor: str | None  # the exchange cursor that continues after `last`
    since_ns: int | None  # where the backfill started


@dataclass(frozen=True, slots=True)
class History:
    """The stream's promised start and the evidence that the block's first trade is the
    exchange's first at or after it: landed back to `since_ns` (a backfill's `--since`, a cold
    start's boundary; None: the exchange's first trade).

    `proof` says why nothing is missing below the first landed trade: the trade just below it
    (`before`) is older than the start, the exchange answered that it is its first trade, or
    a time cursor (Kraken `since`) started the walk at the first trade at or after the start.
    A record without proof (written before proofs were kept) is a claim, not evidence: a
    backfill walks it again instead of trusting it.
    """

    since_ns: int | None
    complete: bool
    proof: str | None = None
    before: Position | None = None

    @property
    def proven(self) -> bool:
        return self.complete and self.proof is not None


@dataclass(frozen=True, slots=True)
class StreamState:
    """Everything landed for one stream. The empty state means nothing landed yet."""

    first: Position | None = None
    last: Position | None = None
    cursor: str | None = None  # exchange cursor continuing after `last` (Kraken `since`)
    up: UpWalk | None = None
    down: DownWalk | None = None
    below: BelowBlock | None = None
    skipped: tuple[tuple[int, int], ...] = ()
    history: History | None = None
    landed: int | None = 0  # rows committed to raw; None: state written before counts were kept

    @property
    def is_empty(self) -> bool:
        """Nothing landed and nothing recorded (the count aside)."""
        return dataclasses.replace(self, landed=0) == EMPTY

    @property
    def has_block(self) -> bool:
        return self.last is not None

    def replace(self, **changes: Any) -> StreamState:
        return dataclasses.replace(self, **changes)

    def overlay(self, target: StreamState, fields: frozenset[str]) -> StreamState:
        """This state with `fields` taken from `target`."""
        return dataclasses.replace(self, **{f: getattr(target, f) for f in fields})

    def differs(self, other: StreamState, fields: frozenset[str]) -> list[str]:
        return [f for f in FIELDS if f in fields and getattr(self, f) != getattr(other, f)]

    def landed_ids(self) -> list[tuple[int, int]]:
        """The landed id ranges, inclusive, ascending."""
        ranges = []
        if self.below is not None:
            ranges.append((self.below.first.trade_id, self.below.last.trade_id))
        if self.first is not None and self.last is not None:
            ranges.append((self.first.trade_id, self.last.trade_id))
        if self.up is not None:
            ranges.append((self.up.low.trade_id, self.up.top.trade_id))
        return ranges

    def describe(self) -> str:
        if not self.has_block and self.below is None:
            return "nothing landed"
        parts = [f"{lo}..{hi}" for lo, hi in self.landed_ids()]
        text = "landed ids " + ", ".join(parts)
        if self.down is not None:
            text += f" ({self.down.owner} walk below in progress)"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.first is not None:
            out["first"] = self.first.to_json()
        if self.last is not None:
            out["last"] = self.last.to_json()
        if self.cursor is not None:
            out["cursor"] = self.cursor
        if self.up is not None:
            out["up"] = {
                "top": self.up.top.to_json(),
                "low": self.up.low.to_json(),
                "floor_id": self.up.floor_id,
                "floor_ns": self.up.floor_ns,
            }
        if self.down is not None:
            out["down"] = {"owner": self.down.owner, "floor_ns": self.down.floor_ns}
        if self.below is not None:
            out["below"] = {
                "first": self.below.first.to_json(),
                "last": self.below.last.to_json(),
                "cursor": self.below.cursor,
                "since_ns": self.below.since_ns,
            }
        if self.skipped:
            out["skipped"] = [list(r) for r in self.skipped]
        if self.history is not None:
            out["history"] = {"since_ns": self.history.since_ns, "complete": self.history.complete}
            if self.history.proof is not None:
                out["history"]["proof"] = self.history.proof
            if self.history.before is not None:
                out["history"]["before"] = self.history.before.to_json()
        if self.landed is not None:
            out["landed"] = self.landed
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamState:
        up = data.get("up")
        down = data.get("down")
        below = data.get("below")
        history = data.get("history")
        return cls(
            first=_pos(data.get("first")),
            last=_pos(data.get("last")),
            cursor=data.get("cursor"),
            up=None
            if up is None
            else UpWalk(
                Position.from_json(up["top"]), Position.from_json(up["low"]), up["floor_id"], up["floor_ns"]
            ),
            down=None if down is None else DownWalk(str(down["owner"]), down["floor_ns"]),
            below=None
            if below is None
            else BelowBlock(
                Position.from_json(below["first"]),
                Position.from_json(below["last"]),
                below["cursor"],
                below["since_ns"],
            ),
            skipped=tuple((int(a), int(b)) for a, b in data.get("skipped", ())),
            history=None
            if history is None
            else History(
                history["since_ns"],
                bool(history["complete"]),
                history.get("proof"),
                _pos(history.get("before")),
            ),
            # A state written before counts were kept has none: unknown, not zero.
            landed=int(data["landed"]) if "landed" in data else None,
        )


def _pos(value: Any) -> Position | None:
    return None if value is None else Position.from_json(value)


EMPTY = StreamState()


@dataclass(frozen=True)
class ExchangeState:
    """Every stream of one exchange as one raw-table snapshot carries it."""

    streams: dict[str, StreamState] = field(default_factory=dict)
    snapshot_id: int | None = None  # the snapshot that carried it; None: table has no state yet

    def get(self, product: str) -> StreamState:
        return self.streams.get(product, EMPTY)

    def with_stream(self, product: str, state: StreamState) -> ExchangeState:
        return ExchangeState({**self.streams, product: state}, self.snapshot_id)

    def to_property(self) -> str:
        body = {"v": STATE_VERSION, "streams": {p: s.to_json() for p, s in sorted(self.streams.items())}}
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_property(cls, text: str, *, where: str, snapshot_id: int | None) -> ExchangeState:
        try:
            body = json.loads(text)
            if body.get("v") != STATE_VERSION:
                raise ValueError(f"state version {body.get('v')!r}, expected {STATE_VERSION}")
            streams = {p: StreamState.from_json(s) for p, s in body["streams"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(
                f"{where}: snapshot {snapshot_id}: unreadable stream state ({exc}): {text[:200]!r}"
            ) from exc
        return cls(streams, snapshot_id)
