"""A validated `MappingSpec` -> Spark SQL expression text; raw rows -> unified rows.

Each unified column's rule compiles to Spark SQL text in plain Python, and `map_source` applies
them all in ONE `selectExpr`: a Column built piece by piece costs a py4j call per piece (about
a thousand per source with the checks and lookups), the text costs one call per source.

No Python UDFs: every transform is a built-in Spark expression, and lookups (value tables,
symbols) are literal `map(...)` expressions. A value the mapping cannot turn into a valid
unified value raises inside Spark (`raise_error`) with a marked message naming the mapping
file, key path, problem and value, and the exchange, raw table and trade id of the row;
`data_error` turns that back into a `MappingDataError`.
Because the check runs inside the job that writes, a bad value stops the write before commit.

The text follows three rules. Every literal goes through `sql_literal`, which gives it the Spark type
`F.lit` would; a string with a quote or a backslash goes as its UTF-8 bytes in hex, which Spark
reads the same whether a backslash escapes the next character or not
(`spark.sql.parser.escapedStringLiterals`). Every column name goes through
`sql_ident` (backticks). `map_source` qualifies raw columns with an alias of the raw DataFrame:
by bare name, Spark 3.5 resolves a raw `symbol` to an output alias `symbol` defined earlier in
the same select (lateral column alias), so `base_asset` would look up the unified symbol.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
)

from schemahub_lib.mapping.spec import (
    ENGINE_COLUMNS,
    MAX_TRADE_EPOCH_S,
    MAX_TRADE_TS,
    MIN_TRADE_EPOCH_S,
    MIN_TRADE_TS,
    ORDER_COLUMN,
    ColumnRule,
    MappingDataError,
    MappingSpec,
)
from schemahub_lib.mapping.spec import Column as TableColumn
from schemahub_lib.mapping.symbols import Resolved
from schemahub_lib.mapping.transforms import EPOCH_UNITS

SPARK_TYPES: Mapping[str, DataType] = {
    "string": StringType(),
    "double": DoubleType(),
    "float": FloatType(),
    "long": LongType(),
    "int": IntegerType(),
    "boolean": BooleanType(),
    "timestamp": TimestampType(),
}
# The same types in SQL. TimestampType is always TIMESTAMP_LTZ; SQL `TIMESTAMP` would follow
# spark.sql.timestampType.
SQL_TYPES: Mapping[str, str] = {
    name: "timestamp_ltz" if name == "timestamp" else t.simpleString() for name, t in SPARK_TYPES.items()
}
MARK = "SCHEMAHUB-UNMAPPABLE"
_MARKED = re.compile(
    re.escape(MARK) + r"\[(?P<file>[^|]*)\|(?P<path>[^|]*)\|(?P<problem>.*?)\]" + re.escape(MARK)
)
MICROS_PER_DAY = 86_400_000_000
VALUE_CHARS = 120  # an offending value is shown up to this long
ID_CHARS = 60
WINDOW = f"{MIN_TRADE_TS[:10]}..{MAX_TRADE_TS[:10]}"
RAW = "_schemahub_raw"  # the raw DataFrame's alias in `map_source`
MICROS_DIGITS = r"(\.\d{6})\d+"  # iso8601: timestamps hold µs, later digits are dropped
ZONE = r"(Z|z|[+-]\d\d(:?\d\d)?)$"  # iso8601: the text must end with a zone


def sql_ident(name: str, qualifier: str | None = None) -> str:
    """A column reference: backticks around each part, backticks inside doubled."""
    quoted = "`" + name.replace("`", "``") + "`"
    return quoted if qualifier is None else f"{sql_ident(qualifier)}.{quoted}"


def sql_literal(value: Any) -> str:
    """`value` as a SQL literal of the type `F.lit(value)` gives it: bool -> BOOLEAN, int ->
    INT or BIGINT by size, float -> DOUBLE, Decimal -> DECIMAL of its digits, str -> STRING."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        if "\\" in value or "'" in value:
            # Its UTF-8 bytes as hex: read the same whether a backslash escapes or not
            # (spark.sql.parser.escapedStringLiterals); the coalesce keeps F.lit's NOT NULL.
            return f"coalesce(decode(unhex('{value.encode().hex()}'), 'UTF-8'), '')"
        return f"'{value}'"
    if isinstance(value, int):
        text = str(value) if -(2**31) <= value < 2**31 else f"{value}L"
    elif isinstance(value, float):
        if not math.isfinite(value):
            return f"CAST('{value}' AS DOUBLE)"  # 'inf', '-inf', 'nan'
        text = f"{value!r}D"
    elif isinstance(value, Decimal):
        text = f"{value}BD"
    else:
        raise TypeError(f"no SQL literal for {value!r} ({type(value).__name__})")
    # Parenthesized, so `x - -1` never reads as `x --1` (a comment).
    return f"({text})" if text.startswith("-") else text


def _cast(expr: str, sql_type: str) -> str:
    return f"CAST({expr} AS {sql_type})"


def _map(table: Mapping[Any, str]) -> str:
    return "map(" + ", ".join(sql_literal(x) for kv in table.items() for x in kv) + ")"


def _row_sql(spec: MappingSpec, qualifier: str | None) -> str:
    text = f"exchange {spec.exchange}, table {spec.source}"
    source = spec.rule("trade_id").source
    if source is None:  # a constant trade id: nothing identifies the row
        return sql_literal(text)
    shown = f"coalesce({_cast(sql_ident(source.name, qualifier), 'string')}, 'null')"
    return f"concat({sql_literal(f'{text}, trade {source.name}=')}, substring({shown}, 1, {ID_CHARS}))"


def _message_head(spec: MappingSpec, rule: ColumnRule, problem: str) -> str:
    return f"{MARK}[{spec.file}|{rule.key_path}|{problem}"


def _fail_sql(spec: MappingSpec, rule: ColumnRule, problem: str, value: str, row: str) -> str:
    shown = f"concat(': ', coalesce({_cast(value, 'string')}, 'null'))"
    message = [sql_literal(_message_head(spec, rule, problem)), f"substring({shown}, 1, {VALUE_CHARS})"]
    message += [f"concat(' (', {row}, ')')", sql_literal(f"]{MARK}")]
    return f"raise_error(concat({', '.join(message)}))"


def data_error(exc: BaseException) -> MappingDataError | None:
    """The `MappingDataError` a failed Spark job carries, if a mapping check stopped it."""
    m = _MARKED.search(str(exc))
    return None if m is None else MappingDataError(m["file"], m["path"], m["problem"])


def _epoch(spec: MappingSpec, rule: ColumnRule, x: str, row: str) -> str:
    """Epoch in the rule's unit -> timestamp; a value outside the plausible window stops the run."""
    assert rule.source is not None and rule.transform is not None
    unit = EPOCH_UNITS[rule.transform]
    integral = rule.source.type in ("long", "int")
    # Integer arithmetic for whole numbers (s/ms/us multiply, ns floor-divides), exact decimals
    # otherwise: 1762795433.9717445 s is 971744.5 µs (floored). ns / 1000 in double arithmetic
    # alone is off by one µs now and then; decimal(38,9) is exact but slow (BigDecimal per row).
    v = x if integral else _cast(x, "decimal(38,9)")
    lo, hi = MIN_TRADE_EPOCH_S * unit, MAX_TRADE_EPOCH_S * unit
    if integral and unit <= 1_000_000:
        micros = f"({x} * {sql_literal(1_000_000 // unit)})"
    elif integral:
        micros = floor_div_sql(x, unit // 1_000_000)
    else:
        micros = f"FLOOR(({v} * {sql_literal(Decimal(1_000_000) / unit)}))"
    problem = (
        f"{rule.transform} value in {rule.source.name} is outside {WINDOW} in that unit "
        "(a value in another unit?)"
    )
    in_range = f"(({v} >= {sql_literal(lo)}) AND ({v} < {sql_literal(hi)}))"
    return (
        f"CASE WHEN {in_range} THEN timestamp_micros({_cast(micros, 'bigint')}) "
        f"WHEN ({v} IS NOT NULL) THEN {_fail_sql(spec, rule, problem, x, row)} END"
    )


def floor_div_sql(x: str, d: int) -> str:
    """floor(x / d) for the long SQL expression `x` within MAX_TRADE_EPOCH_S in ns, exactly,
    without decimals: the double quotient is within one of it, and the long remainder says which
    way to step."""
    q = f"FLOOR(({x} / {sql_literal(d)}))"
    r = f"({x} - ({q} * {sql_literal(d)}))"
    return f"CASE WHEN ({r} < 0) THEN ({q} - 1) WHEN ({r} >= {sql_literal(d)}) THEN ({q} + 1) ELSE {q} END"


def _check_window(spec: MappingSpec, rule: ColumnRule, ts: str, row: str) -> str:
    lo, hi = _cast(sql_literal(MIN_TRADE_TS), "TIMESTAMP"), _cast(sql_literal(MAX_TRADE_TS), "TIMESTAMP")
    ok = f"(({ts} IS NULL) OR (({ts} >= {lo}) AND ({ts} < {hi})))"
    problem = f"{rule.target.name} is outside {WINDOW} (a value in another unit?)"
    return f"CASE WHEN {ok} THEN {ts} ELSE {_fail_sql(spec, rule, problem, ts, row)} END"


def rule_sql(
    spec: MappingSpec, rule: ColumnRule, symbols: Mapping[str, Resolved], qualifier: str | None = None
) -> str:
    """The Spark SQL text for one unified column, with its checks; raw columns are qualified
    by `qualifier` (an alias of the raw DataFrame), or bare."""
    target_type = SQL_TYPES[rule.target.type]
    if rule.source is None:
        return _cast(sql_literal(rule.constant), target_type)
    x = sql_ident(rule.source.name, qualifier)
    row = _row_sql(spec, qualifier)
    name = rule.transform
    problem = f"{rule.source.name} is null but {spec.target_table}.{rule.target.name} is required"
    if name is None:
        value = _cast(x, target_type)
    elif name in EPOCH_UNITS:
        value, problem = _epoch(spec, rule, x, row), f"{name}: {rule.source.name} is not a number (or null)"
    elif name == "iso8601":
        # Timestamps hold µs: digits past the sixth are dropped (floored), as for from_ns.
        micros_text = f"regexp_replace({x}, {sql_literal(MICROS_DIGITS)}, '$1')"
        value = f"CASE WHEN {x} RLIKE {sql_literal(ZONE)} THEN to_timestamp({micros_text}) END"
        problem = f"{rule.source.name} is not ISO 8601 text with a zone (or null)"
    elif name == "to_double":
        value, problem = _cast(x, target_type), f"{name}: {rule.source.name} is not a number (or null)"
    elif name == "to_string":
        value = _cast(x, "string")
    elif name == "map":
        value, problem = f"{_map(rule.arg)}[{x}]", f"{rule.source.name} value not in the map table (or null)"
    elif name == "sign":
        negative, positive = sql_literal(rule.arg["negative"]), sql_literal(rule.arg["positive"])
        value = f"CASE WHEN ({x} < 0) THEN {negative} WHEN ({x} > 0) THEN {positive} END"
        problem = f"sign: {rule.source.name} is zero or not a number (or null)"
    elif name == "abs":
        value, problem = _cast(f"abs({x})", target_type), f"abs: {rule.source.name} is not a number (or null)"
    else:
        pick: Callable[[Resolved], str] = {
            "canonical_symbol": lambda r: r.symbol,
            "base_asset": lambda r: r.base,
            "quote_asset": lambda r: r.quote,
        }[name]
        table = {k: pick(r) for k, r in symbols.items()}
        value = f"{_map(table)}[{x}]" if table else _cast("NULL", "string")
        problem = f"{rule.source.name} symbol not in the product seed nor matched by symbols.patterns"
    if rule.target.type == "timestamp" and name not in EPOCH_UNITS:
        value = _check_window(spec, rule, value, row)
    stop = _fail_sql(spec, rule, problem, x, row)
    if rule.target.required:
        return f"coalesce({value}, {stop})"
    return f"CASE WHEN (({x} IS NOT NULL) AND ({value} IS NULL)) THEN {stop} ELSE {value} END"


def compile_rule(
    spec: MappingSpec, rule: ColumnRule, symbols: Mapping[str, Resolved], qualifier: str | None = None
) -> Column:
    """`rule_sql` as a Column. Select it from the raw DataFrame aliased `qualifier` (see the
    module docstring: a bare raw name may resolve to an earlier alias of the same select)."""
    return F.expr(rule_sql(spec, rule, symbols, qualifier))


def mapped_columns(spec: MappingSpec, symbols: Mapping[str, Resolved]) -> list[str]:
    """The select list that maps a raw row (the raw relation aliased RAW) to a unified one:
    every column of trades_unified a mapping sets (all but ENGINE_COLUMNS), in table order,
    with its exact type, then `_source_ingest_ts`, which dedup consumes and drops.
    `symbols` must resolve every exchange symbol in the raw rows."""
    columns = []
    for column in spec.target_columns:
        if column.name not in ENGINE_COLUMNS:
            expr = rule_sql(spec, spec.rule(column.name), symbols, RAW)
            columns.append(f"{_cast(expr, SQL_TYPES[column.type])} AS {sql_ident(column.name)}")
    return [*columns, sql_ident(ORDER_COLUMN, RAW)]


def mapped_sql(spec: MappingSpec, symbols: Mapping[str, Resolved], relation: str) -> str:
    """`mapped_columns` as a query over the raw `relation` (a view name)."""
    return f"SELECT {', '.join(mapped_columns(spec, symbols))} FROM {relation} AS {sql_ident(RAW)}"


def map_source(raw: DataFrame, spec: MappingSpec, symbols: Mapping[str, Resolved]) -> DataFrame:
    """Raw rows -> unified rows (`mapped_columns`) as a DataFrame; `with_engine_columns`
    completes the unified schema contract. A run maps inside its one statement (`mapped_sql`).

    One `selectExpr` of SQL text: the driver builds no Column objects (see the module docstring).
    Nothing in it changes from run to run, so Spark generates the same code for it every run
    and finds it compiled, and JIT-warmed, from the last run in a warm session.
    """
    return raw.alias(RAW).selectExpr(*mapped_columns(spec, symbols))


def engine_sql(rows: str, target_columns: Sequence[TableColumn], ingest_ts_us: int) -> str:
    """The query `rows` (mapped columns) as trades_unified's columns, in table order: the mapped
    ones, and the engine's (`ingest_ts`: this run's time).

    The run's time arrives as data, not code: a one-row relation (`VALUES`) broadcast and
    joined to every row. Spark inlines a timestamp literal into the generated Java, so a
    literal that changes every run made the code of every stage it sat in new each run:
    compiled again, then run interpreted until the JIT warmed it again. In the mapping's select
    that cost a warm 1M-row run 0.35 s (2.35 -> 2.0 s); after dedup, still a new class over
    every written row each run. Joined, a warm run compiles 2 classes instead of 4, both for
    the target-read filter, whose time ranges stay literals so Iceberg can prune with them.
    """
    engine = [c for c in target_columns if c.name in ENGINE_COLUMNS]
    ordered = ", ".join(sql_ident(c.name) for c in target_columns)
    if not engine:  # `VALUES ()` is not SQL
        return f"SELECT {ordered} FROM ({rows})"
    values = ", ".join(
        _cast(f"timestamp_micros({sql_literal(ingest_ts_us)})", SQL_TYPES[c.type]) for c in engine
    )
    names = ", ".join(sql_ident(c.name) for c in engine)
    run = f"(SELECT * FROM VALUES ({values}) AS run({names})) AS run"
    return f"SELECT /*+ BROADCAST(run) */ {ordered} FROM ({rows}) CROSS JOIN {run}"


def with_engine_columns(
    rows: DataFrame, target_columns: Sequence[TableColumn], ingest_ts_us: int
) -> DataFrame:
    """`engine_sql` over a DataFrame of mapped rows."""
    with temp_views(rows.sparkSession, rows=rows) as views:
        return statement(
            rows.sparkSession, engine_sql(f"SELECT * FROM {views['rows']}", target_columns, ingest_ts_us)
        )


def statement(spark: SparkSession, query: str) -> DataFrame:
    """`spark.sql(query)` as a DataFrame over the statement's analyzed plan.

    A write (`writeTo(...).append()`) analyzes the plan it is given again from the DataFrame's
    `queryExecution.logical`; for `spark.sql`'s own DataFrame that is the parsed statement,
    which would be analyzed a second time (~100 ms for a run's) and need its temp views still
    registered. Any DataFrame operation builds on the analyzed plan instead: here an alias,
    which the optimizer removes."""
    return spark.sql(query).alias("_schemahub_statement")


@contextmanager
def temp_views(spark: SparkSession, **frames: DataFrame | None) -> Iterator[dict[str, str]]:
    """Each DataFrame as a temp view with a name of its own (concurrent runs share the
    session), for one SQL statement; dropped after. A statement's DataFrame keeps its analyzed
    plan, so dropping the views after `spark.sql` returns does not affect it."""
    prefix = f"_schemahub_{uuid.uuid4().hex[:12]}_"
    present = {key: frame for key, frame in frames.items() if frame is not None}
    names = {key: prefix + key for key in present}
    try:
        for key, frame in present.items():
            frame.createOrReplaceTempView(names[key])
        yield names
    finally:
        for name in names.values():
            spark.catalog.dropTempView(name)


def day_of(ts: Column) -> Column:
    """Days since the epoch of a timestamp, as Iceberg's days() partition transform counts."""
    return F.floor(F.unix_micros(ts) / MICROS_PER_DAY).cast("long")
