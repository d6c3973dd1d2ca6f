"""Structured log lines: one JSON object per line on stderr, for people and machines alike."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

_log = logging.getLogger("schemahub")


def log_event(event: str, **fields: Any) -> None:
    """Write one JSON line: {"ts": ..., "event": ..., **fields}."""
    line = {"ts": round(time.time(), 3), "event": event, **fields}
    _log.info(json.dumps(line, default=str, separators=(",", ":")))
