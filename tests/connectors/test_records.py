"""Exact JSON round trips and record validators (schemahub_lib/connectors/records.py)."""

from __future__ import annotations

import json

import pytest

from schemahub_lib.connectors.records import (
    NumberText,
    RecordError,
    dumps_exact,
    epoch_ms_to_ns,
    loads_exact,
    require_positive,
    require_trade_id,
    rfc3339_to_ns,
    seconds_text_to_ns,
)

NOW = 1_763_000_000 * 10**9  # 2025-11-13


@pytest.mark.parametrize(
    "text",
    [
        '["105433.60000","0.00027625",1762795433.9717445,"b","l","",10218208]',
        '{"trade_id":24169717,"price":"9042.88000000","side":"sell","t":1.50E+9,"n":null,"ok":true}',
        '{"wsname":"AAVE/AUD","x":-0.0,"big":123456789012345678901234567890,"u":"Ω"}',
        "[1548111751.5556,1e-7,0.10,[],{}]",
        '{"u":"Ω \\"q\\" \\n","a":1,"b":false,"c":null}',  # flat: the C encoder path
    ],
)
def test_dumps_exact_writes_numbers_as_the_exchange_wrote_them(text: str) -> None:
    assert dumps_exact(loads_exact(text)) == text


def test_loads_exact_keeps_fraction_digits_that_a_float_would_lose() -> None:
    row = loads_exact(b"[1762820035.9822779, 1616666442.3010457]")
    assert row == ["1762820035.9822779", "1616666442.3010457"]
    assert all(type(x) is NumberText for x in row)
    assert float("1762820035.9822779") * 1e9 != 1762820035982277900  # why floats are banned


def test_dumps_exact_normalises_only_whitespace_and_escapes() -> None:
    text = '{ "wsname" : "AAVE\\/AUD",\n "p": 1.10 }'
    out = dumps_exact(loads_exact(text))
    assert out == '{"wsname":"AAVE/AUD","p":1.10}'
    assert json.loads(out) == json.loads(text)


def test_loads_exact_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        loads_exact('{"p": NaN}')


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
        (True, "not a decimal number"),
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
