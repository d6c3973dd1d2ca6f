"""Progress of a long run: tqdm bars on a terminal, a readable line per stream otherwise.

Per stream and in total: trades fetched as they arrive (counted where pages come back from
the connector, so the bars move long before the first flush commits), trades landed, the rate
and an ETA. The ETA is measured against the stream's plan when one is given (the dry-run
estimate of the trades to fetch, `plan`), else against the time span the stream walks across
(how far the newest trade handled has moved through it).

On a terminal every log line goes through tqdm (`logging_redirect_tqdm`), printed above the
bars instead of through them. Off a terminal: one line per stream every `interval_s` seconds,
plain text, or the `<kind>.progress` JSON event with `lines="json"`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemahub_lib.logs import log_event

_log = logging.getLogger("schemahub")
LINE_STYLES = ("text", "json")


@dataclass
class _Stream:
    label: str
    span: tuple[int, int] | None  # (from_ns, to_ns) of trade time the walk moves across
    expected: int | None = None  # trades the plan expects this stream to fetch
    fetched: int = 0
    landed: int = 0
    started: float = field(default_factory=time.monotonic)
    position_ns: int | None = None
    done: bool = False
    ended: float | None = None
    reported: bool = False  # its closing line is out (text lines)
    bar: Any = None
    row: int = 0  # the bar's line under the total bar

    def elapsed(self) -> float:
        return max((self.ended or time.monotonic()) - self.started, 1e-9)

    def rate(self) -> float:
        return self.fetched / self.elapsed()

    def fraction(self) -> float | None:
        """How much of the stream's work is done, 0..1; None when nothing says."""
        if self.done:
            return 1.0
        if self.expected:
            return min(self.fetched / self.expected, 1.0)
        if self.span is None or self.position_ns is None or self.span[0] == self.span[1]:
            return None
        start, end = self.span
        return min(max((self.position_ns - start) / (end - start), 0.0), 1.0)

    def total(self) -> int | None:
        """Trades this stream will fetch: the plan's figure, or what the share covered so far
        says; never below what is already fetched."""
        if self.expected is not None:
            return max(self.expected, self.fetched)
        share = self.fraction()
        return max(self.fetched, round(self.fetched / share)) if share else None

    def eta_s(self) -> float | None:
        share = self.fraction()
        if self.done or not share:
            return None
        return self.elapsed() * (1 - share) / share

    def move(self, page_trades: list[Any]) -> None:
        """Take a fetched page's trades: count them and move the position along the span."""
        self.fetched += len(page_trades)
        if not page_trades:
            return
        times = (page_trades[0].time_ns, page_trades[-1].time_ns)
        backward = self.span is not None and self.span[1] < self.span[0]
        self.position_ns = min(times) if backward else max(times)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _Watched:
    """A connector whose pages are counted as they arrive; everything else is the connector's."""

    def __init__(self, connector: Any, on_page: Callable[[list[Any]], None]) -> None:
        self._connector = connector
        self._on_page = on_page

    def fetch_page(self, product: str, cursor: Any = None) -> Any:
        page = self._connector.fetch_page(product, cursor)
        self._on_page(page.trades)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._connector, name, value)


class Progress:
    """Thread-safe. `bars=None` decides by whether stderr is a terminal. `plan(product)`, if
    given, returns the plan entry of one stream (`expected_trades`); it is asked only for bars,
    on the stream's own worker, so its requests overlap the other streams' work."""

    def __init__(
        self,
        kind: str,
        *,
        bars: bool | None = None,
        interval_s: float = 10.0,
        lines: str = "text",
        plan: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        if lines not in LINE_STYLES:
            raise ValueError(f"progress lines {lines!r}; valid: {', '.join(LINE_STYLES)}")
        self.kind = kind
        self.bars = sys.stderr.isatty() if bars is None else bars
        self.interval_s = interval_s
        self.lines = lines
        self.plan = plan
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._started = time.monotonic()
        self._last_log = time.monotonic()
        self._total_bar: Any = None
        self._redirect = contextlib.ExitStack()
        if self.bars:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._total_bar = tqdm(
                desc="total", unit=" trades", unit_scale=True, position=0, leave=True,
                file=sys.stderr, dynamic_ncols=True,
            )  # fmt: skip
            self._redirect.enter_context(logging_redirect_tqdm())

    # ---- what the run reports -----------------------------------------------------------

    def start(self, key: str, span: tuple[int, int] | None, run: Any = None) -> None:
        """A stream begins. With its `run`, its pages are counted as they are fetched."""
        expected = self._expected(run) if self.bars and run is not None else None
        with self._lock:
            stream = self._streams[key] = _Stream(key, span, expected)
            if self.bars:
                from tqdm import tqdm

                # The lowest free line: a finished stream's line goes to the next stream.
                taken = {s.row for s in self._streams.values() if not s.done}
                stream.row = next(row for row in range(1, len(self._streams) + 1) if row not in taken)
                stream.bar = tqdm(
                    desc=key, total=expected, unit=" trades", unit_scale=True,
                    position=stream.row, leave=False, file=sys.stderr, dynamic_ncols=True,
                )  # fmt: skip
                self._refresh_total()
        if run is not None:
            run.connector = _Watched(run.connector, lambda trades: self.fetched(key, trades))

    def fetched(self, key: str, trades: list[Any]) -> None:
        """A page came back with these trades."""
        with self._lock:
            stream = self._streams[key]
            stream.move(trades)
            if self.bars:
                stream.bar.total = stream.total()
                stream.bar.update(len(trades))
                self._total_bar.update(len(trades))
                self._refresh_total()
            else:
                self._maybe_log()

    def update(self, key: str, trades: int, position_ns: int | None) -> None:
        """A flush committed `trades` (the run's commit callback)."""
        with self._lock:
            stream = self._streams[key]
            stream.landed += trades
            unseen = stream.landed - stream.fetched  # > 0 when the run was not watched
            if unseen > 0:
                stream.fetched = stream.landed
                stream.position_ns = position_ns if position_ns is not None else stream.position_ns
            if self.bars:
                if unseen > 0:
                    stream.bar.total = stream.total()
                    stream.bar.update(unseen)
                    self._total_bar.update(unseen)
                stream.bar.set_postfix_str(f"landed {stream.landed:,}", refresh=False)
                self._refresh_total()
            else:
                self._maybe_log()

    def finish(self, key: str) -> None:
        with self._lock:
            stream = self._streams[key]
            stream.done, stream.ended = True, time.monotonic()
            if not self.bars and self.lines == "text":
                stream.reported = True
                _log.info(self._line(stream))
            if stream.bar is not None:
                stream.bar.close()
                self._total_bar.write(self._line(stream), file=sys.stderr)
                self._refresh_total()

    def close(self) -> None:
        with self._lock:
            self._redirect.close()
            if self._total_bar is not None:
                self._total_bar.close()
            else:
                self._log()

    # ---- display ------------------------------------------------------------------------

    def _expected(self, run: Any) -> int | None:
        if self.plan is None:
            return None
        try:
            value = self.plan(run.product).get("expected_trades")
        except Exception:  # a plan is a nicety: the bar goes on without a total
            _log.debug("progress plan for %s failed", run.product, exc_info=True)
            return None
        return int(value) if value is not None else None

    def _refresh_total(self) -> None:
        totals = [s.total() for s in self._streams.values()]
        known = [t for t in totals if t is not None]
        self._total_bar.total = sum(known) if known and len(known) == len(totals) else None
        self._total_bar.set_postfix_str(f"landed {sum(s.landed for s in self._streams.values()):,}")

    def _maybe_log(self) -> None:
        now = time.monotonic()
        if now - self._last_log >= self.interval_s:
            self._last_log = now
            self._log()

    def _line(self, s: _Stream) -> str:
        share = s.fraction()
        parts = [f"{self.kind} {s.label}: {s.fetched:,} trades fetched, {s.landed:,} landed"]
        parts.append(f"{s.rate():,.0f} trades/s")
        if s.done:
            parts.append(f"done in {_clock(s.elapsed())}")
        else:
            total = s.total()
            if share is not None and total is not None:
                parts.append(f"{share:.0%} of ~{total:,}")
            parts.append(f"ETA {_clock(s.eta_s())}")
        return ", ".join(parts)

    def _total_eta(self) -> float | None:
        etas = [s.eta_s() for s in self._streams.values() if not s.done]
        known = [e for e in etas if e is not None]
        return max(known) if known and len(known) == len(etas) else None

    def _log(self) -> None:
        if self.lines == "text":
            for stream in self._streams.values():
                if not stream.reported:
                    _log.info(self._line(stream))
            return
        fetched = sum(s.fetched for s in self._streams.values())
        elapsed = time.monotonic() - self._started
        log_event(
            f"{self.kind}.progress",
            trades=sum(s.landed for s in self._streams.values()),
            fetched=fetched,
            trades_per_s=round(fetched / max(elapsed, 1e-9)),
            eta_s=None if (eta := self._total_eta()) is None else round(eta),
            streams={
                k: {
                    "trades": s.landed,
                    "fetched": s.fetched,
                    "trades_per_s": round(s.rate()),
                    "expected": s.total(),
                    "eta_s": None if (e := s.eta_s()) is None else round(e),
                    "done": s.done,
                }
                for k, s in self._streams.items()
            },
        )
