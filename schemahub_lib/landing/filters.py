"""Typed shorthands for PyIceberg row filters (its pydantic predicates confuse mypy)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyiceberg.expressions import And, BooleanExpression, EqualTo, GreaterThanOrEqual, In


def eq(column: str, value: Any) -> BooleanExpression:
    return EqualTo(column, value)  # type: ignore[call-arg, misc, arg-type]


def ge(column: str, value: Any) -> BooleanExpression:
    return GreaterThanOrEqual(column, value)  # type: ignore[call-arg, misc, arg-type]


def isin(column: str, values: Iterable[Any]) -> BooleanExpression:
    return In(column, tuple(values))  # type: ignore[call-arg, misc, arg-type]


def all_of(*parts: BooleanExpression) -> BooleanExpression:
    out = parts[0]
    for part in parts[1:]:
        out = And(out, part)
    return out
