"""Progress of a long run: tqdm bars on a terminal, periodic log lines otherwise.

Per stream and in total: trades landed, trades/s and an ETA. The ETA comes from how far the
stream's position (the time of the newest trade it handled) has moved through the time span
it has to cover, which needs no trade-count estimate.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from schemahub_lib.logs import log_event


@dataclass
class _Stream:
    label: str
    span: tuple[int, int] | None  # (start_ns, end_ns) of trade time this stream walks across
    trades: int = 0
    started: float = field(default_factory=time.monotonic)
    position_ns: int | None = None
    done: bool = False
    bar: Any = None

    def rate(self) -> float:
        return self.trades / max(time.monotonic() - self.started, 1e-9)

    def eta_s(self) -> float | None:
        if self.span is None or self.position_ns is None or self.done:
            return None
        start, end = self.span
        if start == end:
            return None
        covered = (self.position_ns - start) / (end - start)
        if covered <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return max(0.0, elapsed * (1 - min(covered, 1.0)) / covered)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Thread-safe. `bars=None` decides by whether stderr is a terminal."""

    def __init__(self, kind: str, *, bars: bool | None = None, interval_s: float = 10.0) -> None:
        self.kind = kind
        self.bars = sys.stderr.isatty() if bars is None else bars
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._started = time.monotonic()
        self._last_log = 0.0
        self._total_bar: Any = None
        if self.bars:
            from tqdm import tqdm

            self._total_bar = tqdm(desc="total", unit=" trades", position=0, leave=True, file=sys.stderr)

    def start(self, key: str, span: tuple[int, int] | None) -> None:
        with self._lock:
            stream = self._streams[key] = _Stream(key, span)
            if self.bars:
                from tqdm import tqdm

                stream.bar = tqdm(
                    desc=key, unit=" trades", position=len(self._streams), leave=False, file=sys.stderr
                )

    def update(self, key: str, trades: int, position_ns: int | None) -> None:
        with self._lock:
            stream = self._streams[key]
            stream.trades += trades
            stream.position_ns = position_ns if position_ns is not None else stream.position_ns
            if self.bars:
                stream.bar.update(trades)
                stream.bar.set_postfix_str(
                    f"{stream.rate():,.0f}/s ETA {_eta(stream.eta_s())}", refresh=False
                )
                self._total_bar.update(trades)
                self._total_bar.set_postfix_str(f"ETA {_eta(self._total_eta())}", refresh=False)
                return
            now = time.monotonic()
            if now - self._last_log >= self.interval_s:
                self._last_log = now
                self._log()

    def finish(self, key: str) -> None:
        with self._lock:
            stream = self._streams[key]
            stream.done = True
            if stream.bar is not None:
                stream.bar.close()

    def close(self) -> None:
        with self._lock:
            if self._total_bar is not None:
                self._total_bar.close()
            else:
                self._log()

    def _total_eta(self) -> float | None:
        etas = [s.eta_s() for s in self._streams.values() if not s.done]
        known = [e for e in etas if e is not None]
        return max(known) if known and len(known) == len(etas) else None

    def _log(self) -> None:
        total = sum(s.trades for s in self._streams.values())
        elapsed = time.monotonic() - self._started
        log_event(
            f"{self.kind}.progress",
            trades=total,
            trades_per_s=round(total / max(elapsed, 1e-9)),
            eta_s=None if (eta := self._total_eta()) is None else round(eta),
            streams={
                k: {
                    "trades": s.trades,
                    "trades_per_s": round(s.rate()),
                    "eta_s": None if s.eta_s() is None else round(s.eta_s() or 0),
                    "done": s.done,
                }
                for k, s in self._streams.items()
            },
        )
