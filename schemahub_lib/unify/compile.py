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

The text follows three rules. Every literal goes through `_lit`, which gives it the Spark type
`F.lit` would; a string with a quote or a backslash goes as its UTF-8 bytes in hex, which Spark
reads the same whether a backslash escapes the next character or not
(`spark.sql.parser.escapedStringLiterals`). Every column name goes through
`_ident` (backticks). `map_source` qualifies raw columns with an alias of the raw DataFrame:
by bare name, Spark 3.5 resolves a raw `symbol` to an output alias `symbol` defined earlier in
the same select (lateral column alias), so `base_asset` would look up the unified symbol.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame
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


def _ident(name: str, qualifier: str | None = None) -> str:
    """A column reference: backticks around each part, backticks inside doubled."""
    quoted = "`" + name.replace("`", "``") + "`"
    return quoted if qualifier is None else f"{_ident(qualifier)}.{quoted}"


def _lit(value: Any) -> str:
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
    return "map(" + ", ".join(_lit(x) for kv in table.items() for x in kv) + ")"


def _row_sql(spec: MappingSpec, qualifier: str | None) -> str:
    text = f"exchange {spec.exchange}, table {spec.source}"
    source = spec.rule("trade_id").source
    if source is None:  # a constant trade id: nothing identifies the row
        return _lit(text)
    shown = f"coalesce({_cast(_ident(source.name, qualifier), 'string')}, 'null')"
    return f"concat({_lit(f'{text}, trade {source.name}=')}, substring({shown}, 1, {ID_CHARS}))"


def _message_head(spec: MappingSpec, rule: ColumnRule, problem: str) -> str:
    return f"{MARK}[{spec.file}|{rule.key_path}|{problem}"


def _fail_sql(spec: MappingSpec, rule: ColumnRule, problem: str, value: str, row: str) -> str:
    shown = f"concat(': ', coalesce({_cast(value, 'string')}, 'null'))"
    message = [_lit(_message_head(spec, rule, problem)), f"substring({shown}, 1, {VALUE_CHARS})"]
    message += [f"concat(' (', {row}, ')')", _lit(f"]{MARK}")]
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
        micros = f"({x} * {_lit(1_000_000 // unit)})"
    elif integral:
        micros = floor_div_sql(x, unit // 1_000_000)
    else:
        micros = f"FLOOR(({v} * {_lit(Decimal(1_000_000) / unit)}))"
    problem = (
        f"{rule.transform} value in {rule.source.name} is outside {WINDOW} in that unit "
        "(a value in another unit?)"
    )
    in_range = f"(({v} >= {_lit(lo)}) AND ({v} < {_lit(hi)}))"
    return (
        f"CASE WHEN {in_range} THEN timestamp_micros({_cast(micros, 'bigint')}) "
        f"WHEN ({v} IS NOT NULL) THEN {_fail_sql(spec, rule, problem, x, row)} END"
    )


def floor_div_sql(x: str, d: int) -> str:
    """floor(x / d) for the long SQL expression `x` within MAX_TRADE_EPOCH_S in ns, exactly,
    without decimals: the double quotient is within one of it, and the long remainder says which
    way to step."""
    q = f"FLOOR(({x} / {_lit(d)}))"
    r = f"({x} - ({q} * {_lit(d)}))"
    return f"CASE WHEN ({r} < 0) THEN ({q} - 1) WHEN ({r} >= {_lit(d)}) THEN ({q} + 1) ELSE {q} END"


def _check_window(spec: MappingSpec, rule: ColumnRule, ts: str, row: str) -> str:
    lo, hi = _cast(_lit(MIN_TRADE_TS), "TIMESTAMP"), _cast(_lit(MAX_TRADE_TS), "TIMESTAMP")
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
        return _cast(_lit(rule.constant), target_type)
    x = _ident(rule.source.name, qualifier)
    row = _row_sql(spec, qualifier)
    name = rule.transform
    problem = f"{rule.source.name} is null but {spec.target_table}.{rule.target.name} is required"
    if name is None:
        value = _cast(x, target_type)
    elif name in EPOCH_UNITS:
        value, problem = _epoch(spec, rule, x, row), f"{name}: {rule.source.name} is not a number (or null)"
    elif name == "iso8601":
        # Timestamps hold µs: digits past the sixth are dropped (floored), as for from_ns.
        micros_text = f"regexp_replace({x}, {_lit(MICROS_DIGITS)}, '$1')"
        value = f"CASE WHEN {x} RLIKE {_lit(ZONE)} THEN to_timestamp({micros_text}) END"
        problem = f"{rule.source.name} is not ISO 8601 text with a zone (or null)"
    elif name == "to_double":
        value, problem = _cast(x, target_type), f"{name}: {rule.source.name} is not a number (or null)"
    elif name == "to_string":
        value = _cast(x, "string")
    elif name == "map":
        value, problem = f"{_map(rule.arg)}[{x}]", f"{rule.source.name} value not in the map table (or null)"
    elif name == "sign":
        negative, positive = _lit(rule.arg["negative"]), _lit(rule.arg["positive"])
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


def map_source(raw: DataFrame, spec: MappingSpec, symbols: Mapping[str, Resolved]) -> DataFrame:
    """Raw rows -> unified rows: every column of trades_unified a mapping sets (all but
    ENGINE_COLUMNS), in table order, with its exact type, plus `_source_ingest_ts`, which dedup
    consumes and drops. `with_engine_columns` completes the unified schema contract.
    `symbols` must resolve every exchange symbol in `raw`.

    One `selectExpr` of SQL text: the driver builds no Column objects (see the module docstring).
    Nothing in it changes from run to run, so Spark generates the same code for it every run
    and finds it compiled, and JIT-warmed, from the last run in a warm session.
    """
    columns = []
    for column in spec.target_columns:
        if column.name not in ENGINE_COLUMNS:
            expr = rule_sql(spec, spec.rule(column.name), symbols, RAW)
            columns.append(f"{_cast(expr, SQL_TYPES[column.type])} AS {_ident(column.name)}")
    return raw.alias(RAW).selectExpr(*columns, _ident(ORDER_COLUMN, RAW))


def with_engine_columns(
    rows: DataFrame, target_columns: Sequence[TableColumn], ingest_ts_us: int
) -> DataFrame:
    """`rows` as trades_unified's columns, in table order: the mapped ones, and the engine's
    (`ingest_ts`: this run's time).

    The run's time arrives as data, not code: a one-row relation (`VALUES`) broadcast and
    joined to every row. Spark inlines a timestamp literal into the generated Java, so a
    literal that changes every run made the code of every stage it sat in new each run:
    compiled again, then run interpreted until the JIT warmed it again. In the mapping's select
    that cost a warm 1M-row run 0.35 s (2.35 -> 2.0 s); after dedup, still a new class over
    every written row each run. Joined, a warm run compiles 2 classes instead of 4, both for
    the target-read filter, whose time ranges stay literals so Iceberg can prune with them.
    """
    engine = [c for c in target_columns if c.name in ENGINE_COLUMNS]
    ordered = [F.col(_ident(c.name)) for c in target_columns]
    if not engine:  # `VALUES ()` is not SQL
        return rows.select(*ordered)
    values = ", ".join(_cast(f"timestamp_micros({_lit(ingest_ts_us)})", SQL_TYPES[c.type]) for c in engine)
    names = ", ".join(_ident(c.name) for c in engine)
    run = rows.sparkSession.sql(f"SELECT * FROM VALUES ({values}) AS run({names})")
    return rows.crossJoin(F.broadcast(run)).select(*ordered)


def day_of(ts: Column) -> Column:
    """Days since the epoch of a timestamp, as Iceberg's days() partition transform counts."""
    return F.floor(F.unix_micros(ts) / MICROS_PER_DAY).cast("long")
