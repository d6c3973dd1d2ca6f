"""Mappings compiled to Spark expressions, on small DataFrames: the shipped mappings on rows
from real recorded pages (values checked by hand), and every transform with its unit checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField, StructType

from schemahub_lib.connectors import bitfinex, okx
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.mapping import MappingDataError, MappingSpec, load_mappings, parse_mapping
from schemahub_lib.mapping.symbols import Resolved, resolve_symbols, seed_index
from schemahub_lib.seed import load_seed
from schemahub_lib.unify.compile import (
    SPARK_TYPES,
    data_error,
    floor_div_sql,
    map_source,
    with_engine_columns,
)
from tests.conftest import REPO
from tests.unify.conftest import FIXTURES, LANDED, binance_rows, coinbase_rows, kraken_rows, write_ddl

pytestmark = pytest.mark.spark

DEFS = load_table_defs(REPO / "ddl")
SPECS = {s.exchange: s for s in load_mappings(REPO / "mappings", DEFS)}
SEED = load_seed(REPO / "mappings" / "product_ids_seed.yaml")
ONE_TRADE = "coinbase/trades_BTC-USDT_1trade_2024-03-13_ccxt-static-httpResponse.json"
UNIFIED = [
    "exchange",
    "symbol",
    "trade_id",
    "side",
    "price",
    "quantity",
    "trade_ts",
    "base_asset",
    "quote_asset",
]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def raw_frame(spark: Any, spec: MappingSpec, rows: list[dict[str, Any]]) -> DataFrame:
    """`rows` as a DataFrame in the raw table's schema (timestamps given as int µs)."""
    schema = StructType([StructField(c.name, SPARK_TYPES[c.type], True) for c in spec.source_columns])
    defaults = {"_source": spec.exchange, "_source_ingest_ts": LANDED, "_raw_payload": "{}", "_run_id": "r"}
    values = []
    for row in rows:
        full = {**defaults, **row}
        for c in spec.source_columns:
            if c.type == "timestamp" and isinstance(full.get(c.name), int):
                full[c.name] = datetime.fromtimestamp(full[c.name] / 1e6, UTC).replace(
                    microsecond=full[c.name] % 1_000_000
                )
        values.append(tuple(full.get(c.name) for c in spec.source_columns))
    return spark.createDataFrame(values, schema)


def symbols_for(spec: MappingSpec, rows: list[dict[str, Any]]) -> dict[str, Resolved]:
    if spec.symbol_source is None:
        return {}
    names = {r[spec.symbol_source] for r in rows}
    index = seed_index(SEED.get(spec.symbols.seed_exchange, []))
    resolved, unknown = resolve_symbols(names, spec.symbols, index)
    assert unknown == []
    return resolved


def unify_rows(spark: Any, spec: MappingSpec, rows: list[dict[str, Any]]) -> DataFrame:
    frame = map_source(raw_frame(spark, spec, rows), spec, symbols_for(spec, rows))
    return frame.select(*UNIFIED)


def expected(spark: Any, rows: list[tuple[Any, ...]]) -> DataFrame:
    """Rows given as (exchange, symbol, trade_id, side, price, quantity, trade_ts)."""
    columns = {c.name: c for c in SPECS["coinbase"].target_columns}
    schema = StructType([StructField(n, SPARK_TYPES[columns[n].type], True) for n in UNIFIED])
    full = [(*r, *r[1].split("-")) for r in rows]  # base and quote spelled by the symbol
    return spark.createDataFrame(full, schema)


def test_the_select_is_the_unified_contract(spark: Any) -> None:
    spec = SPECS["coinbase"]
    rows = coinbase_rows(ONE_TRADE, "BTC-USDT")
    mapped = map_source(raw_frame(spark, spec, rows), spec, symbols_for(spec, rows))
    assert "ingest_ts" not in mapped.columns and mapped.columns[-1] == "_source_ingest_ts"
    frame = with_engine_columns(mapped, spec.target_columns, 1_714_564_800_000_000)
    table = [(f.name, f.dataType.simpleString()) for f in frame.schema.fields]
    assert table == [
        ("exchange", "string"),
        ("symbol", "string"),
        ("trade_id", "string"),
        ("side", "string"),
        ("price", "double"),
        ("quantity", "double"),
        ("trade_ts", "timestamp"),
        ("ingest_ts", "timestamp"),
        ("base_asset", "string"),
        ("quote_asset", "string"),
    ]
    assert frame.collect()[0].ingest_ts == datetime(2024, 5, 1, 12, 0)  # the run's time, UTC


def test_the_runs_time_is_data_not_generated_code(spark: Any) -> None:
    """Spark inlines a timestamp literal into the generated Java: a run's time as a literal in
    the write's projection made that code new (compiled, then JIT-warmed again) every run."""
    spec = SPECS["coinbase"]
    rows = coinbase_rows(ONE_TRADE, "BTC-USDT")
    mapped = map_source(raw_frame(spark, spec, rows), spec, symbols_for(spec, rows))
    frames = [
        with_engine_columns(mapped, spec.target_columns, us)
        for us in (1_714_564_800_000_000, 1_714_568_400_000_000)
    ]
    plans = [f._jdf.queryExecution().executedPlan().toString() for f in frames]
    assert [f.collect()[0].ingest_ts for f in frames] == [
        datetime(2024, 5, 1, 12, 0),
        datetime(2024, 5, 1, 13, 0),
    ]
    runs = (("2024-05-01 12:00:00", "1714564800000000"), ("2024-05-01 13:00:00", "1714568400000000"))
    for plan, (when, micros) in zip(plans, runs, strict=True):
        assert "BroadcastNestedLoopJoin" in plan and when not in plan and micros not in plan


def test_coinbase_recorded_trades_become_taker_side_rows(spark: Any) -> None:
    page = coinbase_rows("coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json", "BTC-EUR")
    one = coinbase_rows(ONE_TRADE, "BTC-USDT")
    rows = [page[0], page[9], *one]
    got = unify_rows(spark, SPECS["coinbase"], rows)
    want = expected(
        spark,
        [
            # maker sold -> taker bought; BTC-EUR is not in the seed: split by the pattern
            (
                "COINBASE",
                "BTC-EUR",
                "24169717",
                "BUY",
                9042.88,
                0.00846511,
                utc(2020, 2, 17, 7, 23, 16, 353000),
            ),
            (
                "COINBASE",
                "BTC-EUR",
                "24169708",
                "SELL",
                9031.99,
                0.004686,
                utc(2020, 2, 17, 7, 23, 5, 622000),
            ),
            (
                "COINBASE",
                "BTC-USDT",
                "18502034",
                "BUY",
                73271.63,
                0.00007448,
                utc(2024, 3, 13, 11, 0, 17, 710679),
            ),
        ],
    )
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def test_binance_recorded_trades_use_is_buyer_maker_and_the_seed(spark: Any) -> None:
    # Raw `symbol` feeds the unified symbol, base_asset and quote_asset: read by bare name,
    # Spark would take base_asset's `symbol` to be the output column (lateral column alias).
    page = binance_rows("binance/historicalTrades_BTCUSDT_2021-10-22_nautilus.json", "BTCUSDT")
    got = unify_rows(spark, SPECS["binance"], page[:2])
    want = expected(
        spark,
        [
            # isBuyerMaker true -> the taker sold
            (
                "BINANCE",
                "BTC-USDT",
                "1111471896",
                "SELL",
                60814.78,
                0.00034,
                utc(2021, 10, 22, 22, 53, 39, 887000),
            ),
            (
                "BINANCE",
                "BTC-USDT",
                "1111471897",
                "BUY",
                60814.79,
                0.003,
                utc(2021, 10, 22, 22, 53, 39, 918000),
            ),
        ],
    )
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def test_kraken_recorded_trades_resolve_xbt_and_keep_microseconds(spark: Any) -> None:
    docs = kraken_rows("kraken/trades_XXBTZUSD_DOCS-EXAMPLE_2023-07_krakenfx-api-specs.json")
    page = kraken_rows("kraken/trades_XBTUSDT_2025-11-10_nautilus.json")
    got = unify_rows(spark, SPECS["kraken"], [*docs, page[0], page[4]])
    want = expected(
        spark,
        [
            (
                "KRAKEN",
                "BTC-USD",
                "61044952",
                "BUY",
                30243.4,
                0.34507674,
                utc(2023, 7, 6, 18, 53, 17, 827736),
            ),
            (
                "KRAKEN",
                "BTC-USD",
                "61044953",
                "SELL",
                30243.3,
                0.0037696,
                utc(2023, 7, 6, 18, 53, 18, 280411),
            ),
            (
                "KRAKEN",
                "BTC-USD",
                "61044956",
                "SELL",
                30243.3,
                0.01235716,
                utc(2023, 7, 6, 18, 53, 22, 698379),
            ),
            # 1762795433.9717445 s = ...971744.5 µs, floored
            (
                "KRAKEN",
                "BTC-USDT",
                "10218208",
                "BUY",
                105433.6,
                0.00027625,
                utc(2025, 11, 10, 17, 23, 53, 971744),
            ),
            (
                "KRAKEN",
                "BTC-USDT",
                "10218212",
                "SELL",
                105383.7,
                0.00007235,
                utc(2025, 11, 10, 17, 24, 43, 306824),
            ),
        ],
    )
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def connector_rows(trades: list[Any]) -> list[dict[str, Any]]:
    """Raw rows exactly as landing writes them: the connector's own records of a real page."""
    return [{**t.record, "_raw_payload": t.payload} for t in trades]


def test_okx_recorded_trades_keep_the_taker_side(spark: Any) -> None:
    trades, _ = okx.parse_trades(
        (FIXTURES / "okx/trades_BTC-USDT_2025-05-12_nautilus.json").read_bytes(),
        product="BTC-USDT",
        url="u",
    )
    got = unify_rows(spark, SPECS["okx"], connector_rows(trades))
    want = expected(
        spark,
        [
            (
                "OKX",
                "BTC-USDT",
                "734864332",
                "BUY",
                102537.9,
                0.0000125,
                utc(2025, 5, 12, 21, 59, 21, 666000),
            ),
            (
                "OKX",
                "BTC-USDT",
                "734864333",
                "SELL",
                102537.9,
                0.00013669,
                utc(2025, 5, 12, 21, 59, 23, 557000),
            ),
        ],
    )
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def test_bitfinex_recorded_trades_take_side_and_size_from_the_signed_amount(spark: Any) -> None:
    chz, _, _ = bitfinex.parse_trades(
        (FIXTURES / "bitfinex/trades_tCHZUST_2021-04-05_ws-snapshot_cryptofeed.json").read_bytes(),
        symbol="tCHZUST",
        url="u",
    )
    one, _, _ = bitfinex.parse_trades(
        (FIXTURES / "bitfinex/trades_tBTCUST_1trade_2024-03-13_ccxt-static-httpResponse.json").read_bytes(),
        symbol="tBTCUST",
        url="u",
    )
    eth2x, _, _ = bitfinex.parse_trades(
        (FIXTURES / "bitfinex/trades_tETH2X-ETH_2021-04-05_ws-snapshot_cryptofeed.json").read_bytes(),
        symbol="tETH2X:ETH",
        url="u",
    )
    by_id = {t.trade_id: t for t in chz}
    rows = [by_id[658685440], by_id[658685443], *one, eth2x[-1]]
    got = unify_rows(spark, SPECS["bitfinex"], connector_rows(rows))
    want = expected(
        spark,
        [
            # AMOUNT -5400: the taker sold 5400; tCHZUST is not in the seed: t + CHZ + UST(=USDT)
            (
                "BITFINEX",
                "CHZ-USDT",
                "658685440",
                "SELL",
                0.44752,
                5400.0,
                utc(2021, 4, 5, 17, 22, 20, 758000),
            ),
            (
                "BITFINEX",
                "CHZ-USDT",
                "658685443",
                "BUY",
                0.45415,
                0.00001639,
                utc(2021, 4, 5, 17, 22, 21, 60000),
            ),
            (
                "BITFINEX",
                "BTC-USDT",
                "1560452102",
                "BUY",
                73218.0,
                0.00019983,
                utc(2024, 3, 13, 11, 0, 51, 446000),
            ),
            # a colon pair: tETH2X:ETH -> ETH2X-ETH
            ("BITFINEX", "ETH2X-ETH", "657964884", "BUY", 0.999, 1.0, utc(2021, 4, 4, 14, 29, 24, 169000)),
        ],
    )
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def test_a_zero_amount_stops_the_run_naming_the_trade(spark: Any) -> None:
    (trade,), _, _ = bitfinex.parse_trades(
        (FIXTURES / "bitfinex/trades_tBTCUST_1trade_2024-03-13_ccxt-static-httpResponse.json").read_bytes(),
        symbol="tBTCUST",
        url="u",
    )
    row = {**trade.record, "amount": 0.0}
    with pytest.raises(Exception) as info:  # a Spark job failure, arriving through py4j
        unify_rows(spark, SPECS["bitfinex"], [row]).collect()
    err = data_error(info.value)
    assert err is not None, str(info.value)[:500]
    assert (err.file.endswith("bitfinex_trades.yaml"), err.key_path) == (True, "transforms.side")
    assert err.problem.startswith("sign: amount is zero or not a number (or null): 0.0")


# ---- every transform, on a raw table whose times are epochs and text ----

UNITS_DDL = """\
  id        BIGINT    NOT NULL,
  market    STRING    NOT NULL,
  px        STRING    NOT NULL,
  amount    DOUBLE    NOT NULL,
  taker     STRING,
  t_s       DOUBLE,
  t_s_text  STRING,
  t_ms      BIGINT,
  t_us      BIGINT,
  t_ns      BIGINT,
  t_ns_text STRING,
  t_iso     STRING,
  _source_ingest_ts TIMESTAMP NOT NULL"""


def units_spec(tmp_path: Path, time_column: str, transform: str) -> MappingSpec:
    write_ddl(tmp_path / "ddl", "raw_units_trades", UNITS_DDL)
    defs = {**DEFS, **load_table_defs(tmp_path / "ddl")}
    text = f"""\
source: raw_units_trades
target_table: trades_unified
mappings: {{id: trade_id, market: [symbol, base_asset, quote_asset], taker: side, px: price,
           amount: quantity, {time_column}: trade_ts}}
constants: {{exchange: UNITS}}
transforms:
  trade_id: to_string
  symbol: canonical_symbol
  base_asset: base_asset
  quote_asset: quote_asset
  side: {{map: {{buy: BUY, sell: SELL}}}}
  price: to_double
  trade_ts: {transform}
symbols: {{patterns: ['^([A-Z]+)_([A-Z]+)$']}}
"""
    return parse_mapping(text, "units_trades.yaml", defs)


# Where a failed check says the offending row is: exchange, raw table, trade id column and value.
UNITS_ROW_7 = "exchange units, table raw_units_trades, trade id=7"


def units_row(**values: Any) -> dict[str, Any]:
    return {"id": 7, "market": "BTC_USD", "px": "60814.78000000", "amount": 0.5, "taker": "buy", **values}


def mapped_value(spark: Any, spec: MappingSpec, row: dict[str, Any], column: str = "trade_ts") -> Any:
    return unify_rows(spark, spec, [row]).collect()[0][column]


def mapping_failure(spark: Any, spec: MappingSpec, row: dict[str, Any]) -> MappingDataError:
    with pytest.raises(Exception) as info:  # a Spark job failure, arriving through py4j
        unify_rows(spark, spec, [row]).collect()
    err = data_error(info.value)
    assert err is not None, str(info.value)[:500]
    assert err.file == "units_trades.yaml"
    return err


@pytest.mark.parametrize(
    ("column", "transform", "value", "want"),
    [
        ("t_s", "from_s", 1634943219.887, datetime(2021, 10, 22, 22, 53, 39, 887000)),
        ("t_s", "from_s", 1762795433.9717445, datetime(2025, 11, 10, 17, 23, 53, 971744)),
        ("t_s_text", "from_s", "1616666442.3068447", datetime(2021, 3, 25, 10, 0, 42, 306844)),
        ("t_ms", "from_ms", 1634943219887, datetime(2021, 10, 22, 22, 53, 39, 887000)),
        ("t_us", "from_us", 1710327617710679, datetime(2024, 3, 13, 11, 0, 17, 710679)),
        ("t_ns", "from_ns", 1688669597827736900, datetime(2023, 7, 6, 18, 53, 17, 827736)),
        ("t_ns", "from_ns", 1688669597827737000, datetime(2023, 7, 6, 18, 53, 17, 827737)),
        ("t_ns_text", "from_ns", "1762820035982277754", datetime(2025, 11, 11, 0, 13, 55, 982277)),
        ("t_iso", "iso8601", "2020-02-17T07:23:16.353Z", datetime(2020, 2, 17, 7, 23, 16, 353000)),
        ("t_iso", "iso8601", "2024-03-13T12:00:17.710679+01:00", datetime(2024, 3, 13, 11, 0, 17, 710679)),
        ("t_iso", "iso8601", "2024-03-13T11:00:17.710679999Z", datetime(2024, 3, 13, 11, 0, 17, 710679)),
        ("t_iso", "iso8601", "2020-02-17T07:23:30.2Z", datetime(2020, 2, 17, 7, 23, 30, 200000)),
    ],
)
def test_epoch_and_text_times_convert_exactly(
    spark: Any, tmp_path: Path, column: str, transform: str, value: Any, want: datetime
) -> None:
    spec = units_spec(tmp_path, column, transform)
    assert mapped_value(spark, spec, units_row(**{column: value})) == want


@pytest.mark.parametrize(
    ("column", "transform", "value", "shown"),
    [
        ("t_ms", "from_ms", 1710327617710679, "1710327617710679"),  # µs read as ms: year 56000
        ("t_us", "from_us", 1634943219887, "1634943219887"),  # ms read as µs: 1970-01-19
        ("t_s", "from_s", 1634943219887.0, "1.634943219887E12"),  # ms read as s
        ("t_ns", "from_ns", 1710327617710679, "1710327617710679"),  # µs read as ns: 1970-01-20
        ("t_ms", "from_ms", 1634943219, "1634943219"),  # s read as ms: 1970-01-19
    ],
)
def test_a_value_in_the_wrong_unit_stops_the_run_naming_column_and_value(
    spark: Any, tmp_path: Path, column: str, transform: str, value: Any, shown: str
) -> None:
    spec = units_spec(tmp_path, column, transform)
    err = mapping_failure(spark, spec, units_row(**{column: value}))
    assert err.key_path == "transforms.trade_ts"
    window = "outside 2000-01-01..2100-01-01 in that unit (a value in another unit?)"
    assert err.problem == f"{transform} value in {column} is {window}: {shown} ({UNITS_ROW_7})"


def test_iso8601_without_a_zone_and_bad_numbers_and_values_stop_the_run(spark: Any, tmp_path: Path) -> None:
    spec = units_spec(tmp_path, "t_iso", "iso8601")
    err = mapping_failure(spark, spec, units_row(t_iso="2024-03-13T11:00:17"))
    assert (err.key_path, err.problem) == (
        "transforms.trade_ts",
        f"t_iso is not ISO 8601 text with a zone (or null): 2024-03-13T11:00:17 ({UNITS_ROW_7})",
    )
    err = mapping_failure(spark, spec, units_row(t_iso="2024-03-13T11:00:17Z", px="60,814.78"))
    assert (err.key_path, err.problem) == (
        "transforms.price",
        f"to_double: px is not a number (or null): 60,814.78 ({UNITS_ROW_7})",
    )
    err = mapping_failure(spark, spec, units_row(t_iso="2024-03-13T11:00:17Z", taker="b"))
    assert (err.key_path, err.problem) == (
        "transforms.side",
        f"taker value not in the map table (or null): b ({UNITS_ROW_7})",
    )
    err = mapping_failure(spark, spec, units_row(t_iso="2024-03-13T11:00:17Z", taker=None))
    assert (err.key_path, err.problem) == (
        "transforms.side",
        f"taker value not in the map table (or null): null ({UNITS_ROW_7})",
    )
    err = mapping_failure(spark, spec, units_row(t_iso="2024-03-13T11:00:17Z", id=None))
    assert (err.key_path, err.problem) == (
        "transforms.trade_id",
        "id is null but trades_unified.trade_id is required: null "
        "(exchange units, table raw_units_trades, trade id=null)",
    )
    err = mapping_failure(spark, units_spec(tmp_path, "t_ms", "from_ms"), units_row())
    assert (err.key_path, err.problem) == (
        "transforms.trade_ts",
        f"from_ms: t_ms is not a number (or null): null ({UNITS_ROW_7})",
    )


def test_a_symbol_missing_from_the_lookup_stops_the_run(spark: Any, tmp_path: Path) -> None:
    spec = units_spec(tmp_path, "t_ms", "from_ms")
    frame = map_source(raw_frame(spark, spec, [units_row(t_ms=1634943219887)]), spec, {})
    with pytest.raises(Exception) as info:
        frame.collect()
    err = data_error(info.value)
    assert err is not None
    assert err.key_path in ("transforms.symbol", "transforms.base_asset", "transforms.quote_asset")
    assert err.problem.endswith(
        f"market symbol not in the product seed nor matched by symbols.patterns: BTC_USD ({UNITS_ROW_7})"
    )


def test_floor_div_is_exact_for_nanosecond_epochs(spark: Any) -> None:
    # Where floor(double(x) / 1000) is one µs off (x // 1000 is the answer), and around zero.
    values = [1490488829693342998, 3019596445936348998, 4068097771358196999, 1045788584469236998]
    values += [946684800_000_000_000, 946684800_000_000_999, 4102444799_999_999_999, 1, 0, -1, -1000, -1001]
    frame = spark.createDataFrame([(v,) for v in values], "x long")
    got = [r.q for r in frame.selectExpr(f"{floor_div_sql('x', 1000)} AS q").collect()]
    assert got == [v // 1000 for v in values]
