"""Time arguments of the read API: datetimes, ISO 8601 strings and epoch seconds, all to UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from schemahub_lib.read.errors import QueryError

# Epoch seconds stay below this until the year 5138; larger values are milliseconds or
# microseconds read in the wrong unit, which is an error rather than a date far in the future.
MAX_EPOCH_SECONDS = 1e11

TimeLike = datetime | date | str | int | float


def to_utc(value: Any, name: str = "time") -> datetime:
    """`value` as an aware UTC datetime: a datetime (naive means UTC), a date (its midnight),
    an ISO 8601 string (`2026-01-05T12:00:00Z`) or epoch seconds."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, bool):
        raise QueryError(f"{name}: expected a datetime, ISO 8601 string or epoch seconds, got {value!r}")
    if isinstance(value, int | float):
        if abs(value) >= MAX_EPOCH_SECONDS:
            raise QueryError(
                f"{name}: {value!r} is too large for epoch seconds (milliseconds? divide by 1000)"
            )
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise QueryError(
                f"{name}: cannot read {value!r}; expected ISO 8601 such as 2026-01-05T12:00:00Z"
            ) from None
        return to_utc(parsed, name)
    raise QueryError(
        f"{name}: expected a datetime, ISO 8601 string or epoch seconds, got {type(value).__name__}"
    )


def epoch_micros(value: datetime) -> int:
    """Microseconds since the epoch, the unit of Iceberg timestamps."""
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
