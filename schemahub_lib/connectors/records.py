"""Exact JSON and record validation shared by the exchange connectors.

Two jobs, both pure:

* Content-exact JSON. `loads_exact` keeps every JSON number with a fraction or exponent as
  the text the exchange wrote (`NumberText`); `dumps_exact` writes a parsed value back with the
  same keys, order and values, numbers unchanged, compact separators. A trade's `payload` is
  `dumps_exact` of the trade as parsed, so `_raw_payload` is what the exchange sent.
* Validation of one record. The `require_*` helpers raise `RecordError(reason)`; a connector
  turns that into a `Reject` so a bad record never crashes its page and is never dropped.

Time conventions: `RawTrade.time_ns` is exact integer nanoseconds since the epoch (UTC);
TIMESTAMP columns in `RawTrade.record` are integer microseconds since the epoch (UTC), which
landing converts to Arrow `timestamp[us, UTC]`.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

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
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]
_FLAT = frozenset({str, int, bool, type(None)})
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # absent without the C speedups
_encode_flat = _c_make_encoder and _c_make_encoder(
    None, None, _encode_string, None, ":", ",", False, False, True
)


class NumberText(str):
    """A JSON number with a fraction or exponent, kept as the exact text the exchange wrote."""

    __slots__ = ()


class RecordError(ValueError):
    """One record failed validation. Internal: connectors turn it into a `Reject`."""


def _no_constants(name: str) -> Any:
    # NaN/Infinity are not JSON; Python's decoder would accept them silently.
    raise ValueError(f"{name} is not valid JSON")


def loads_exact(body: bytes | str) -> Any:
    """Parse JSON keeping fractional numbers as `NumberText`; ints are exact Python ints."""
    return json.loads(body, parse_float=NumberText, parse_constant=_no_constants)


def dumps_exact(value: Any) -> str:
    """Write a `loads_exact` value back as compact JSON text, numbers exactly as written."""
    kind = type(value)
    if kind is dict and _encode_flat and _FLAT.issuperset(map(type, value.values())):
        # Flat objects without fractional numbers (Coinbase, Binance trades): the C encoder
        # writes them exactly and twice as fast.
        return "".join(_encode_flat(value, 0))
    if kind is str:
        return _encode_string(value)  # type: ignore[no-any-return]
    if kind is NumberText:
        return str.__str__(value)
    if kind is int:
        return int.__repr__(value)
    if kind is dict:
        return "{" + ",".join(_encode_string(k) + ":" + dumps_exact(v) for k, v in value.items()) + "}"
    if kind is list:
        return "[" + ",".join(dumps_exact(v) for v in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    raise TypeError(f"not a loads_exact value: {kind.__name__}")


def now_ns() -> int:
    return time.time_ns()


def short(value: Any, limit: int = 40) -> str:
    """A value for a reject reason: repr, truncated."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    return number


def require_positive(value: Any, field: str) -> float:
    """A positive finite decimal given as a JSON string or number; returned as a float."""
    if value is None:
        raise RecordError(f"missing {field}")
    kind = type(value)
    # Plain digits-and-dot text skips the regex; float() alone would accept "1_0", " 1", "inf".
    if kind is int or (
        (kind is str or kind is NumberText) and (not value.strip("0123456789.") or _DECIMAL.fullmatch(value))
    ):
        try:
            number = float(value)
        except ValueError:
            raise RecordError(f"{field} {short(value)} is not a decimal number") from None
    else:
        raise RecordError(f"{field} {short(value)} is not a decimal number")
    if not (number > 0 and math.isfinite(number)):
        raise RecordError(f"{field} {short(value)} is not a positive number")
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
