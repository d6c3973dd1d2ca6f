"""Simulator clocks: trades exist up to the clock's now, so time passing creates new trades."""

from __future__ import annotations

import threading
import time

from schemahub_lib.errors import ConfigError


class RealClock:
    """Wall-clock time. The default for `schemahub sim serve`."""

    kind = "real"

    def __init__(self, start_s: float | None = None) -> None:
        self.start_ns = int((time.time() if start_s is None else start_s) * 1e9)
        self._offset_ns = self.start_ns - time.time_ns()

    def now_ns(self) -> int:
        return time.time_ns() + self._offset_ns

    def advance(self, seconds: float) -> int:
        raise ConfigError("the real clock cannot be advanced; start the simulator with the manual clock")

    def set(self, epoch_s: float) -> int:
        raise ConfigError("the real clock cannot be set; start the simulator with the manual clock")


class ManualClock:
    """A clock that moves only when told: tests advance it to make new trades appear."""

    kind = "manual"

    def __init__(self, start_s: float) -> None:
        self.start_ns = int(start_s * 1e9)
        self._now_ns = self.start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        return self._now_ns

    def advance(self, seconds: float) -> int:
        """Move forward by `seconds` (never backward) and return the new now in ns."""
        if seconds < 0:
            raise ConfigError(f"the clock only moves forward; got advance({seconds})")
        with self._lock:
            self._now_ns += round(seconds * 1e9)
            return self._now_ns

    def set(self, epoch_s: float) -> int:
        """Jump to `epoch_s` (not before the current now)."""
        target = round(epoch_s * 1e9)
        with self._lock:
            if target < self._now_ns:
                raise ConfigError(f"the clock only moves forward; {epoch_s} is before now")
            self._now_ns = target
            return self._now_ns


Clock = RealClock | ManualClock
