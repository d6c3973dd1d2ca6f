"""What a SELECT needs from the lakehouse: its tables, their columns and the filters to push down.

DuckDB parses the query (`json_serialize_sql`, its own parser, so anything DuckDB accepts is
read the same way here). From the syntax tree come:

- the tables it names: only those are scanned;
- the columns it mentions: the scan reads only those (all of them after a `*`);
- per table, the conjuncts of the WHERE clause that compare one of its columns with a constant
  (`=`, `<`, `<=`, `>`, `>=`, `IN`, `BETWEEN`): they become a PyIceberg row filter, so the scan
  plans only the partitions and files that can hold matching rows.

Pushing down is an optimisation only: DuckDB still evaluates the whole query over what the scan
returns, so a pushed filter must never drop a row the query could use. It is therefore built
only where that is certain: a table referenced in a SELECT whose FROM is that table, or a
plain (not ASOF, SEMI, ANTI, POSITIONAL or LATERAL) join of base tables where the column is
qualified with the table's name or alias; and never under a sample (`USING SAMPLE` draws
before WHERE). A table referenced several times gets the OR of its references' filters, and
nothing if any reference is somewhere this module does not read.
Constant sides (`TIMESTAMPTZ '...'`, `now() - INTERVAL 1 HOUR`, `$start`) are evaluated by
DuckDB itself with the query's parameters, cast to the column's type.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from schemahub_lib.read.errors import QueryError

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.schema import Schema

_COMPARISONS = {
    "COMPARE_EQUAL": "=",
    "COMPARE_LESSTHAN": "<",
    "COMPARE_LESSTHANOREQUALTO": "<=",
    "COMPARE_GREATERTHAN": ">",
    "COMPARE_GREATERTHANOREQUALTO": ">=",
}
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_PLAIN_JOINS = {"INNER", "LEFT", "RIGHT", "OUTER"}
# FROM items that bind no table of this SELECT's WHERE but their own (subqueries are SELECTs of
# their own, visited separately).
_LEAVES = {"BASE_TABLE", "SUBQUERY", "EXPRESSION_LIST", "EMPTY"}
# Evaluated before the query runs, so they are a little earlier than the query's own `now()`:
# safe in a lower bound (the pushed bound is looser), not in an upper bound or an equality.
_CLOCK_FUNCTIONS = {
    "now",
    "current_timestamp",
    "get_current_timestamp",
    "transaction_timestamp",
    "current_date",
    "today",
    "current_time",
    "get_current_time",
    "current_localtimestamp",
    "localtimestamp",
}
_FIXED_WIDTH = ("int", "long", "date", "timestamp", "timestamptz", "float", "double", "boolean")
_RANDOM_FUNCTIONS = {"random", "uuid", "gen_random_uuid", "nextval", "currval", "setseed"}


@dataclass(frozen=True)
class Condition:
    """`column op value-expression`, from one WHERE conjunct; `op` is IN with a list of values."""

    column: str
    op: str
    values: tuple[dict[str, Any], ...]


@dataclass
class _Reference:
    """One place a table is named: its alias and the WHERE conditions that bind it there.

    `conditions` is None where this module cannot tell which rows the query may use."""

    alias: str
    conditions: list[Condition] | None


@dataclass
class ParsedQuery:
    """A single SELECT as DuckDB parsed it."""

    query: str
    tree: dict[str, Any]
    references: dict[str, list[_Reference]] = field(default_factory=dict)
    occurrences: dict[str, int] = field(default_factory=dict)  # BASE_TABLE nodes per name
    qualified: list[str] = field(default_factory=list)  # schema-qualified names, not supported
    cte_names: set[str] = field(default_factory=set)
    column_names: set[str] = field(default_factory=set)
    has_star: bool = False

    def table_names(self) -> list[str]:
        """Every base table the query names, CTE names excluded, in first-seen order."""
        return [name for name in self.references if name not in self.cte_names]

    def columns(self, schema: Schema) -> list[str] | None:
        """The table's columns the query may use; None for all of them."""
        if self.has_star:
            return None
        names = [f.name for f in schema.fields if f.name.lower() in self.column_names]
        if names:
            return names
        # count(*) mentions no column: read one fixed-width column so row counts stay right.
        fixed = [f.name for f in schema.fields if str(f.field_type) in _FIXED_WIDTH]
        return [(fixed or [schema.fields[0].name])[0]]

    def row_filter(
        self,
        table: str,
        schema: Schema,
        con: duckdb.DuckDBPyConnection,
        params: Sequence[Any] | Mapping[str, Any] | None,
    ) -> BooleanExpression:
        """The filter every row the query can use from `table` satisfies (AlwaysTrue if unknown)."""
        from pyiceberg.expressions import AlwaysTrue, Or

        refs = self.references.get(table, [])
        if len(refs) != self.occurrences.get(table, 0):
            return AlwaysTrue()  # named somewhere not accounted for: push nothing
        per_reference: list[BooleanExpression] = []
        for ref in refs:
            if not ref.conditions:
                return AlwaysTrue()
            expression = _conjunction(
                [e for c in ref.conditions if (e := _to_iceberg(c, schema, con, params)) is not None]
            )
            if expression == AlwaysTrue():
                return AlwaysTrue()
            per_reference.append(expression)
        if not per_reference:
            return AlwaysTrue()
        result = per_reference[0]
        for expression in per_reference[1:]:
            result = Or(result, expression)
        return result


def parse_query(con: duckdb.DuckDBPyConnection, query: str) -> ParsedQuery:
    """Parse `query`, which must be exactly one SELECT; QueryError with DuckDB's message if not."""
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {exc}") from exc
    if len(statements) != 1:
        raise QueryError(f"expected exactly one SELECT statement, got {len(statements)}")
    kind = statements[0].type.name
    if kind != "SELECT":
        raise QueryError(f"only SELECT queries are allowed, got a {kind} statement")
    serialized = json.loads(_scalar(con, "SELECT json_serialize_sql(?)", [query]))
    if serialized.get("error"):
        raise QueryError(f"SQL error: {serialized.get('error_message', serialized)}")
    parsed = ParsedQuery(query=query, tree=serialized["statements"][0]["node"])
    _collect(parsed, parsed.tree)
    for node in _walk(parsed.tree):
        if node.get("type") in ("SELECT_NODE",):
            _bind_select(parsed, node)
    return parsed


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _collect(parsed: ParsedQuery, tree: dict[str, Any]) -> None:
    """Tables, CTE names, column names and stars anywhere in the tree."""
    for node in _walk(tree):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            name = node["table_name"].lower()
            if node.get("schema_name") or node.get("catalog_name"):
                parsed.qualified.append(
                    ".".join(p for p in (node["catalog_name"], node["schema_name"], name) if p)
                )
            else:
                parsed.references.setdefault(name, [])
                parsed.occurrences[name] = parsed.occurrences.get(name, 0) + 1
        elif kind == "STAR":
            parsed.has_star = True
        elif kind == "COLUMN_REF":
            parsed.column_names.add(node["column_names"][-1].lower())
        if isinstance(node.get("cte_map"), dict):
            parsed.cte_names.update(entry["key"].lower() for entry in node["cte_map"].get("map", []))


def _join_leaves(from_table: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The relations a FROM joins with plain joins (or the one relation it reads); None if it
    holds a join whose result depends on which rows the other side has (ASOF, SEMI, ...)."""
    kind = from_table.get("type")
    if kind in _LEAVES:
        return [from_table]
    if (
        kind == "JOIN"
        and from_table.get("ref_type") == "REGULAR"
        and from_table.get("join_type") in _PLAIN_JOINS
    ):
        left, right = _join_leaves(from_table["left"]), _join_leaves(from_table["right"])
        return None if left is None or right is None else left + right
    return None


def _bind_select(parsed: ParsedQuery, node: dict[str, Any]) -> None:
    """Record, for each base table of this SELECT's FROM, the WHERE conditions on its columns."""
    leaves = _join_leaves(node.get("from_table") or {})
    if leaves is None:
        for sub in _walk(node.get("from_table") or {}):
            # Named inside a FROM this module does not read (subqueries are visited on their own).
            plain = sub.get("type") == "BASE_TABLE" and not (
                sub.get("schema_name") or sub.get("catalog_name")
            )
            if plain and not _inside_subquery(node.get("from_table") or {}, sub):
                parsed.references[sub["table_name"].lower()].append(_Reference(sub.get("alias", ""), None))
        return
    # A sample is drawn before WHERE: `USING SAMPLE 100 ROWS` of fewer rows is another sample.
    sampled = node.get("sample") is not None or any(leaf.get("sample") is not None for leaf in leaves)
    conjuncts = [] if sampled else _conjuncts(node.get("where_clause"))
    single = len(leaves) == 1  # unqualified columns belong to the table only when it is alone
    for table in (leaf for leaf in leaves if leaf.get("type") == "BASE_TABLE"):
        if table.get("schema_name") or table.get("catalog_name"):
            continue
        name = table["table_name"].lower()
        names = {name, (table.get("alias") or "").lower()} - {""}
        conditions = [c for c in (_condition(x, names, single) for x in conjuncts) if c is not None]
        parsed.references[name].append(_Reference(table.get("alias", ""), conditions))


def _inside_subquery(root: dict[str, Any], target: dict[str, Any]) -> bool:
    """Whether `target` sits under a subquery node of `root` (that subquery binds it itself)."""
    for node in _walk(root):
        if node.get("type") == "SUBQUERY" and any(sub is target for sub in _walk(node.get("subquery"))):
            return True
    return False


def _conjuncts(where: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not where:
        return []
    if where.get("type") == "CONJUNCTION_AND":
        return [c for child in where["children"] for c in _conjuncts(child)]
    return [where]


def _column(expr: dict[str, Any], names: set[str], single: bool) -> str | None:
    """The column a COLUMN_REF names in this table, if it is one of its."""
    if expr.get("class") != "COLUMN_REF":
        return None
    parts = [p.lower() for p in expr["column_names"]]
    if len(parts) == 1:
        return parts[0] if single else None
    if len(parts) == 2 and parts[0] in names:
        return parts[1]
    return None


def _is_constant(expr: dict[str, Any]) -> bool:
    for node in _walk(expr):
        if node.get("class") in ("COLUMN_REF", "SUBQUERY", "WINDOW", "LAMBDA", "STAR"):
            return False
        if node.get("class") == "FUNCTION" and node.get("function_name", "").lower() in _RANDOM_FUNCTIONS:
            return False
    return True


def _reads_clock(expr: dict[str, Any]) -> bool:
    return any(
        n.get("class") == "FUNCTION" and n.get("function_name", "").lower() in _CLOCK_FUNCTIONS
        for n in _walk(expr)
    )


def _condition(expr: dict[str, Any], names: set[str], single: bool) -> Condition | None:
    kind = expr.get("type")
    if kind in _COMPARISONS:
        op = _COMPARISONS[kind]
        left, right = expr["left"], expr["right"]
        column = _column(left, names, single)
        if column is None:
            column, op, right = _column(right, names, single), _FLIPPED[op], left
        if column is None or not _is_constant(right):
            return None
        if _reads_clock(right) and op not in (">", ">="):
            return None
        return Condition(column, op, (right,))
    if kind == "COMPARE_BETWEEN":
        column = _column(expr["input"], names, single)
        lower, upper = expr["lower"], expr["upper"]
        if column is None or not (_is_constant(lower) and _is_constant(upper)) or _reads_clock(upper):
            return None
        return Condition(column, "between", (lower, upper))
    if kind == "COMPARE_IN":
        column = _column(expr["children"][0], names, single)
        values = tuple(expr["children"][1:])
        if column is None or not all(_is_constant(v) and not _reads_clock(v) for v in values):
            return None
        return Condition(column, "in", values)
    return None


def _conjunction(expressions: list[BooleanExpression]) -> BooleanExpression:
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


def _to_iceberg(
    condition: Condition,
    schema: Schema,
    con: duckdb.DuckDBPyConnection,
    params: Sequence[Any] | Mapping[str, Any] | None,
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
    params: Sequence[Any] | Mapping[str, Any] | None,
) -> Any:
    """The value of a constant expression as PyIceberg takes it; None if it cannot be had.

    Timestamps come back as epoch microseconds: no time zone conversion on the way."""
    import duckdb

    target, accepted = cast
    expr = copy.deepcopy(expr)
    bound: dict[str, Any] = {}
    for node in _walk(expr):
        if node.get("class") == "PARAMETER":
            key = node["identifier"]
            try:
                value = params[int(key) - 1] if isinstance(params, Sequence) else (params or {})[key]
            except (KeyError, IndexError, ValueError, TypeError):
                return None
            node["identifier"] = f"p_{key}"
            bound[f"p_{key}"] = value
    expr["alias"] = "e"
    template = json.loads(_scalar(con, "SELECT json_serialize_sql('SELECT NULL AS e')"))
    template["statements"][0]["node"]["select_list"] = [expr]
    value_sql = f"CAST(e AS {target})"
    if target in ("TIMESTAMPTZ", "TIMESTAMP"):
        value_sql = f"epoch_us({value_sql})"
    try:
        select = _scalar(con, "SELECT json_deserialize_sql(?)", [json.dumps(template)])
        row = con.execute(f"SELECT typeof(e), {value_sql} FROM ({select})", bound or None).fetchone()
    except duckdb.Error:
        return None  # DuckDB says what is wrong when it runs the query itself
    if row is None or row[1] is None:
        return None
    kind = str(row[0]).upper()
    if not any(kind == a or kind.startswith(a + "(") for a in accepted):
        return None
    return row[1]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params).fetchone()
    assert row is not None  # a SELECT of one expression has one row
    return row[0]
