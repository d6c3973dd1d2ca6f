"""Times given on the command line or as job arguments: one syntax for every flag.

`--since`, `--until`, `--as-of` (and any other time a person types) accept:

    ISO 8601             2026-11-01, 2026-11-01T12:00:00Z, 2026-11-01T12:00:00+02:00
                         (no zone means UTC)
    epoch seconds        1750000000 or 1750000000.25
    epoch milliseconds   1750000000000 (a number of 12 digits or more)
    a span before now    30s, 90m, 24h, 7d, 2w

ISO 8601 is read by python-dateutil's `isoparse` (the full standard, not only Python's subset).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dateutil.parser import isoparse

from schemahub_lib.errors import ConfigError

FORMS = (
    "ISO 8601 (2026-11-01 or 2026-11-01T12:00:00Z), epoch seconds or milliseconds "
    "(1750000000, 1750000000000), or a span before now (90m, 24h, 7d)"
)
_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Epoch seconds reach 12 digits only in the year 5138; so 12+ digits are milliseconds.
_MS_FROM = 10**11
_MS_UNTIL = 10**14  # past the year 5138 in milliseconds: a unit mistake (µs, ns)
NS = 10**9


def parse_time(text: str, now: datetime | None = None, *, flag: str = "time") -> datetime:
    """`text` in any accepted form -> an aware UTC datetime; `now` anchors spans (default: the clock).

    Raises ConfigError naming the flag, the value given and the accepted forms."""
    value = text.strip()
    span = _SPAN.fullmatch(value)
    if span:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[span[2]]: float(span[1])})
    if _NUMBER.fullmatch(value):
        number = float(value)
        if number >= _MS_UNTIL:
            raise ConfigError(
                f"{flag} {text!r}: too large for epoch seconds or milliseconds; expected {FORMS}"
            )
        seconds = number / 1000 if number >= _MS_FROM else number
        return datetime.fromtimestamp(seconds, UTC)
    try:
        stamp = isoparse(value)
    except (ValueError, OverflowError):
        raise ConfigError(f"{flag} {text!r}: not a time; expected {FORMS}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def parse_time_ns(text: str, now: datetime | None = None, *, flag: str = "time") -> int:
    """`parse_time` as nanoseconds since the epoch."""
    return to_ns(parse_time(text, now, flag=flag))


def to_ns(stamp: datetime) -> int:
    """An aware datetime -> ns since the epoch, exact to the microsecond."""
    whole = stamp - datetime(1970, 1, 1, tzinfo=UTC)
    return (whole.days * 86_400 + whole.seconds) * NS + whole.microseconds * 1000


def iso_ns(ns: int) -> str:
    """ns since the epoch -> `2026-11-01T12:00:00Z` (to the second), for messages."""
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_arg(flag: str) -> Callable[[str], datetime]:
    """An argparse `type=` for a time flag: bad input exits 2 with the value and the forms."""

    def convert(text: str) -> datetime:
        try:
            return parse_time(text, flag=flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag} ")) from None

    convert.__name__ = "time"  # argparse names the type in its fallback message
    return convert


def lag_seconds(now_ns: int, newest_trade_ns: int) -> float:
    """How far the newest landed trade is behind `now`, in seconds; never negative (a trade
    stamped a little ahead of our clock is not behind it). `status` and the landing reports
    both use this."""
    return round(max(0, now_ns - newest_trade_ns) / NS, 3)
