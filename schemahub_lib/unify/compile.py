"""A validated `MappingSpec` -> Spark Column expressions; raw rows -> unified rows.

No Python UDFs: every transform is a built-in Spark expression, and lookups (value tables,
symbols) are literal `create_map` expressions. A value the mapping cannot turn into a valid
unified value raises inside Spark (`raise_error`) with a marked message naming the mapping
file, key path, problem and value, and the exchange, raw table and trade id of the row;
`data_error` turns that back into a `MappingDataError`.
Because the check runs inside the job that writes, a bad value stops the write before commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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
MARK = "SCHEMAHUB-UNMAPPABLE"
_MARKED = re.compile(
    re.escape(MARK) + r"\[(?P<file>[^|]*)\|(?P<path>[^|]*)\|(?P<problem>.*?)\]" + re.escape(MARK)
)
MICROS_PER_DAY = 86_400_000_000
VALUE_CHARS = 120  # an offending value is shown up to this long
ID_CHARS = 60
WINDOW = f"{MIN_TRADE_TS[:10]}..{MAX_TRADE_TS[:10]}"


def row_of(spec: MappingSpec, raw: DataFrame | None = None) -> Column:
    """`exchange <name>, table <raw table>, trade <id column>=<id>`: which raw row a check stopped at."""
    text = f"exchange {spec.exchange}, table {spec.source}"
    source = spec.rule("trade_id").source
    if source is None:  # a constant trade id: nothing identifies the row
        return F.lit(text)
    trade_id = F.col(source.name) if raw is None else raw[source.name]
    shown = F.coalesce(trade_id.cast("string"), F.lit("null"))
    return F.concat(F.lit(f"{text}, trade {source.name}="), F.substring(shown, 1, ID_CHARS))


def fail(
    spec: MappingSpec, rule: ColumnRule, problem: str, value: Column | None = None, row: Column | None = None
) -> Column:
    """An expression that stops the job with a marked message naming file, key path, value and,
    given `row` (`row_of`), the exchange, raw table and trade id of the offending row."""
    shown = (
        F.lit("") if value is None else F.concat(F.lit(": "), F.coalesce(value.cast("string"), F.lit("null")))
    )
    where = F.lit("") if row is None else F.concat(F.lit(" ("), row, F.lit(")"))
    head = f"{MARK}[{spec.file}|{rule.key_path}|{problem}"
    return F.raise_error(F.concat(F.lit(head), F.substring(shown, 1, VALUE_CHARS), where, F.lit(f"]{MARK}")))


def data_error(exc: BaseException) -> MappingDataError | None:
    """The `MappingDataError` a failed Spark job carries, if a mapping check stopped it."""
    m = _MARKED.search(str(exc))
    return None if m is None else MappingDataError(m["file"], m["path"], m["problem"])


def _lit_map(table: Mapping[Any, str]) -> Column:
    return F.create_map(*[F.lit(x) for kv in table.items() for x in kv])


def _epoch(spec: MappingSpec, rule: ColumnRule, x: Column, row: Column) -> Column:
    """Epoch in the rule's unit -> timestamp; a value outside the plausible window stops the run."""
    assert rule.source is not None and rule.transform is not None
    unit = EPOCH_UNITS[rule.transform]
    integral = rule.source.type in ("long", "int")
    # Integer arithmetic for whole numbers (s/ms/us multiply, ns floor-divides), exact decimals
    # otherwise: 1762795433.9717445 s is 971744.5 µs (floored). ns / 1000 in double arithmetic
    # alone is off by one µs now and then; decimal(38,9) is exact but slow (BigDecimal per row).
    v = x if integral else x.cast("decimal(38,9)")
    lo, hi = MIN_TRADE_EPOCH_S * unit, MAX_TRADE_EPOCH_S * unit
    if integral and unit <= 1_000_000:
        micros = x * (1_000_000 // unit)
    elif integral:
        micros = floor_div(x, unit // 1_000_000)
    else:
        micros = F.floor(x.cast("decimal(38,9)") * F.lit(Decimal(1_000_000) / unit))
    problem = (
        f"{rule.transform} value in {rule.source.name} is outside {WINDOW} in that unit "
        "(a value in another unit?)"
    )
    in_range = (v >= F.lit(lo)) & (v < F.lit(hi))
    return F.when(in_range, F.timestamp_micros(micros.cast("long"))).when(
        v.isNotNull(), fail(spec, rule, problem, x, row)
    )


def floor_div(x: Column, d: int) -> Column:
    """floor(x / d) for a long `x` within MAX_TRADE_EPOCH_S in ns, exactly, without decimals:
    the double quotient is within one of it, and the long remainder says which way to step."""
    q = F.floor(x / F.lit(d))
    r = x - q * F.lit(d)
    return F.when(r < 0, q - 1).when(r >= d, q + 1).otherwise(q)


def _check_window(spec: MappingSpec, rule: ColumnRule, ts: Column, row: Column) -> Column:
    ok = ts.isNull() | (
        (ts >= F.lit(MIN_TRADE_TS).cast("timestamp")) & (ts < F.lit(MAX_TRADE_TS).cast("timestamp"))
    )
    problem = f"{rule.target.name} is outside {WINDOW} (a value in another unit?)"
    return F.when(ok, ts).otherwise(fail(spec, rule, problem, ts, row))


def compile_rule(
    spec: MappingSpec,
    rule: ColumnRule,
    symbols: Mapping[str, Resolved],
    raw: DataFrame | None = None,
    row: Column | None = None,
) -> Column:
    """The Spark expression for one unified column, with its checks.

    Pass the `raw` DataFrame so raw columns are bound to it: by bare name, Spark 3.5 resolves
    a raw `symbol` to an output alias `symbol` defined earlier in the same select. `row` is
    `row_of(spec, raw)`, built once per source by `map_source` (each piece is a py4j call).
    """
    target_type = SPARK_TYPES[rule.target.type]
    if rule.source is None:
        return F.lit(rule.constant).cast(target_type)
    x = F.col(rule.source.name) if raw is None else raw[rule.source.name]
    row = row_of(spec, raw) if row is None else row
    name = rule.transform
    problem = f"{rule.source.name} is null but {spec.target_table}.{rule.target.name} is required"
    if name is None:
        value = x.cast(target_type)
    elif name in EPOCH_UNITS:
        value, problem = _epoch(spec, rule, x, row), f"{name}: {rule.source.name} is not a number (or null)"
    elif name == "iso8601":
        # Timestamps hold µs: digits past the sixth are dropped (floored), as for from_ns.
        micros_text = F.regexp_replace(x, r"(\.\d{6})\d+", "$1")
        value = F.when(x.rlike(r"(Z|z|[+-]\d\d(:?\d\d)?)$"), F.to_timestamp(micros_text))
        problem = f"{rule.source.name} is not ISO 8601 text with a zone (or null)"
    elif name == "to_double":
        value, problem = x.cast(target_type), f"{name}: {rule.source.name} is not a number (or null)"
    elif name == "to_string":
        value = x.cast("string")
    elif name == "map":
        value, problem = _lit_map(rule.arg)[x], f"{rule.source.name} value not in the map table (or null)"
    elif name == "sign":
        value = F.when(x < 0, F.lit(rule.arg["negative"])).when(x > 0, F.lit(rule.arg["positive"]))
        problem = f"sign: {rule.source.name} is zero or not a number (or null)"
    elif name == "abs":
        value, problem = F.abs(x).cast(target_type), f"abs: {rule.source.name} is not a number (or null)"
    else:
        pick: Callable[[Resolved], str] = {
            "canonical_symbol": lambda r: r.symbol,
            "base_asset": lambda r: r.base,
            "quote_asset": lambda r: r.quote,
        }[name]
        table = {k: pick(r) for k, r in symbols.items()}
        value = _lit_map(table)[x] if table else F.lit(None).cast("string")
        problem = f"{rule.source.name} symbol not in the product seed nor matched by symbols.patterns"
    if rule.target.type == "timestamp" and name not in EPOCH_UNITS:
        value = _check_window(spec, rule, value, row)
    if rule.target.required:
        return F.coalesce(value, fail(spec, rule, problem, x, row))
    return F.when(x.isNotNull() & value.isNull(), fail(spec, rule, problem, x, row)).otherwise(value)


def map_source(
    raw: DataFrame, spec: MappingSpec, symbols: Mapping[str, Resolved], ingest_ts_us: int
) -> DataFrame:
    """Raw rows -> unified rows (plus `_source_ingest_ts`, which dedup consumes and drops).

    The select below is the unified schema contract: every column of trades_unified, in table
    order, with its exact type. `symbols` must resolve every exchange symbol in `raw`.
    """
    columns = []
    row = row_of(spec, raw)
    for column in spec.target_columns:
        if column.name in ENGINE_COLUMNS:
            expr = F.timestamp_micros(F.lit(ingest_ts_us))
        else:
            expr = compile_rule(spec, spec.rule(column.name), symbols, raw, row)
        columns.append(expr.cast(SPARK_TYPES[column.type]).alias(column.name))
    return raw.select(*columns, raw[ORDER_COLUMN])


def day_of(ts: Column) -> Column:
    """Days since the epoch of a timestamp, as Iceberg's days() partition transform counts."""
    return F.floor(F.unix_micros(ts) / MICROS_PER_DAY).cast("long")
