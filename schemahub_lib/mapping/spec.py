"""A validated mapping: what unify needs to turn one raw table into `trades_unified` rows.

Pure data, no Spark. `schemahub_lib.mapping.loader` builds it from YAML and the DDL;
`schemahub_lib.unify.compile` turns it into Spark SQL expression text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from schemahub_lib.errors import MappingError

TARGET_TABLE = "trades_unified"
KEY_COLUMNS = ("exchange", "symbol", "trade_id")
# Set by unify itself, never by a mapping: the time the row was written to trades_unified.
ENGINE_COLUMNS = ("ingest_ts",)
# Every raw table has it (SPEC); dedup keeps the row that landed first.
ORDER_COLUMN = "_source_ingest_ts"
# Values a unified column may take; constants and `map` outputs are checked against these.
DOMAINS: Mapping[str, frozenset[str]] = {"side": frozenset({"BUY", "SELL"})}
# Plausible trade times. Any factor-of-1000 unit mistake (ms read as s or us, us as ms, ...)
# lands outside this window, so a wrong unit is caught instead of stored as 1970 or year 50000.
MIN_TRADE_TS = "2000-01-01T00:00:00Z"
MAX_TRADE_TS = "2100-01-01T00:00:00Z"
MIN_TRADE_EPOCH_S = 946_684_800
MAX_TRADE_EPOCH_S = 4_102_444_800


def type_name(kind: IcebergType) -> str:
    """A short, stable name for an Iceberg type, used in validation and messages."""
    names: list[tuple[type[IcebergType], str]] = [
        (StringType, "string"),
        (LongType, "long"),
        (IntegerType, "int"),
        (DoubleType, "double"),
        (FloatType, "float"),
        (BooleanType, "boolean"),
        (TimestamptzType, "timestamp"),
        (TimestampType, "timestamp_ntz"),
        (DateType, "date"),
        (DecimalType, "decimal"),
    ]
    for cls, name in names:
        if isinstance(kind, cls):
            return name
    return str(kind)


@dataclass(frozen=True)
class Column:
    """A column of a table as the DDL defines it."""

    name: str
    type: str  # type_name()
    required: bool


@dataclass(frozen=True)
class ColumnRule:
    """How one unified column is produced: from a raw column (optionally transformed) or a constant.

    `key_path` is where the rule was declared (`mappings.size`, `transforms.side`) so errors
    found later, in the data, still point at the line to fix.
    """

    target: Column
    key_path: str
    source: Column | None = None
    transform: str | None = None
    arg: Any = None  # the transform's argument (e.g. the value table of `map`)
    constant: Any = None

    @property
    def is_constant(self) -> bool:
        return self.source is None


@dataclass(frozen=True)
class SymbolRule:
    """How exchange symbols become canonical BASE-QUOTE.

    First the product seed (each product's exchange symbol and aliases), then `patterns`
    (regular expressions with two groups: base and quote) with `asset_aliases` applied to the
    parts (XBT -> BTC). A symbol none of these resolve stops the run before anything is written.
    """

    seed_exchange: str
    patterns: tuple[str, ...] = ()
    asset_aliases: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MappingSpec:
    """One mapping file, validated against its raw table and `trades_unified`."""

    file: str
    exchange: str  # the registry name: <exchange>_trades.yaml, raw_<exchange>_trades
    source: str  # raw table name
    target_table: str
    rules: tuple[ColumnRule, ...]  # one per unified column except ENGINE_COLUMNS, in table order
    symbols: SymbolRule
    source_columns: tuple[Column, ...]
    target_columns: tuple[Column, ...]  # every unified column, in table order

    def rule(self, target: str) -> ColumnRule:
        for r in self.rules:
            if r.target.name == target:
                return r
        raise KeyError(target)

    @property
    def symbol_source(self) -> str | None:
        """The raw column holding the exchange symbol, if the mapping resolves symbols."""
        for r in self.rules:
            if r.transform in SYMBOL_TRANSFORMS and r.source is not None:
                return r.source.name
        return None


SYMBOL_TRANSFORMS = ("canonical_symbol", "base_asset", "quote_asset")


class MappingDataError(MappingError):
    """Raw rows the mapping cannot turn into valid unified rows (wrong unit, unknown symbol,
    unmapped value, missing required value). Raised before anything is committed."""
