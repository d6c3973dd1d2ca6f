"""The mapping's SQL text: literals from a mapping file or the seed come out exactly (quotes,
backslashes, backticks), with the types `F.lit` gives, and names are quoted."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import functions as F

from schemahub_lib.ddl import load_table_defs
from schemahub_lib.mapping import MappingSpec, parse_mapping
from schemahub_lib.mapping.spec import Column
from schemahub_lib.mapping.symbols import Resolved
from schemahub_lib.unify.compile import data_error, map_source, sql_literal
from tests.conftest import REPO
from tests.unify.conftest import write_ddl
from tests.unify.test_compile import raw_frame

pytestmark = pytest.mark.spark

# Every character SQL text could trip on: quotes, a backslash before a quote and before `n`
# (an escape to Spark's parser), a backtick, and LIKE's `%` and `_`.
TRICKY = "a'b\"c\\d`e\\'f\\n%_"
QUOTED_DDL = """\
  id      STRING    NOT NULL,
  market  STRING    NOT NULL,
  px      DOUBLE    NOT NULL,
  amount  DOUBLE    NOT NULL,
  t_us    BIGINT    NOT NULL,
  _source_ingest_ts TIMESTAMP NOT NULL"""
FILE = "o'k\\x_trades.yaml"  # the file name (and so the exchange name) appears in messages
MAP = {f"1{TRICKY}": f"one{TRICKY}", f"2{TRICKY}": f"two{TRICKY}", "3": "`"}
SYMBOLS = {f"M{TRICKY}": Resolved(f"B{TRICKY}-Q{TRICKY}", f"B{TRICKY}", f"Q{TRICKY}", "test")}


def quoted_spec(tmp_path: Path) -> MappingSpec:
    write_ddl(tmp_path / "ddl", "raw_quoted_trades", QUOTED_DDL)
    defs = {**load_table_defs(REPO / "ddl"), **load_table_defs(tmp_path / "ddl")}
    mapping = {
        "source": "raw_quoted_trades",
        "target_table": "trades_unified",
        "mappings": {
            "id": "trade_id",
            "market": ["symbol", "base_asset", "quote_asset"],
            "px": "price",
            "amount": "quantity",
            "t_us": "trade_ts",
        },
        "constants": {"exchange": TRICKY, "side": "BUY"},
        "transforms": {
            "trade_id": {"map": MAP},
            "symbol": "canonical_symbol",
            "base_asset": "base_asset",
            "quote_asset": "quote_asset",
            "trade_ts": "from_us",
        },
        "symbols": {"patterns": []},
    }
    return parse_mapping(yaml.safe_dump(mapping), FILE, defs)


def quoted_row(**values: Any) -> dict[str, Any]:
    return {
        "id": f"1{TRICKY}",
        "market": f"M{TRICKY}",
        "px": 1.5,
        "amount": 2.0,
        "t_us": 1710327617710679,
        **values,
    }


def test_quotes_backslashes_and_backticks_in_mapping_values_come_out_exactly(
    spark: Any, tmp_path: Path
) -> None:
    spec = quoted_spec(tmp_path)
    rows = [quoted_row(), quoted_row(id=f"2{TRICKY}"), quoted_row(id="3")]
    got = map_source(raw_frame(spark, spec, rows), spec, SYMBOLS).collect()
    assert [r.trade_id for r in got] == [f"one{TRICKY}", f"two{TRICKY}", "`"]
    assert {(r.exchange, r.symbol, r.base_asset, r.quote_asset) for r in got} == {
        (TRICKY, f"B{TRICKY}-Q{TRICKY}", f"B{TRICKY}", f"Q{TRICKY}")
    }


def test_a_failure_message_keeps_quotes_and_backslashes_of_file_and_value(spark: Any, tmp_path: Path) -> None:
    spec = quoted_spec(tmp_path)
    frame = map_source(raw_frame(spark, spec, [quoted_row(id=f"9{TRICKY}")]), spec, SYMBOLS)
    with pytest.raises(Exception) as info:  # a Spark job failure, arriving through py4j
        frame.collect()
    err = data_error(info.value)
    assert err is not None, str(info.value)[:500]
    assert (err.file, err.key_path) == (FILE, "transforms.trade_id")
    where = f"exchange o'k\\x, table raw_quoted_trades, trade id=9{TRICKY}"
    assert err.problem == f"id value not in the map table (or null): 9{TRICKY} ({where})"


def test_a_raw_column_name_with_a_backtick_is_quoted(spark: Any, tmp_path: Path) -> None:
    spec = quoted_spec(tmp_path)
    market, renamed = "market", Column("mar`ket", "string", True)
    spec = dataclasses.replace(
        spec,
        source_columns=tuple(renamed if c.name == market else c for c in spec.source_columns),
        rules=tuple(
            dataclasses.replace(r, source=renamed) if r.source and r.source.name == market else r
            for r in spec.rules
        ),
    )
    row = quoted_row()
    row["mar`ket"] = row.pop(market)
    got = map_source(raw_frame(spark, spec, [row]), spec, SYMBOLS).collect()
    assert [(r.symbol, r.base_asset) for r in got] == [(f"B{TRICKY}-Q{TRICKY}", f"B{TRICKY}")]


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        0,
        -5,
        2**31 - 1,
        2**31,
        -(2**31),
        -(2**31) - 1,
        946684800000000000,
        -(2**63),
        1.5,
        -0.25,
        1e-07,
        1e16,
        float("inf"),
        float("-inf"),
        Decimal(1_000_000) / 1,
        Decimal(1_000_000) / 1_000_000_000,
        Decimal("-12.50"),
        TRICKY,
        "",
    ],
)
def test_a_sql_literal_has_the_value_and_type_of_f_lit(spark: Any, value: Any) -> None:
    one = spark.range(1)
    want = one.select(F.lit(value).alias("v"))
    got = one.selectExpr(f"{sql_literal(value)} AS v")
    assert got.schema["v"].dataType == want.schema["v"].dataType
    assert got.collect()[0].v == want.collect()[0].v
    if not isinstance(value, (bool, str)):  # `x-(-5)`, never `x--5`: `--` starts a comment
        assert len(one.selectExpr(f"array({sql_literal(value)}-{sql_literal(value)}, 7) AS v").first().v) == 2


@pytest.mark.spark
@pytest.mark.parametrize("escaped", ["true", "false"])
def test_a_string_literal_reads_the_same_under_either_string_parser(spark: Any, escaped: str) -> None:
    """`spark.sql.parser.escapedStringLiterals` changes what a backslash in a SQL string means
    (true: nothing, Spark 1.6's way). A session set either way (a notebook's, a job's `--conf`)
    must read the same values from the mapping's text: quotes, backslashes, a regex."""
    key = "spark.sql.parser.escapedStringLiterals"
    values = [TRICKY, r"^X(\w+)\.(\d{2})$", "it's", "\\", "plain BTC-USD", ""]
    spark.conf.set(key, escaped)
    try:
        got = spark.range(1).selectExpr(*(f"{sql_literal(v)} AS v{i}" for i, v in enumerate(values))).first()
        schema = (
            spark.range(1).selectExpr(*(f"{sql_literal(v)} AS v{i}" for i, v in enumerate(values))).schema
        )
    finally:
        spark.conf.unset(key)
    assert list(got) == values
    assert all(not f.nullable for f in schema.fields)  # as F.lit(value)
