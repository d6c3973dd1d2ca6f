"""Exact JSON: round trips, and each trade's payload cut out of the body (exactjson.py).

`loads_items` must parse exactly as `json.loads` does (same values, same errors) and give
every element of the trades array exactly as `dumps_exact` writes it, whether the text was
sliced from the body or re-written. The property tests hold it against `json.loads` and
`dumps_exact` on generated pages that mix the forms that need re-writing (whitespace,
escapes, `-0`, repeated keys) with compact ones, and on corrupted copies of them.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from schemahub_lib.connectors.exactjson import (
    ExactList,
    NumberText,
    dumps_exact,
    loads_exact,
    loads_items,
)


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


# ---------------------------------------------------------------------------- loads_items


def _same(a: Any, b: Any) -> bool:
    # `==` alone cannot tell NumberText("1.5") from "1.5" or True from 1; the written form can.
    return bool(a == b) and dumps_exact(a) == dumps_exact(b)


@pytest.mark.parametrize(
    ("body", "texts"),
    [
        # Compact trades: the payloads are the elements' own text.
        (
            '[{"id":1,"price":"9042.88000000","t":1.50E+9},{"id":2,"price":"1e-7","n":null}]',
            ['{"id":1,"price":"9042.88000000","t":1.50E+9}', '{"id":2,"price":"1e-7","n":null}'],
        ),
        (
            '[["105433.60000","0.00027625",1762795433.9717445,"b","l","",10218208],["1","2",3,"s","m","",4]]',
            [
                '["105433.60000","0.00027625",1762795433.9717445,"b","l","",10218208]',
                '["1","2",3,"s","m","",4]',
            ],
        ),
        # Separators inside strings are not element boundaries.
        ('[{"a":"},{"},{"b":"],["}]', ['{"a":"},{"}', '{"b":"],["}']),
        ('[{"a":"},{},{"},"x",{}]', ['{"a":"},{},{"}', '"x"', "{}"]),
        ('[["],[","]"],[0]]', ['["],[","]"]', "[0]"]),
        # Nesting, mixed kinds, unicode (kept, not escaped), exponents.
        (
            '[{"a":[{"b":1},{"c":[2,3]}]},[[1],[2]],"Ω🚀\u2028",-1.5E-3,true,null,0]',
            ['{"a":[{"b":1},{"c":[2,3]}]}', "[[1],[2]]", '"Ω🚀\u2028"', "-1.5E-3", "true", "null", "0"],
        ),
        # Escapes are re-spelt as json spells them; escaped quotes do not end a string.
        (
            r'[{"q":"say \"hi\", {x}","s":"a\/b","u":"\u00e9\u0001","e":"\ud83d\ude80"}]',
            ['{"q":"say \\"hi\\", {x}","s":"a/b","u":"é\\u0001","e":"🚀"}'],
        ),
        # Whitespace outside strings goes, inside strings stays.
        ('[ {"a" : "x y",\n\t"b":[1, 2]} ,\r\n{ } ]', ['{"a":"x y","b":[1,2]}', "{}"]),
        # -0 parses as the integer 0; -0.0 and -0e1 keep their text.
        (
            '[{"a":-0},{"a":-0.0},{"a":-0e1},{"a":"-0"}]',
            ['{"a":0}', '{"a":-0.0}', '{"a":-0e1}', '{"a":"-0"}'],
        ),
        # A repeated key keeps its last value, as the parsed object does.
        ('[{"a":1,"a":2},{"b":{"c":1,"c":2}},{":a":1}]', ['{"a":2}', '{"b":{"c":2}}', '{":a":1}']),
        ("[]", []),
        (" [ ] ", []),
    ],
)
def test_each_element_comes_with_its_exact_text(body: str, texts: list[str]) -> None:
    items = loads_items(body.encode())
    assert isinstance(items, ExactList)
    assert _same(list(items), json.loads(body, parse_float=NumberText))
    assert items.texts == texts
    assert items.texts == [dumps_exact(v) for v in items]


def test_kraken_rows_two_levels_down() -> None:
    body = (
        b'{"error":[],"result":{"XXBTZUSD":[["105433.60000","0.00027625",1762795433.9717445,"b","l","",'
        b'10218208],\n ["3535.5","0.003",1548111751.5556,"b","m",""]],"last":"1762795433971744500"}}'
    )
    data = loads_items(body, depth=2)
    rows = data["result"]["XXBTZUSD"]
    assert isinstance(rows, ExactList)
    assert rows.texts == [
        '["105433.60000","0.00027625",1762795433.9717445,"b","l","",10218208]',
        '["3535.5","0.003",1548111751.5556,"b","m",""]',
    ]
    assert type(data["error"]) is list and data["result"]["last"] == "1762795433971744500"
    assert _same(data, loads_exact(body))


def test_only_arrays_at_the_asked_depth_carry_texts() -> None:
    data = loads_items(b'{"a":[1],"b":{"c":[2]}}', depth=2)
    assert type(data["a"]) is list  # depth 1
    assert isinstance(data["b"]["c"], ExactList) and data["b"]["c"].texts == ["2"]
    top = loads_items(b'{"code":-1121,"msg":"Invalid symbol."}')  # no array: parsed as usual
    assert top == {"code": -1121, "msg": "Invalid symbol."}


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "[",
        "[1,",
        "[1,]",
        "[1 2]",
        '[{"a":1,}]',
        '[{"a" 1}]',
        "[1]]",
        "[1] x",
        '[{"a":"\\x"}]',
        '["a\tb"]',
        '[{"a":"unterminated}]',
        "[NaN]",
        "[-Infinity]",
        "[01]",
        "\ufeff[1]",
        '{"error":[],"result":{"X":[[1],[2]],}}',
        '{"error":[],"result":{"X":[[1],[2]]}',
        '{"error":[],"result":{"X":[[1],[2]]}} {}',
        '{"error":[] "result":{}}',
        '{"error":[],"result":{1:[]}}',
    ],
)
def test_malformed_bodies_fail_as_json_loads_fails(body: str) -> None:
    with pytest.raises(ValueError) as expected:
        loads_exact(body)
    for depth in (0, 2):
        with pytest.raises(ValueError) as got:
            loads_items(body, depth)
        assert str(got.value) == str(expected.value)


def test_bytes_are_decoded_as_json_loads_decodes_them() -> None:
    text = '[{"u":"Ω"}]'
    for body in (text.encode(), text.encode("utf-16"), b"\xef\xbb\xbf" + text.encode()):
        assert loads_items(body).texts == ['{"u":"Ω"}']
    with pytest.raises(ValueError):
        loads_items(b'["\xff"]')


# ------------------------------------------------------------------ generated pages, vs json

_CHARS = list('"\\/aZ0 :,{}[]éΩ🚀\u2028\x01\n')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\x01": "\\u0001"}
_INTEGERS = ["0", "-0", "7", "-12", "123456789012345678901"]
_NUMBERS = [*_INTEGERS, "0.10", "-0.0", "1e5", "1E+2", "-2.5e-3", "1.50E+9"]


def _string(rng: random.Random, *, key: bool = False) -> str:
    chars = [rng.choice(_CHARS) for _ in range(rng.randrange(4 if key else 8))]
    out = []
    for c in chars:
        if c in _ESCAPES:
            out.append(_ESCAPES[c] if rng.random() < 0.8 else f"\\u{ord(c):04x}")
        elif c == "/" and rng.random() < 0.3:
            out.append("\\/")
        elif c == "é" and rng.random() < 0.3:
            out.append("\\u00e9")
        elif c == "🚀" and rng.random() < 0.3:
            out.append("\\ud83d\\ude80")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


class _Writer:
    """Random JSON text: compact or spaced, with escapes, repeated keys and `-0` sometimes."""

    def __init__(self, rng: random.Random, spaced: bool, plain: bool) -> None:
        self.rng, self.spaced, self.plain = rng, spaced, plain

    def ws(self) -> str:
        if not self.spaced or self.rng.random() < 0.5:
            return ""
        return "".join(self.rng.choice(" \t\n\r") for _ in range(self.rng.randrange(1, 3)))

    def string(self, *, key: bool = False) -> str:
        if self.plain:  # no escapes, no whitespace: the sliced path
            chars = [self.rng.choice("aZ0:,{}[]éΩ🚀-") for _ in range(self.rng.randrange(6))]
            return '"' + "".join(chars) + '"'
        return _string(self.rng, key=key)

    def scalar(self) -> str:
        kind = self.rng.randrange(6)
        if kind == 0:
            return self.string()
        if kind == 1:
            number = self.rng.choice(_NUMBERS)
            return number if not (self.plain and number == "-0") else "0"
        return ["true", "false", "null", str(self.rng.randrange(10**6))][kind - 2]

    def value(self, depth: int) -> str:
        roll = self.rng.random()
        if depth > 0 and roll < 0.25:
            return self.array(depth - 1)
        if depth > 0 and roll < 0.5:
            return self.obj(depth - 1)
        return self.scalar()

    def array(self, depth: int) -> str:
        items = [self.value(depth) for _ in range(self.rng.randrange(4))]
        return "[" + self.ws() + ("," + self.ws()).join(i + self.ws() for i in items) + "]"

    def obj(self, depth: int) -> str:
        keys = [self.string(key=True) for _ in range(self.rng.randrange(4))]
        if keys and not self.plain and self.rng.random() < 0.2:
            keys.append(keys[0])  # a repeated key
        members = [f"{k}{self.ws()}:{self.ws()}{self.value(depth)}{self.ws()}" for k in keys]
        return "{" + self.ws() + ("," + self.ws()).join(members) + "}"

    def trade(self) -> str:
        # Pages are mostly one kind of element, as exchanges send them.
        return self.obj(2) if self.rng.random() < 0.5 else self.array(2)

    def page(self) -> str:
        shape = self.rng.random()
        trades = [self.trade() if shape < 0.8 else self.value(3) for _ in range(self.rng.randrange(12))]
        body = ("," + self.ws()).join(t + self.ws() for t in trades)
        return f"{self.ws()}[{self.ws()}{body}]{self.ws()}"


def _pages(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    pages = []
    for _ in range(count):
        spaced, plain = rng.random() < 0.3, rng.random() < 0.5
        pages.append(_Writer(rng, spaced, plain).page())
    return pages


@pytest.mark.parametrize("seed", range(4))
def test_generated_pages_parse_as_json_loads_and_dumps_exact(seed: int) -> None:
    sliced = 0
    for page in _pages(seed, 500):
        expected = loads_exact(page)
        items = loads_items(page.encode())
        assert isinstance(items, ExactList)
        assert _same(list(items), expected), page
        assert items.texts == [dumps_exact(v) for v in expected], page
        sliced += all(t in page for t in items.texts) and bool(items.texts)
    assert sliced > 100  # the generator reaches the sliced path, not only the re-written one


@pytest.mark.parametrize("seed", range(4))
def test_generated_kraken_envelopes_parse_as_json_loads(seed: int) -> None:
    rng = random.Random(seed)
    for page in _pages(seed + 100, 200):
        body = f'{{"error":[],"result":{{{_string(rng, key=True)}:{page},"last":"17"}},"x":{page}}}'
        expected = loads_exact(body)
        data = loads_items(body, depth=2)
        assert _same(data, expected)
        (rows,) = [v for k, v in data["result"].items() if k != "last"]
        assert isinstance(rows, ExactList)
        assert rows.texts == [dumps_exact(v) for v in rows]


@pytest.mark.parametrize("seed", range(4))
def test_corrupted_pages_fail_or_parse_exactly_as_json_loads(seed: int) -> None:
    rng = random.Random(seed)
    failed = 0
    for page in _pages(seed + 200, 300):
        at = rng.randrange(len(page) + 1)
        corrupt = rng.choice(
            [
                page[:at],  # truncated
                page[:at] + page[at + 1 :],  # a character lost
                page[:at] + rng.choice('[]{},:"\\ 0-aeE') + page[at:],  # one added
            ]
        )
        try:
            expected = loads_exact(corrupt)
        except ValueError as exc:
            failed += 1
            with pytest.raises(ValueError) as got:
                loads_items(corrupt)
            assert str(got.value) == str(exc), corrupt
            continue
        got_value = loads_items(corrupt)
        assert _same(got_value, expected), corrupt
        if isinstance(got_value, ExactList):
            assert got_value.texts == [dumps_exact(v) for v in got_value]
    assert failed > 100
