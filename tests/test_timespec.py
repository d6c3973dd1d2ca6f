"""One time syntax for every flag: ISO 8601, epoch seconds or milliseconds, spans before now."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from schemahub_lib.errors import ConfigError
from schemahub_lib.timespec import lag_seconds, parse_time, parse_time_ns, time_arg

INSTANT = datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)  # 1750000000


@pytest.mark.parametrize(
    "text",
    [
        "2025-06-15T15:06:40Z",
        "2025-06-15T15:06:40",  # no zone: UTC
        "2025-06-15 15:06:40+00:00",
        "2025-06-15T17:06:40+02:00",
        "20250615T150640Z",  # ISO 8601 basic format (isoparse reads it; fromisoformat would not)
        "1750000000",
        "1750000000.0",
        "1750000000000",  # milliseconds
        " 1750000000 ",
    ],
)
def test_every_form_names_the_same_instant(text: str) -> None:
    assert parse_time(text) == INSTANT
    assert parse_time_ns(text) == 1_750_000_000 * 10**9


def test_fractions_keep_their_microseconds() -> None:
    assert parse_time_ns("2025-06-15T15:06:40.123456Z") == 1_750_000_000_123_456_000
    assert parse_time_ns("1750000000250") == 1_750_000_000_250_000_000


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("90m", 5400), ("24h", 86400), ("7d", 604800), ("2w", 1209600)]
)
def test_spans_count_back_from_now(text: str, seconds: int) -> None:
    assert (INSTANT - parse_time(text, now=INSTANT)).total_seconds() == seconds


@pytest.mark.parametrize("text", ["someday", "", "24x", "-1h", "2025-13-01", "99999999999999999"])
def test_anything_else_names_the_flag_the_value_and_the_forms(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_time(text, flag="--since")
    message = str(info.value)
    assert message.startswith(f"--since {text!r}: ")
    assert "ISO 8601" in message and "90m, 24h, 7d" in message


def test_as_an_argparse_type_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="schemahub audit")
    parser.add_argument("--since", type=time_arg("--since"))
    assert parser.parse_args(["--since", "1750000000"]).since == INSTANT
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--since", "someday"])
    assert info.value.code == 2
    assert "argument --since: 'someday': not a time; expected ISO 8601" in capsys.readouterr().err


def test_lag_is_never_negative() -> None:
    assert lag_seconds(10 * 10**9, 4 * 10**9) == 6.0
    assert lag_seconds(10 * 10**9, 11 * 10**9) == 0.0  # a trade stamped ahead of our clock
