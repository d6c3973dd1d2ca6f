import pytest
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import BooleanType, DoubleType, LongType, StringType, TimestamptzType

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.ddl import load_table_defs, parse_ddl_file
from schemahub_lib.errors import ConfigError
from tests.conftest import REPO

EXPECTED_TABLES = {
    *(cls.raw_table for cls in CONNECTORS.values()),
    "trades_unified",
    "schemahub_watermarks",
    "schemahub_rejects",
    "schemahub_runs",
    "schemahub_coverage",
    "schemahub_discrepancies",
}
META_COLUMNS = ["_source", "_source_ingest_ts", "_raw_payload", "_run_id"]


@pytest.fixture(scope="module")
def defs():
    return load_table_defs(REPO / "ddl")


def test_every_table_is_defined(defs):
    assert set(defs) == EXPECTED_TABLES
    for d in defs.values():
        assert d.properties["format-version"] == "2"


def test_unified_table_contract(defs):
    d = defs["trades_unified"]
    cols = {f.name: f.field_type for f in d.schema.fields}
    assert list(cols) == [
        "exchange", "symbol", "trade_id", "side", "price", "quantity",
        "trade_ts", "ingest_ts", "base_asset", "quote_asset",
    ]  # fmt: skip
    assert cols["trade_id"] == StringType() and cols["price"] == DoubleType()
    assert cols["trade_ts"] == TimestamptzType()
    (part,) = d.partition_spec.fields
    assert isinstance(part.transform, DayTransform)
    assert part.source_id == d.schema.find_field("trade_ts").field_id
    sort_names = [d.schema.find_column_name(f.source_id) for f in d.sort_order.fields]
    assert sort_names == ["exchange", "symbol", "trade_ts"]
    assert all(isinstance(f.transform, IdentityTransform) for f in d.sort_order.fields)
    assert d.properties["write.parquet.compression-codec"] == "zstd"


@pytest.mark.parametrize(
    ("table", "id_column", "extra"),
    [
        ("raw_coinbase_trades", "trade_id", {"side": StringType(), "size": DoubleType()}),
        ("raw_binance_trades", "id", {"is_buyer_maker": BooleanType(), "qty": DoubleType()}),
        ("raw_kraken_trades", "trade_id", {"time_ns": LongType(), "volume": DoubleType()}),
    ],
)
def test_raw_tables_keep_exchange_fields_and_metadata(defs, table, id_column, extra):
    schema = defs[table].schema
    names = [f.name for f in schema.fields]
    assert names[-4:] == META_COLUMNS
    assert schema.find_field(id_column).field_type == LongType()
    for name, kind in extra.items():
        assert schema.find_field(name).field_type == kind
    (part,) = defs[table].partition_spec.fields
    assert schema.find_column_name(part.source_id) == "time"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("CREATE TABLE IF NOT EXISTS a.b.t (x VARCHAR2) USING iceberg;", "unsupported type VARCHAR2"),
        ("CREATE TABLE IF NOT EXISTS a.b.t (x STRING, x BIGINT) USING iceberg;", "duplicate columns x"),
        (
            "CREATE TABLE IF NOT EXISTS a.b.t (x STRING) USING iceberg PARTITIONED BY (days(y));",
            "unknown column 'y'",
        ),
        ("CREATE TABLE IF NOT EXISTS a.b.other (x STRING) USING iceberg;", "must be named other.sql"),
        ("DROP TABLE a.b.t;", "expected exactly one CREATE TABLE"),
        (
            "CREATE TABLE IF NOT EXISTS a.b.t (x STRING) USING iceberg TBLPROPERTIES (x = 1);",
            "cannot read table property",
        ),
    ],
)
def test_bad_ddl_names_file_and_problem(tmp_path, body, message):
    path = tmp_path / "t.sql"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        parse_ddl_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_semicolons_and_dashes_inside_comments_are_text(tmp_path):
    path = tmp_path / "t.sql"
    path.write_text(
        "-- a table\nCREATE TABLE IF NOT EXISTS a.b.t (\n"
        "  x BIGINT NOT NULL COMMENT 'one; two -- three',\n  y STRING\n) USING iceberg;\n"
    )
    d = parse_ddl_file(path)
    x = d.schema.find_field("x")
    assert x.required and x.doc == "one; two -- three"
    assert not d.schema.find_field("y").required


def test_no_table_turns_the_vectorized_reader_off(defs):
    """Glue 5.1's Iceberg 1.10.0 no longer crashes in the vectorized reader (fixed in 1.7.2):
    the Glue 5.0 workaround, row-by-row reads, is gone from ddl/ (tests/test_vectorized_reads.py)."""
    for d in defs.values():
        assert "read.parquet.vectorization.enabled" not in d.properties, d.name


def test_raw_files_have_several_row_groups_and_small_dictionaries(defs):
    """A landing batch (PyIceberg) is cut into row groups unify reads in parallel; ids, times and
    amounts are near unique, so dictionaries stop at 64 KB (tables.UPGRADED_PROPERTIES)."""
    for d in defs.values():
        if d.name.startswith("raw_"):
            assert d.properties["write.parquet.row-group-limit"] == "131072", d.name
        if d.name.startswith("raw_") or d.name == "trades_unified":
            assert d.properties["write.parquet.dict-size-bytes"] == "65536", d.name
