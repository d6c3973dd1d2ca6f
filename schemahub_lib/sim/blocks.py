"""Generated trade blocks and the bounded cache that holds them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Block:
    """The trades of one time block, ascending. `rendered` caches each venue's JSON text."""

    index: int
    seq_start: int
    ids: np.ndarray
    time_ns: np.ndarray
    price_ticks: np.ndarray
    size_steps: np.ndarray
    taker_buy: np.ndarray
    market_order: np.ndarray
    skipped_ids: np.ndarray  # ids inside this block's id span that were never issued
    rendered: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def one(self, i: int) -> Block:
        """Trade i alone, as a block of one (for rendering a single record)."""
        one = slice(i, i + 1)
        return Block(
            self.index,
            self.seq_start + i,
            self.ids[one],
            self.time_ns[one],
            self.price_ticks[one],
            self.size_steps[one],
            self.taker_buy[one],
            self.market_order[one],
            self.skipped_ids[:0],
        )


class BlockCache:
    """LRU of generated blocks across all products, bounded by the number of trades held."""

    def __init__(self, max_trades: int = 400_000) -> None:
        self.max_trades = max_trades
        self._blocks: OrderedDict[tuple[str, str, int], Block] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int]) -> Block | None:
        with self._lock:
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)
            return block

    def put(self, key: tuple[str, str, int], block: Block) -> Block:
        with self._lock:
            existing = self._blocks.get(key)
            if existing is not None:
                return existing  # another thread built it first; keep one copy
            self._blocks[key] = block
            self._held += len(block)
            while self._held > self.max_trades and len(self._blocks) > 1:
                _, old = self._blocks.popitem(last=False)
                self._held -= len(old)
            return block
