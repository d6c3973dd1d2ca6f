"""Pre-rendered JSON per block, and trade pages cut from it.

A venue renders a whole block once into one byte string of comma-joined trade fragments in
the order it serves them (Coinbase newest first, the others oldest first). A page of
contiguous trades is then a slice of that string, so a 1000-trade page costs a few slices and
one join instead of 1000 `json.dumps` calls. Pages bent by faults (dropped or corrupted
trades) take a slower per-trade path.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from schemahub_lib.sim.blocks import Block


class Renderer(Protocol):
    """A venue's trade JSON: all of a block at once, or one corrupted trade for reject tests."""

    venue: str
    descending: bool  # serves newest first

    def fragments(self, block: Block) -> list[str]: ...

    def corrupt(self, block: Block, i: int, variant: str) -> str: ...


@dataclass
class RenderedBlock:
    """A block's trades as JSON fragments joined by commas, in the venue's serving order."""

    text: bytes
    starts: np.ndarray  # byte offset of each fragment in serving order, plus len(text) + 1
    descending: bool

    @classmethod
    def build(cls, fragments: list[str], descending: bool) -> RenderedBlock:
        if descending:
            fragments = fragments[::-1]
        lengths = np.fromiter(map(len, fragments), dtype=np.int64, count=len(fragments)) + 1
        starts = np.concatenate([[0], np.cumsum(lengths)])
        return cls(",".join(fragments).encode("ascii"), starts, descending)

    def span(self, lo: int, hi: int) -> bytes:
        """Trades [lo, hi) (ascending block indices) as served, comma-joined."""
        n = len(self.starts) - 1
        a, b = (n - hi, n - lo) if self.descending else (lo, hi)
        return self.text[int(self.starts[a]) : int(self.starts[b]) - 1]


@dataclass
class PageEdits:
    """How a fault bends one trade page; the handler fills in what it actually hid or broke."""

    shift: int = 0  # start this many trades back (the page overlaps the previous one)
    drop: int = 0  # silently omit this many existing trades from the middle of the page
    invalid: str | None = None  # corrupt the middle trade (see faults.INVALID_VARIANTS)
    hidden_ids: list[int] = field(default_factory=list)
    corrupted_ids: list[int] = field(default_factory=list)
    # Filled for every page: the id spans served intact (ids inside a span the page lacks were
    # never issued, or belong to another product), so truth knows what was delivered again.
    served: list[tuple[int, int]] = field(default_factory=list)

    @property
    def bends_records(self) -> bool:
        return self.drop > 0 or self.invalid is not None


def rendered(block: Block, renderer: Renderer) -> RenderedBlock:
    """The block's cached rendering for a venue, built on first use."""
    cached = block.rendered.get(renderer.venue)
    if cached is None:
        cached = RenderedBlock.build(renderer.fragments(block), renderer.descending)
        block.rendered[renderer.venue] = cached
    return cached


@dataclass(frozen=True)
class Page:
    """A rendered page: the comma-joined trades and where its first and last served trades sit."""

    text: bytes
    count: int
    first: tuple[Block, int] | None  # in serving order
    last: tuple[Block, int] | None

    def first_id(self) -> int | None:
        return None if self.first is None else int(self.first[0].ids[self.first[1]])

    def last_id(self) -> int | None:
        return None if self.last is None else int(self.last[0].ids[self.last[1]])


def page_body(
    pieces: list[tuple[Block, int, int]], renderer: Renderer, edits: PageEdits | None = None
) -> Page:
    """The trades [pieces] in serving order, bent by `edits` when a fault asks for it."""
    if edits is not None and edits.bends_records:
        return _bent_page(pieces, renderer, edits)
    if not pieces:
        return Page(b"", 0, None, None)
    if edits is not None:
        edits.served.extend((int(b.ids[lo]), int(b.ids[hi - 1])) for b, lo, hi in pieces if hi > lo)
    parts = [rendered(b, renderer).span(lo, hi) for b, lo, hi in pieces]
    oldest = (pieces[0][0], pieces[0][1])
    newest = (pieces[-1][0], pieces[-1][2] - 1)
    count = sum(hi - lo for _, lo, hi in pieces)
    if renderer.descending:
        parts.reverse()
        return Page(b",".join(parts), count, newest, oldest)
    return Page(b",".join(parts), count, oldest, newest)


def _bent_page(pieces: list[tuple[Block, int, int]], renderer: Renderer, edits: PageEdits) -> Page:
    trades = [(b, i) for b, lo, hi in pieces for i in range(lo, hi)]
    m = len(trades)
    # Drop from the middle, never the first or last trade, so the page's cursors stay true.
    drop = min(edits.drop, max(m - 2, 0))
    d0 = (m - drop) // 2
    kept = trades[:d0] + trades[d0 + drop :]
    edits.hidden_ids.extend(int(b.ids[i]) for b, i in trades[d0 : d0 + drop])
    bad = len(kept) // 2 if edits.invalid is not None and kept else -1
    texts: list[str] = []
    for j, (b, i) in enumerate(kept):
        if j == bad and edits.invalid is not None:
            texts.extend(_corrupted(b, i, renderer, edits.invalid))
            edits.corrupted_ids.append(int(b.ids[i]))
        else:
            texts.append(rendered(b, renderer).span(i, i + 1).decode("ascii"))
            edits.served.append((int(b.ids[i]), int(b.ids[i])))
    if renderer.descending:
        texts.reverse()
        kept.reverse()
    first, last = (kept[0], kept[-1]) if kept else (None, None)
    return Page(",".join(texts).encode("ascii"), len(kept), first, last)


# An id one past the largest BIGINT: what a venue switching to unsigned or string ids sends.
OVERFLOW_ID = 2**63


def _corrupted(block: Block, i: int, renderer: Renderer, variant: str) -> list[str]:
    """The texts served for a corrupted trade (two for a duplicate id)."""
    text = rendered(block, renderer).span(i, i + 1).decode("ascii")
    if variant == "duplicate_id":
        one = block.one(i)
        other = dataclasses.replace(one, price_ticks=one.price_ticks + 1, rendered={})
        return [text, renderer.fragments(other)[0]]
    if variant == "id_overflow":
        return [re.sub(rf"(?<![0-9.]){int(block.ids[i])}(?![0-9.])", str(OVERFLOW_ID), text, count=1)]
    return [renderer.corrupt(block, i, variant)]


def fixed_point(values: np.ndarray, decimals: int, width: int) -> list[str]:
    """Scaled integers as decimal strings: (12345, 2, 8) -> '123.45000000'."""
    div = 10**decimals
    pad = "0" * (width - decimals)
    whole, frac = (values // div).tolist(), (values % div).tolist()
    # str.zfill is ~3x faster than a nested f-string format spec on this hot path.
    return [f"{a}.{str(b).zfill(decimals)}{pad}" for a, b in zip(whole, frac, strict=True)]
