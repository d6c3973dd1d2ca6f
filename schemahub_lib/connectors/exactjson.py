"""Content-exact JSON: the values and the `_raw_payload` text of every trade, no digit lost.

* `loads_exact` keeps every JSON number with a fraction or exponent as the text the exchange
  wrote (`NumberText`); integers are exact Python ints.
* `dumps_exact` writes a parsed value back with the same keys, order and values, numbers
  unchanged, compact separators, strings escaped as `json` escapes them (non-ASCII kept).
  That is the payload form: of what the exchange sent, only insignificant whitespace and the
  spelling of string escapes are normalised (and a repeated key keeps its last value, as in
  the parsed value).
* `loads_items` parses like `loads_exact` and gives one array's elements in the payload form,
  cut out of the body instead of re-written when they already are in it (the usual case).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]
_FLAT = frozenset({str, int, bool, type(None)})
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # absent without the C speedups
_encode_flat = _c_make_encoder and _c_make_encoder(
    None, None, _encode_string, None, ":", ",", False, False, True
)


class NumberText(str):
    """A JSON number with a fraction or exponent, kept as the exact text the exchange wrote."""

    __slots__ = ()


class ExactList(list[Any]):
    """A JSON array from `loads_items`; `texts[i] == dumps_exact(self[i])`."""

    __slots__ = ("texts",)

    def __init__(self, values: list[Any], texts: list[str]) -> None:
        super().__init__(values)
        self.texts = texts


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
    if kind is list or kind is ExactList:
        return "[" + ",".join(dumps_exact(v) for v in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    raise TypeError(f"not a loads_exact value: {kind.__name__}")


_DECODER = json.JSONDecoder(parse_float=NumberText, parse_constant=_no_constants)
# json's own scanners (C when available), called at an index: (value, index after it).
_scan_value: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_scan_string: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WHITESPACE_RUN = re.compile(r"[ \t\n\r]*")
_ESCAPE_OR_WHITESPACE = ("\\", " ", "\n", "\r", "\t")
_BRACKETS: dict[type, tuple[str, str]] = {dict: ("{", "}"), list: ("[", "]")}
_INTEGER_MINUS_ZERO = re.compile(r"-0(?![0-9.eE])")  # parses as 0; a date's "-02" does not match


def loads_items(body: bytes | str, depth: int = 0) -> Any:
    """Parse like `loads_exact`; every array `depth` containers deep comes back an `ExactList`.

    `depth` 0 is a top-level array (Coinbase, Binance pages); 2 an array that is a member of
    an object that is a member of the top-level object (Kraken's `result[pair]`).

    Values and errors are `json.loads`'s: the few containers above `depth` (Kraken's envelope)
    are walked here with `json`'s grammar and error messages, and each array at `depth` is
    parsed whole by `json`'s own (C) scanner, which also says where the array ends.

    An element's source text is its payload when it already is in the `dumps_exact` form: no
    whitespace and no backslash (escapes are re-spelt), no integer `-0` (it parses as 0), and
    no repeated key (the parsed object keeps the last). The usual page is compact and all
    objects (or all arrays): the array's text passes the check as a whole, so every boundary
    between two elements is exactly `},{` (`],[`), and splitting the array's inside at that
    separator gives one piece per element, unless the separator also occurs inside an element
    (in a string, or between nested containers), which shows as more pieces than elements.
    Any other page is cut element by element, scanning each on its own to find where it ends;
    an element whose text fails the check is written by `dumps_exact` instead.

    The repeated-key check counts `":`. With no backslash, every `"` delimits a string, so
    each member of any object adds one `":` after its key (a string that starts with `:` adds
    more). A count equal to the sum of the top-level objects' sizes therefore leaves no member
    for a repeated key, and none for a nested object that could hold one.
    """
    if isinstance(body, str):
        if body.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", body, 0)
        text = body
    else:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    value, end = _value(text, _skip(text, 0), depth)
    end = _skip(text, end)
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _skip(text: str, at: int) -> int:
    """The index of the first non-whitespace character at or after `at`."""
    return _WHITESPACE_RUN.match(text, at).end()  # type: ignore[union-attr]  # `*` always matches


def _value(text: str, at: int, depth: int) -> tuple[Any, int]:
    """(the value starting at `at`, the index after it), `depth` containers above the arrays
    that become ExactLists."""
    head = text[at : at + 1]
    if head == "[" and depth == 0:
        return _exact_array(text, at)
    if head == "[" and depth > 0:
        return _array(text, at + 1, depth)
    if head == "{" and depth > 0:
        return _object(text, at + 1, depth)
    return _scan(text, at)


def _scan(text: str, at: int) -> tuple[Any, int]:
    try:
        return _scan_value(text, at)
    except StopIteration as stop:  # what json.loads reports for it
        raise json.JSONDecodeError("Expecting value", text, stop.value) from None


def _object(text: str, at: int, depth: int) -> tuple[dict[str, Any], int]:
    """The object whose `{` is just before `at`, its members one container deeper."""
    obj: dict[str, Any] = {}
    at = _skip(text, at)
    if text[at : at + 1] == "}":
        return obj, at + 1
    while True:
        if text[at : at + 1] != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, at)
        key, at = _scan_string(text, at + 1)
        at = _skip(text, at)
        if text[at : at + 1] != ":":
            raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
        value, at = _value(text, _skip(text, at + 1), depth - 1)
        obj[key] = value
        at = _skip(text, at)
        if text[at : at + 1] == "}":
            return obj, at + 1
        if text[at : at + 1] != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
        at = _skip(text, at + 1)


def _array(text: str, at: int, depth: int) -> tuple[list[Any], int]:
    """The array whose `[` is just before `at`, its elements one container deeper."""
    values: list[Any] = []
    at = _skip(text, at)
    if text[at : at + 1] == "]":
        return values, at + 1
    while True:
        value, at = _value(text, at, depth - 1)
        values.append(value)
        at = _skip(text, at)
        if text[at : at + 1] == "]":
            return values, at + 1
        if text[at : at + 1] != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
        at = _skip(text, at + 1)


def _exact_array(text: str, at: int) -> tuple[ExactList, int]:
    """The array starting at `at`, each element with its payload text (see `loads_items`)."""
    values, end = _scan(text, at)
    kind = type(values[0]) if values else None
    if kind in _BRACKETS and _is_payload_form(text, values, at, end) and set(map(type, values)) == {kind}:
        # '[{a},{b}]' -> 'a},{b' -> 'a', 'b' -> '{a}', '{b}' (the same with '],[').
        opener, closer = _BRACKETS[kind]
        pieces = text[at + 2 : end - 2].split(closer + "," + opener)
        if len(pieces) == len(values):
            return ExactList(values, [opener + p + closer for p in pieces]), end
    texts = [
        t if _is_payload_form(t, (v,)) else dumps_exact(v)
        for v, t in zip(values, _element_texts(text, at), strict=True)
    ]
    return ExactList(values, texts), end


def _element_texts(text: str, at: int) -> list[str]:
    """The source text of each element of the (valid) array starting at `at`."""
    texts: list[str] = []
    at = _skip(text, at + 1)
    if text[at] == "]":
        return texts
    while True:
        _, end = _scan_value(text, at)
        texts.append(text[at:end])
        at = _skip(text, end)
        if text[at] == "]":
            return texts
        at = _skip(text, at + 1)  # past the comma


def _is_payload_form(text: str, values: Any, start: int = 0, stop: int | None = None) -> bool:
    """Whether `text[start:stop]`, the source of `values`, is what `dumps_exact` writes for
    them (see `loads_items`)."""
    stop = len(text) if stop is None else stop
    return (
        all(text.find(c, start, stop) < 0 for c in _ESCAPE_OR_WHITESPACE)
        and _INTEGER_MINUS_ZERO.search(text, start, stop) is None
        and text.count('":', start, stop) == sum(len(v) for v in values if type(v) is dict)
    )
