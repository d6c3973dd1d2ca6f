"""The transforms a mapping may name: what each accepts and produces. Pure data, no Spark.

The Spark implementation of every entry is in `schemahub_lib.unify.compile`; a test checks
the two registries name the same transforms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

NUMBERS = frozenset({"long", "int", "double", "float", "decimal"})
INTEGERS = frozenset({"long", "int", "decimal", "string"})


@dataclass(frozen=True)
class Transform:
    """A transform's signature: the raw column types it accepts and the type it produces."""

    name: str
    inputs: frozenset[str]
    output: str
    doc: str
    takes_arg: bool = False


def _t(
    name: str, inputs: frozenset[str] | set[str], output: str, doc: str, takes_arg: bool = False
) -> Transform:
    return Transform(name, frozenset(inputs), output, doc, takes_arg)


TRANSFORMS: Mapping[str, Transform] = {
    t.name: t
    for t in (
        _t("to_double", NUMBERS | {"string"}, "double", "number or numeric string -> double"),
        _t("to_string", {"string", "long", "int", "decimal", "boolean"}, "string", "exact text of the value"),
        # Epoch transforms: the unit is explicit and a value outside 2000..2100 in that unit
        # stops the run, naming the value (a wrong unit is off by a factor of 1000 or more).
        _t("from_s", NUMBERS | {"string"}, "timestamp", "epoch seconds (fraction allowed) -> timestamp"),
        _t("from_ms", NUMBERS | {"string"}, "timestamp", "epoch milliseconds -> timestamp"),
        _t("from_us", INTEGERS, "timestamp", "epoch microseconds -> timestamp"),
        _t("from_ns", INTEGERS, "timestamp", "epoch nanoseconds -> timestamp (floored to µs)"),
        _t("iso8601", {"string"}, "timestamp", "ISO 8601 / RFC 3339 text with a zone -> timestamp"),
        _t(
            "map",
            {"string", "boolean", "long", "int"},
            "string",
            "value table {raw value: output}; a value not in the table stops the run",
            takes_arg=True,
        ),
        _t(
            "sign",
            NUMBERS,
            "string",
            "by the sign of a signed amount {negative: output, positive: output}; zero stops the run",
            takes_arg=True,
        ),
        _t("abs", NUMBERS, "double", "magnitude of a signed number -> double"),
        _t("canonical_symbol", {"string"}, "string", "exchange symbol -> canonical BASE-QUOTE"),
        _t("base_asset", {"string"}, "string", "exchange symbol -> canonical base asset"),
        _t("quote_asset", {"string"}, "string", "exchange symbol -> canonical quote asset"),
    )
}
EPOCH_UNITS: Mapping[str, int] = {
    "from_s": 1,
    "from_ms": 1_000,
    "from_us": 1_000_000,
    "from_ns": 1_000_000_000,
}
# Identity (no transform) is allowed when the types are equal or widen without loss.
WIDENING = frozenset({("int", "long"), ("float", "double")})


def identity_allowed(source: str, target: str) -> bool:
    return source == target or (source, target) in WIDENING
