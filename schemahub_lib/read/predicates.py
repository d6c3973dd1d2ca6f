"""WHERE conditions as PyIceberg row filters: constants evaluated by DuckDB, cast to the column.

A condition is `column op constant-expression`. DuckDB evaluates the constant side itself
(with the query's bound parameters), so `TIMESTAMPTZ '...'`, `now() - INTERVAL 1 HOUR` or
`$start::TIMESTAMPTZ` mean exactly what they mean in the query. The value is pushed only when
its DuckDB type compares with the column the same way in both engines (a string column against
a string, a timestamp against a timestamp, a date or a string literal); otherwise nothing is
pushed and DuckDB alone filters.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.schema import Schema

Params = Sequence[Any] | Mapping[str, Any] | None


@dataclass(frozen=True)
class Condition:
    """`column op value-expression`, from one WHERE conjunct; `op` is =, <, <=, >, >=, in
    (with a list of values) or between (lower, upper); values are DuckDB syntax-tree nodes."""

    column: str
    op: str
    values: tuple[dict[str, Any], ...]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict node of a DuckDB JSON syntax tree, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def conjunction(expressions: list[BooleanExpression]) -> BooleanExpression:
    from pyiceberg.expressions import AlwaysTrue, And

    if not expressions:
        return AlwaysTrue()
    result = expressions[0]
    for expression in expressions[1:]:
        result = And(result, expression)
    return result


# Iceberg type -> (DuckDB type to cast the constant to, DuckDB types the constant may already
# have for the comparison to mean the same thing on both sides).
def _duckdb_cast(iceberg_type: str) -> tuple[str, tuple[str, ...]] | None:
    numeric = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
    times = (
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
        "DATE",
        "VARCHAR",
        "TIMESTAMP_S",
        "TIMESTAMP_MS",
        "TIMESTAMP_NS",
    )
    if iceberg_type == "timestamptz":
        return "TIMESTAMPTZ", times
    if iceberg_type == "timestamp":
        return "TIMESTAMP", times
    if iceberg_type == "date":
        return "DATE", ("DATE", "VARCHAR")
    if iceberg_type == "string":
        return "VARCHAR", ("VARCHAR",)
    if iceberg_type in ("long", "int"):
        return "BIGINT", numeric[:5]
    if iceberg_type in ("double", "float"):
        return "DOUBLE", numeric
    return None


def to_iceberg(
    condition: Condition,
    schema: Schema,
    con: duckdb.DuckDBPyConnection,
    params: Params,
) -> BooleanExpression | None:
    """The PyIceberg form of `condition`, or None when it cannot be pushed exactly."""
    from pyiceberg.expressions import And

    fields = {f.name.lower(): f for f in schema.fields}
    iceberg_field = fields.get(condition.column)
    if iceberg_field is None:
        return None
    cast = _duckdb_cast(str(iceberg_field.field_type))
    if cast is None:
        return None
    values = [_evaluate(con, v, cast, params) for v in condition.values]
    if any(v is None for v in values):
        return None
    name = iceberg_field.name
    if condition.op == "between":
        return And(predicate(">=", name, values[0]), predicate("<=", name, values[1]))
    return predicate(condition.op, name, values if condition.op == "in" else values[0])


def predicate(op: str, column: str, value: Any) -> BooleanExpression:
    """`column op value` as a PyIceberg expression; op is =, <, <=, >, >= or in."""
    from pyiceberg import expressions as ex

    builder = {
        "=": ex.EqualTo,
        "<": ex.LessThan,
        "<=": ex.LessThanOrEqual,
        ">": ex.GreaterThan,
        ">=": ex.GreaterThanOrEqual,
        "in": ex.In,
    }[op]
    # PyIceberg's pydantic-generated signatures hide the (name, value) constructor from mypy.
    return builder(column, tuple(value) if op == "in" else value)  # type: ignore[abstract, call-arg, misc, arg-type]


def _evaluate(
    con: duckdb.DuckDBPyConnection,
    expr: dict[str, Any],
    cast: tuple[str, tuple[str, ...]],
    params: Params,
) -> Any:
    """The value of a constant expression as PyIceberg takes it; None if it cannot be had.

    Timestamps come back as epoch microseconds: no time zone conversion on the way."""
    import duckdb

    target, accepted = cast
    expr = copy.deepcopy(expr)
    bound: dict[str, Any] = {}
    for node in walk(expr):
        if node.get("class") == "PARAMETER":
            key = node["identifier"]
            try:
                value = params[int(key) - 1] if isinstance(params, Sequence) else (params or {})[key]
            except (KeyError, IndexError, ValueError, TypeError):
                return None
            node["identifier"] = f"p_{key}"
            bound[f"p_{key}"] = value
    expr["alias"] = "e"
    template = json.loads(scalar(con, "SELECT json_serialize_sql('SELECT NULL AS e')"))
    template["statements"][0]["node"]["select_list"] = [expr]
    value_sql = f"CAST(e AS {target})"
    if target in ("TIMESTAMPTZ", "TIMESTAMP"):
        value_sql = f"epoch_us({value_sql})"
    try:
        select = scalar(con, "SELECT json_deserialize_sql(?)", [json.dumps(template)])
        row = con.execute(f"SELECT typeof(e), {value_sql} FROM ({select})", bound or None).fetchone()
    except duckdb.Error:
        return None  # DuckDB says what is wrong when it runs the query itself
    if row is None or row[1] is None:
        return None
    kind = str(row[0]).upper()
    if not any(kind == a or kind.startswith(a + "(") for a in accepted):
        return None
    return row[1]


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params).fetchone()
    assert row is not None  # a SELECT of one expression has one row
    return row[0]
