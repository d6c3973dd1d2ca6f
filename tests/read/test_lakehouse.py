"""The read API against a real trades_unified on a SQLite catalog, compared with PyIceberg."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from schemahub_lib.catalog import EmbeddedTables, load_catalog
from schemahub_lib.errors import SetupError
from schemahub_lib.read import Lakehouse, QueryError, UnknownTableError
from tests.read.conftest import DAYS, PER_HOUR
from tests.read.synthetic import START, trades_batch


def _pyiceberg_rows(lake: Lakehouse) -> pa.Table:
    return lake.table("trades_unified").scan().to_arrow()


def test_trades_equal_a_filtered_pyiceberg_scan(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    start, end = START + timedelta(hours=30), START + timedelta(hours=31, minutes=15)
    got = lakehouse.trades(
        exchanges=["binance", "Kraken"], symbols="btc-usd", start=start, end=end.isoformat()
    )

    full = _pyiceberg_rows(lakehouse)
    mask = pc.and_(
        pc.and_(
            pc.is_in(full["exchange"], pa.array(["BINANCE", "KRAKEN"])), pc.equal(full["symbol"], "BTC-USD")
        ),
        pc.and_(pc.greater_equal(full["trade_ts"], start), pc.less(full["trade_ts"], end)),
    )
    want = full.filter(mask)
    assert got.num_rows == want.num_rows > 50
    assert pc.sum(got["quantity"]).as_py() == pytest.approx(pc.sum(want["quantity"]).as_py())
    assert sorted(got["trade_id"].to_pylist()) == sorted(want["trade_id"].to_pylist())
    assert got["trade_ts"].to_pylist() == sorted(got["trade_ts"].to_pylist())
    assert set(got["exchange"].to_pylist()) == {"BINANCE", "KRAKEN"}


def test_trades_take_epoch_seconds_and_columns(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    start = START + timedelta(days=1)
    got = lakehouse.trades(
        start=start.timestamp(), end=(start + timedelta(minutes=5)).timestamp(), columns=["price"]
    )
    assert got.column_names == ["price"]
    assert 0 < got.num_rows < PER_HOUR


def test_a_15_minute_window_reads_only_that_days_file(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    start = START + timedelta(days=1, hours=12)
    lakehouse.trades(start=start, end=start + timedelta(minutes=15))
    assert lakehouse.files_read == 1
    lakehouse.trades()
    assert lakehouse.files_read == DAYS

    lakehouse.sql(
        "SELECT count(*) FROM trades_unified WHERE trade_ts >= $1 AND trade_ts < $1 + INTERVAL 15 MINUTES",
        [start],
    )
    assert lakehouse.files_read == 1


def test_sql_aggregates_equal_pyiceberg(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    got = lakehouse.sql(
        "SELECT exchange, symbol, count(*) AS n, sum(price * quantity) AS notional, sum(quantity) AS qty "
        "FROM trades_unified GROUP BY exchange, symbol ORDER BY exchange, symbol"
    )
    full = _pyiceberg_rows(lakehouse)
    assert sum(got["n"].to_pylist()) == full.num_rows == DAYS * 24 * PER_HOUR
    notional = pc.sum(pc.multiply(full["price"], full["quantity"])).as_py()
    assert sum(got["notional"].to_pylist()) == pytest.approx(notional)
    assert sum(got["qty"].to_pylist()) == pytest.approx(pc.sum(full["quantity"]).as_py())


def test_sql_binds_parameters_never_formats_them(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    sneaky = "BTC-USD' OR '1'='1"
    assert (
        lakehouse.sql("SELECT count(*) AS n FROM trades_unified WHERE symbol = ?", [sneaky])["n"][0].as_py()
        == 0
    )
    named = lakehouse.sql(
        "SELECT count(*) AS n FROM trades_unified WHERE symbol = $sym AND exchange = $ex",
        {"sym": "ETH-USD", "ex": "COINBASE"},
    )["n"][0].as_py()
    full = _pyiceberg_rows(lakehouse).to_pylist()
    assert named == sum(1 for r in full if r["symbol"] == "ETH-USD" and r["exchange"] == "COINBASE") > 0


def test_time_travel_returns_the_earlier_snapshots_rows(lakehouse: Lakehouse) -> None:
    history = lakehouse.snapshots()
    assert [s.operation for s in history] == ["append"] * DAYS
    first = history[0]
    # The lakehouse reads through a read-only catalog: a writer (as unify is) appends.
    table = load_catalog(lakehouse.settings).load_table(lakehouse.settings.table_id("trades_unified"))
    table.append(trades_batch(table, START + timedelta(days=DAYS), 1, 100, seed=99, id_offset=10**7))

    now_rows = lakehouse.sql("SELECT count(*) AS n FROM trades_unified")["n"][0].as_py()
    assert now_rows == DAYS * 24 * PER_HOUR + 100
    by_id = lakehouse.sql("SELECT count(*) AS n FROM trades_unified", as_of=first.snapshot_id)
    assert by_id["n"][0].as_py() == 24 * PER_HOUR
    by_time = lakehouse.trades(as_of=history[-1].committed_at)
    assert by_time.num_rows == DAYS * 24 * PER_HOUR
    assert lakehouse.scan("trades_unified", as_of=str(history[1].snapshot_id)).num_rows == 2 * 24 * PER_HOUR

    with pytest.raises(QueryError, match="did not exist at 2020-01-01"):
        lakehouse.trades(as_of="2020-01-01T00:00:00Z")
    with pytest.raises(QueryError, match="has no snapshot 12345"):
        lakehouse.trades(as_of=12345)


def test_unknown_tables_list_the_known_ones(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    with pytest.raises(
        UnknownTableError, match=r"unknown table 'trades_unifed'.*raw_binance_trades.*trades_unified"
    ):
        lakehouse.sql("SELECT * FROM trades_unifed")
    with pytest.raises(UnknownTableError, match="'nope'"):
        lakehouse.scan("nope")
    with pytest.raises(QueryError, match="plain table names"):
        lakehouse.sql("SELECT * FROM schemahub.trades_unified")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM trades_unified", "only SELECT queries are allowed, got a DELETE"),
        ("SELECT 1; SELECT 2", "exactly one SELECT statement, got 2"),
        ("SELEC 1", 'syntax error at or near "SELEC"'),
        ("SELECT nope FROM trades_unified", 'column "nope" not found'),
        ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
    ],
)
def test_bad_queries_say_what_is_wrong(shared_lakehouse: Lakehouse, query: str, message: str) -> None:
    lakehouse = shared_lakehouse
    with pytest.raises(QueryError, match=message):
        lakehouse.sql(query)


def test_only_named_tables_are_scanned(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    lakehouse.sql("SELECT count(*) FROM schemahub_watermarks")
    assert [s.table for s in lakehouse.last_scans] == ["schemahub_watermarks"]
    lakehouse.sql("WITH w AS (SELECT 1 AS x) SELECT * FROM w")
    assert lakehouse.last_scans == []


def test_start_must_be_before_end(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    with pytest.raises(QueryError, match="not before end"):
        lakehouse.trades(start="2026-11-02", end="2026-11-01")
    with pytest.raises(QueryError, match="milliseconds"):
        lakehouse.trades(start=datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)


def test_a_snapshot_id_reads_the_other_tables_as_of_its_commit_time(lakehouse: Lakehouse) -> None:
    catalog = load_catalog(lakehouse.settings)  # a writer: the lakehouse's own catalog only reads
    notes = catalog.create_table("schemahub.notes", schema=pa.schema([pa.field("note", pa.string())]))
    trades = catalog.load_table(lakehouse.settings.table_id("trades_unified"))
    notes.append(pa.table({"note": ["before"]}))
    trades.append(trades_batch(trades, START + timedelta(days=DAYS), 1, 100, seed=7, id_offset=10**7))
    notes.append(pa.table({"note": ["after"]}))
    last_trades = lakehouse.snapshots()[-1].snapshot_id
    first_note = lakehouse.snapshots("notes")[0].snapshot_id
    query = (
        "SELECT (SELECT count(*) FROM trades_unified) AS trades, "
        "(SELECT string_agg(note) FROM notes) AS notes"
    )

    assert lakehouse.sql(query, as_of=last_trades).to_pylist() == [
        {"trades": DAYS * 24 * PER_HOUR + 100, "notes": "before"}
    ]
    assert lakehouse.sql(query, as_of=first_note).to_pylist() == [
        {"trades": DAYS * 24 * PER_HOUR, "notes": "before"}
    ]
    with pytest.raises(QueryError, match=r"no table of the query \(trades_unified, notes\) has snapshot 42"):
        lakehouse.sql(query, as_of=42)


def test_a_table_without_snapshots_reads_empty_at_any_time(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    first = lakehouse.snapshots()[0].snapshot_id
    got = lakehouse.sql(
        "SELECT (SELECT count(*) FROM trades_unified) AS t, (SELECT count(*) FROM schemahub_watermarks) AS w",
        as_of=first,
    )
    assert got.to_pylist() == [{"t": 24 * PER_HOUR, "w": 0}]


def test_module_functions_read_the_environments_warehouse(
    shared_lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    lakehouse = shared_lakehouse
    from schemahub_lib import read

    monkeypatch.setenv("SCHEMAHUB_WAREHOUSE", lakehouse.settings.warehouse)
    window = read.trades(symbols="ETH-USD", start=START, end=START + timedelta(hours=1))
    assert (
        window.num_rows
        == lakehouse.trades(symbols="ETH-USD", start=START, end=START + timedelta(hours=1)).num_rows
    )
    assert set(window["symbol"].to_pylist()) == {"ETH-USD"}
    assert read.sql("SELECT count(*) AS n FROM trades_unified")["n"][0].as_py() == DAYS * 24 * PER_HOUR


def test_the_read_api_opens_the_catalog_read_only(lakehouse: Lakehouse) -> None:
    """Notebooks and `schemahub query` read: a reader can never move a table's history."""
    table = lakehouse.table("trades_unified")
    before = table.metadata_location
    with pytest.raises(SetupError, match=r"the read API opens the catalog .*catalog\.db read-only"):
        table.append(trades_batch(table, START + timedelta(days=DAYS), 1, 10, seed=5, id_offset=10**8))
    assert (
        load_catalog(lakehouse.settings)
        .load_table(lakehouse.settings.table_id("trades_unified"))
        .metadata_location
        == before
    )


def test_the_embedded_reader_loads_what_pyicebergs_sql_catalog_loads(lakehouse: Lakehouse) -> None:
    """The read API reads the embedded catalog with sqlite3 (EmbeddedTables), not SqlCatalog:
    the same tables, metadata files, metadata, FileIO and rows."""
    from pyiceberg.exceptions import NoSuchTableError

    settings = lakehouse.settings
    reader, sql_catalog = lakehouse.catalog, load_catalog(settings)
    assert isinstance(reader, EmbeddedTables)
    names = sorted(sql_catalog.list_tables(settings.namespace))
    assert sorted(reader.list_tables(settings.namespace)) == names and len(names) > 5
    for identifier in names:
        mine, theirs = reader.load_table(identifier), sql_catalog.load_table(identifier)
        assert (mine.name(), mine.metadata_location) == (theirs.name(), theirs.metadata_location)
        assert mine.metadata == theirs.metadata
        # SqlCatalog hands its own properties to the FileIO too: its database uri is not an IO setting
        theirs_io = {k: v for k, v in theirs.io.properties.items() if k != "uri"}
        assert type(mine.io) is type(theirs.io) and mine.io.properties == theirs_io
    unified = settings.table_id("trades_unified")
    assert (
        reader.load_table(unified).scan().to_arrow().equals(sql_catalog.load_table(unified).scan().to_arrow())
    )
    assert reader.table_exists(unified) and not reader.table_exists(settings.table_id("nope"))
    with pytest.raises(NoSuchTableError, match=r"Table does not exist: schemahub\.nope"):
        reader.load_table(settings.table_id("nope"))


def test_a_long_lived_lakehouse_sees_later_commits(lakehouse: Lakehouse) -> None:
    """The explorer and notebooks keep one Lakehouse: every call reads the catalog row again."""
    count = "SELECT count(*) AS n FROM trades_unified"
    before = lakehouse.sql(count)["n"][0].as_py()
    table = load_catalog(lakehouse.settings).load_table(lakehouse.settings.table_id("trades_unified"))
    table.append(trades_batch(table, START + timedelta(days=DAYS), 1, 10, seed=7, id_offset=10**8))
    assert lakehouse.sql(count)["n"][0].as_py() == before + 10
    assert lakehouse.table("trades_unified").metadata_location == table.metadata_location


def test_the_read_api_does_not_import_sqlalchemy(shared_lakehouse: Lakehouse) -> None:
    """SQLAlchemy (SqlCatalog's) took ~0.2 s of every `schemahub query`; reading needs none."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from schemahub_lib.read import load_lakehouse\n"
        "from schemahub_lib.settings import load_settings\n"
        f"lake = load_lakehouse(load_settings(env={{}}, warehouse={shared_lakehouse.settings.warehouse!r}))\n"
        "assert lake.sql('SELECT count(*) AS n FROM trades_unified')['n'][0].as_py() > 0\n"
        "assert lake.trades(symbols='BTC-USD').num_rows > 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
