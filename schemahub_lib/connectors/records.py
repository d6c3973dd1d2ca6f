"""Validation of one trade record, shared by the exchange connectors.

The `require_*` helpers raise `RecordError(reason)`; a connector turns that into a `Reject` so
a bad record never crashes its page and is never dropped. Exact JSON (numbers kept as written,
the `_raw_payload` text) is in exactjson.py.

Time conventions: `RawTrade.time_ns` is exact integer nanoseconds since the epoch (UTC);
TIMESTAMP columns in `RawTrade.record` are integer microseconds since the epoch (UTC), which
landing converts to Arrow `timestamp[us, UTC]`.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from schemahub_lib.connectors.exactjson import NumberText

# 2009-01-01T00:00:00Z: no exchange in scope traded earlier; anything before is a unit error.
MIN_TIME_NS = 1_230_768_000 * 10**9
# Trades stamped more than a day ahead of our clock are a unit error, not clock skew.
MAX_FUTURE_NS = 86_400 * 10**9

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SECONDS = re.compile(r"(\d+)(?:\.(\d*))?")
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})",
)


class RecordError(ValueError):
    """One record failed validation. Internal: connectors turn it into a `Reject`."""


def now_ns() -> int:
    return time.time_ns()


def short(value: Any, limit: int = 40) -> str:
    """A value for a reject reason: repr, truncated."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_TRADE_ID = 2**63 - 1  # raw tables keep trade ids as BIGINT (ddl/raw_*_trades.sql)


def require_trade_id(value: Any, field: str, *, minimum: int = 0) -> int:
    """An integer trade id (a string of digits is tolerated: some recorders stringify ids)."""
    if type(value) is int:
        number = value
    elif type(value) is str and value.isascii() and value.isdigit():
        number = int(value)
    elif value is None:
        raise RecordError(f"missing {field}")
    else:
        raise RecordError(f"{field} {short(value)} is not an integer")
    if number < minimum:
        raise RecordError(f"{field} {number} is below {minimum}")
    if number > MAX_TRADE_ID:
        raise RecordError(
            f"{field} {number} is above {MAX_TRADE_ID}, the largest the raw table's BIGINT holds"
        )
    return number


def require_positive(value: Any, field: str) -> float:
    """A positive finite decimal given as a JSON string or number; returned as a float."""
    kind = type(value)
    if kind is str or kind is NumberText:
        # Plain digits-and-dot text skips the regex; float() alone would accept "1_0", " 1", "inf".
        if value.strip("0123456789.") and not _DECIMAL.fullmatch(value):
            raise RecordError(f"{field} {short(value)} is not a decimal number")
        try:
            number = float(value)
        except ValueError:  # "", ".", "1.2.3"
            raise RecordError(f"{field} {short(value)} is not a decimal number") from None
    elif kind is int:
        try:
            number = float(value)
        except OverflowError:  # more digits than a float holds: not finite, rejected below
            number = math.inf
    elif value is None:
        raise RecordError(f"missing {field}")
    else:
        raise RecordError(f"{field} {short(value)} is not a decimal number")
    if not 0 < number < math.inf:
        raise RecordError(f"{field} {short(value)} is not a positive number")
    return number


def require_nonzero(value: Any, field: str) -> float:
    """A non-zero finite decimal of either sign (Bitfinex's signed AMOUNT), as a float."""
    kind = type(value)
    if kind is str or kind is NumberText:
        if not _DECIMAL.fullmatch(value):
            raise RecordError(f"{field} {short(value)} is not a decimal number")
        number = float(value)
    elif kind is int:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
    elif value is None:
        raise RecordError(f"missing {field}")
    else:
        raise RecordError(f"{field} {short(value)} is not a decimal number")
    if number == 0 or not math.isfinite(number):
        raise RecordError(f"{field} {short(value)} is not a non-zero finite number")
    return number


def require_choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if value in choices and type(value) is str:
        return value  # type: ignore[no-any-return]
    raise RecordError(f"{field} {short(value)} is not one of {', '.join(choices)}")


def require_bool(value: Any, field: str) -> bool:
    if type(value) is bool:
        return value
    raise RecordError(f"{field} {short(value)} is not a boolean")


_UNITS = ("seconds", "milliseconds", "microseconds", "nanoseconds")  # each 1000x finer


def check_time_ns(ns: int, field: str, now: int, *, unit: str = "") -> int:
    """`ns` inside 2009-01-01 .. now + 1 day, else a reason that names the likely unit mistake."""
    high = now + MAX_FUTURE_NS
    if MIN_TIME_NS <= ns <= high:
        return ns
    hint = ""
    if unit in _UNITS:
        at = _UNITS.index(unit)
        for steps in (1, 2, 3):
            if at - steps >= 0 and MIN_TIME_NS <= ns * 1000**steps <= high:
                hint = f" (looks like {_UNITS[at - steps]}, not {unit})"
                break
            if at + steps < len(_UNITS) and MIN_TIME_NS <= ns // 1000**steps <= high:
                hint = f" (looks like {_UNITS[at + steps]}, not {unit})"
                break
    raise RecordError(f"{field} is outside 2009-01-01..now+1d{hint}")


def epoch_ms_to_ns(value: Any, field: str, now: int) -> int:
    """Binance-style integer epoch milliseconds to ns, rejecting other units."""
    if type(value) is not int:
        raise RecordError(f"{field} {short(value)} is not integer epoch milliseconds")
    ns = value * 1_000_000
    try:
        return check_time_ns(ns, field, now, unit="milliseconds")
    except RecordError as exc:
        raise RecordError(f"{field} {value} {exc.args[0].removeprefix(field + ' ')}") from None


def seconds_text_to_ns(value: Any, field: str, now: int) -> int:
    """Kraken-style decimal epoch seconds (JSON number text) to exact integer ns, no float."""
    if type(value) is int:
        text = str(value)
    elif isinstance(value, str):
        text = str.__str__(value)
    else:
        raise RecordError(f"{field} {short(value)} is not a number of epoch seconds")
    match = _SECONDS.fullmatch(text)
    if match:
        whole, frac = match.group(1), (match.group(2) or "")
        # Digits past the ninth are below a nanosecond; truncation keeps the value exact to 1 ns.
        ns = int(whole) * 10**9 + int(frac[:9].ljust(9, "0"))
    elif _DECIMAL.fullmatch(text):
        from decimal import Decimal  # exponent forms are rare; the slow exact path is fine

        ns = int(Decimal(text).scaleb(9).to_integral_value(rounding="ROUND_FLOOR"))
    else:
        raise RecordError(f"{field} {short(value)} is not a number of epoch seconds")
    try:
        return check_time_ns(ns, field, now, unit="seconds")
    except RecordError as exc:
        raise RecordError(f"{field} {text} {exc.args[0].removeprefix(field + ' ')}") from None


@lru_cache(maxsize=4096)
def _whole_seconds(stamp: str, offset: str) -> int:
    # Trades cluster in time, so most pages hit the cache for the date-time part.
    parsed = datetime.fromisoformat(stamp.upper() + ("+00:00" if offset in ("Z", "z") else offset))
    return (parsed - _EPOCH) // timedelta(seconds=1)


def rfc3339_to_ns(value: Any, field: str, now: int) -> int:
    """Coinbase-style RFC 3339 time with 0 to 9+ fractional digits to exact integer ns."""
    if type(value) is not str:
        raise RecordError(f"{field} {short(value)} is not an RFC 3339 string")
    match = _RFC3339.fullmatch(value)
    if not match:
        raise RecordError(f"{field} {short(value)} is not an RFC 3339 UTC time")
    stamp, frac, offset = match.groups()
    try:
        seconds = _whole_seconds(stamp, offset)
    except ValueError:
        raise RecordError(f"{field} {short(value)} is not a valid date and time") from None
    ns = seconds * 10**9 + int((frac or "")[:9].ljust(9, "0"))
    try:
        return check_time_ns(ns, field, now)
    except RecordError as exc:
        raise RecordError(f"{field} {value} {exc.args[0].removeprefix(field + ' ')}") from None
