"""Record validators (schemahub_lib/connectors/records.py)."""

from __future__ import annotations

import pytest

from schemahub_lib.connectors.exactjson import NumberText
from schemahub_lib.connectors.records import (
    RecordError,
    epoch_ms_to_ns,
    require_positive,
    require_trade_id,
    rfc3339_to_ns,
    seconds_text_to_ns,
)

NOW = 1_763_000_000 * 10**9  # 2025-11-13


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2020-02-17T07:23:16.353Z", 1_581_924_196_353_000_000),
        ("2020-02-17T07:22:44.39Z", 1_581_924_164_390_000_000),
        ("2020-02-17T07:16:30.2Z", 1_581_923_790_200_000_000),
        ("2020-02-17T07:16:30Z", 1_581_923_790_000_000_000),
        ("2024-03-13T11:00:17.710679Z", 1_710_327_617_710_679_000),
        ("2024-03-13T11:00:17.710679123Z", 1_710_327_617_710_679_123),
        ("2024-03-13T11:00:17.7106791239Z", 1_710_327_617_710_679_123),  # below 1 ns: truncated
        ("2024-03-13T12:00:17.5+01:00", 1_710_327_617_500_000_000),
    ],
)
def test_rfc3339_parses_every_fraction_length_exactly(text: str, ns: int) -> None:
    assert rfc3339_to_ns(text, "time", NOW) == ns


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2020-02-17 07:23:16Z", "not an RFC 3339 UTC time"),
        ("2020-02-30T07:23:16Z", "not a valid date"),
        ("2008-12-31T23:59:59Z", r"outside 2009-01-01\.\.now\+1d"),
        ("2031-01-01T00:00:00Z", r"outside 2009-01-01\.\.now\+1d"),
        (1581924196, "not an RFC 3339 string"),
    ],
)
def test_rfc3339_rejects_with_reason(value: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        rfc3339_to_ns(value, "time", NOW)


def test_epoch_ms_names_the_unit_mistake() -> None:
    assert epoch_ms_to_ns(1634942949263, "time", NOW) == 1_634_942_949_263_000_000
    with pytest.raises(RecordError, match=r"looks like microseconds, not milliseconds"):
        epoch_ms_to_ns(1634942949263000, "time", NOW)
    with pytest.raises(RecordError, match=r"looks like seconds, not milliseconds"):
        epoch_ms_to_ns(1634942949, "time", NOW)
    with pytest.raises(RecordError, match="not integer epoch milliseconds"):
        epoch_ms_to_ns(NumberText("1634942949263.5"), "time", NOW)


def test_seconds_text_is_exact_to_the_nanosecond() -> None:
    assert seconds_text_to_ns(NumberText("1762795433.9717445"), "time", NOW) == 1_762_795_433_971_744_500
    assert seconds_text_to_ns(NumberText("1548111751.5556"), "time", NOW) == 1_548_111_751_555_600_000
    assert seconds_text_to_ns(1548111751, "time", NOW) == 1_548_111_751_000_000_000
    assert seconds_text_to_ns(NumberText("1.5481117515556E9"), "time", NOW) == 1_548_111_751_555_600_000
    with pytest.raises(RecordError, match="looks like milliseconds, not seconds"):
        seconds_text_to_ns(1548111751555, "time", NOW)
    with pytest.raises(RecordError, match="looks like nanoseconds, not seconds"):
        seconds_text_to_ns(1548111751555600000, "time", NOW)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing price"),
        ("abc", "not a decimal number"),
        ("1_000", "not a decimal number"),
        ("NaN", "not a decimal number"),
        ("0.00000000", "not a positive number"),
        ("-1.5", "not a positive number"),
        ("1e999", "not a positive number"),
        (10**400, "not a positive number"),  # a JSON integer too large for a float
        (True, "not a decimal number"),
        (" 1.5", "not a decimal number"),
        ("", "not a decimal number"),
        ("1.2.3", "not a decimal number"),
    ],
)
def test_require_positive_reasons(value: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        require_positive(value, "price")


def test_require_positive_accepts_strings_and_numbers() -> None:
    assert require_positive("9042.88000000", "price") == 9042.88
    assert require_positive(NumberText("0.5"), "price") == 0.5
    assert require_positive(3, "price") == 3.0


def test_require_trade_id() -> None:
    assert require_trade_id(5_200_000_001, "id") == 5_200_000_001  # past int32
    assert require_trade_id("18502034", "trade_id") == 18502034  # ccxt-style stringified id
    for bad, reason in (
        (None, "missing id"),
        ("12a", "not an integer"),
        (1.5, "not an integer"),
        (-1, "below 0"),
    ):
        with pytest.raises(RecordError, match=reason):
            require_trade_id(bad, "id")
