"""The connector contract, run over every registry entry against real recorded pages.

Pages parse into ascending trades whose records carry exactly the raw table's exchange columns,
cursors move strictly forward (newer) or backward (older), an empty page ends a catch-up, and
an unknown exchange name fails with the known ones. Every per-exchange fact the rest of the
code reads from the registry (tables, columns, paging, limits, seed, mapping, simulator venue)
is present and agrees with the DDL, the mapping and the simulator.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from dataclasses import dataclass

import pytest

from schemahub_lib.connectors import CONNECTORS, load_connector
from schemahub_lib.connectors.base import Connector, Cursor
from schemahub_lib.ddl import TableDef, load_table_defs
from schemahub_lib.errors import ConfigError
from schemahub_lib.http import PacerRegistry
from schemahub_lib.mapping.loader import load_mapping
from schemahub_lib.mapping.spec import type_name
from schemahub_lib.mapping.symbols import resolve_by_pattern, seed_index
from schemahub_lib.seed import load_seed
from schemahub_lib.settings import REPO_ROOT, Settings, load_settings
from schemahub_lib.sim.catalog import EXCHANGES as SIM_EXCHANGES
from tests.connectors.support import FIXTURES, Loopback, Reply, fixture_bytes


@dataclass(frozen=True)
class Case:
    path: str
    product: str
    page: str  # fixture file with a real page
    empty: bytes  # the exchange's answer when nothing is newer
    min_trades: int = 10  # trades on the recorded page


CASES = {
    "coinbase": Case(
        "/products/BTC-EUR/trades",
        "BTC-EUR",
        "coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json",
        b"[]",
    ),
    "binance": Case(
        "/api/v3/historicalTrades",
        "BTCUSDT",
        "binance/historicalTrades_BTCUSDT_2021-10-22_nautilus.json",
        b"[]",
    ),
    "kraken": Case(
        "/0/public/Trades",
        "XBTUSDT",
        "kraken/trades_XBTUSDT_2025-11-10_nautilus.json",
        b'{"error":[],"result":{"XBTUSDT":[],"last":"1762820035982277754"}}',
    ),
    "okx": Case(
        "/api/v5/market/history-trades",
        "BTC-USDT",
        "okx/trades_BTC-USDT_2025-05-12_nautilus.json",
        b'{"code":"0","msg":"","data":[]}',
        min_trades=2,  # the recorded captures hold two trades
    ),
    "bitfinex": Case(
        "/v2/trades/tCHZUST/hist",
        "tCHZUST",
        "bitfinex/trades_tCHZUST_2021-04-05_ws-snapshot_cryptofeed.json",
        b"[]",
    ),
}
RECENT_PATHS = {"binance": "/api/v3/trades"}  # where a cursor-less request goes, if elsewhere


def test_every_registry_entry_has_a_contract_case_and_a_ddl() -> None:
    assert set(CASES) == set(CONNECTORS)
    for name in CONNECTORS:
        assert (REPO_ROOT / "ddl" / f"raw_{name}_trades.sql").is_file()


def ddl_columns(name: str) -> dict[str, bool]:
    """Exchange columns of the raw table -> NOT NULL, read from ddl/raw_<name>_trades.sql."""
    text = (REPO_ROOT / "ddl" / f"raw_{name}_trades.sql").read_text()
    start = text.index("(", text.index("CREATE TABLE"))
    body = text[start + 1 : text.index("\n)", start)]
    columns = {}
    for line in body.splitlines():
        match = re.match(r"\s*([a-z_]+)\s+([A-Z]+)\s*(NOT NULL)?", line)
        if match and not match.group(1).startswith("_"):
            columns[match.group(1)] = match.group(3) is not None
    return columns


def settings_for(loopback: Loopback, name: str) -> Settings:
    return load_settings(env={}, exchange_urls={name: loopback.url}, rate_limits={name: 0})


def serve(loopback: Loopback, name: str, body: bytes) -> None:
    case = CASES[name]
    loopback.route(case.path, [Reply(200, body)])
    loopback.route(RECENT_PATHS.get(name, case.path), [Reply(200, body)])


def make(loopback: Loopback, name: str) -> Connector:
    return load_connector(name, settings_for(loopback, name), pacers=PacerRegistry())


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_class_constants_and_documentation(name: str) -> None:
    cls = CONNECTORS[name]
    assert cls.name == name
    assert cls.__name__ == f"{name.capitalize()}Connector"
    assert cls.default_base_url.startswith("https://")
    assert isinstance(cls.max_page_limit, int) and cls.max_page_limit >= 100
    assert cls.requests_per_second > 0
    assert cls.raw_table == f"raw_{name}_trades"
    assert cls.rate_scope in ("ip", "product")
    assert cls.walks_back or cls.pages_by_time  # some cursor reaches older history
    doc = inspect.getdoc(sys.modules[cls.__module__]) or ""
    assert "Cursor:" in doc and "https://" in doc  # documents its cursor, links its API page


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_pages_parse_into_ascending_trades_with_the_raw_columns(loopback: Loopback, name: str) -> None:
    case = CASES[name]
    serve(loopback, name, fixture_bytes(case.page))
    page = make(loopback, name).fetch_page(case.product)
    columns = ddl_columns(name)
    assert (page.exchange, page.product, page.rejects) == (name, case.product, ())
    assert len(page.trades) >= case.min_trades
    ids = [t.trade_id for t in page.trades]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    compact = _compact(fixture_bytes(case.page))
    for trade in page.trades:
        assert set(trade.record) == set(columns)
        assert all(trade.record[c] is not None for c, not_null in columns.items() if not_null)
        time_column = CONNECTORS[name].time_column
        assert trade.record[time_column] == trade.time_ns // 1000  # TIMESTAMP columns: int µs UTC
        assert type(trade.record[time_column]) is int and type(trade.time_ns) is int
        assert json.loads(trade.payload) is not None and trade.payload in compact


def _compact(body: bytes) -> str:
    # The fixture with insignificant whitespace removed: every payload is a substring of it.
    out, in_string, escaped = [], False, False
    for ch in body.decode():
        if in_string:
            out.append(ch)
            escaped = ch == "\\" and not escaped
            in_string = not (ch == '"' and not escaped)
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif not ch.isspace():
            out.append(ch)
    return "".join(out)


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_cursors_strictly_advance(loopback: Loopback, name: str) -> None:
    case = CASES[name]
    serve(loopback, name, fixture_bytes(case.page))
    conn = make(loopback, name)
    first = make(loopback, name).fetch_page(case.product).trades[0]
    start = conn.cursor_after(first.trade_id - 1, first.time_ns - 1_000_000, None)
    page = conn.fetch_page(case.product, start)
    assert page.trades[0].trade_id == first.trade_id
    assert page.newer is not None
    assert _position(page.newer) > _position(start)
    assert int(page.newer.value) > int(start.value) or page.newer.seen_through_id == page.trades[-1].trade_id
    if page.older is not None:
        assert int(page.older.value) <= page.trades[0].trade_id  # older asks below the page


def _position(cursor: Cursor) -> tuple[int, int]:
    return int(cursor.value), -1 if cursor.seen_through_id is None else cursor.seen_through_id


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_an_empty_answer_ends_the_catch_up(loopback: Loopback, name: str) -> None:
    case = CASES[name]
    serve(loopback, name, case.empty)
    conn = make(loopback, name)
    page = conn.fetch_page(case.product, conn.cursor_after(10_219_207, 1_762_820_035_982_277_900, None))
    assert (page.trades, page.rejects, page.newer) == ((), (), None)


def test_unknown_exchange_lists_the_known_ones() -> None:
    known = ", ".join(sorted(CONNECTORS))
    with pytest.raises(ConfigError, match=rf"unknown exchange 'bitstamp'; known: {known}$"):
        load_connector("bitstamp", load_settings(env={}))


def test_connectors_never_import_spark_or_iceberg() -> None:
    package = REPO_ROOT / "schemahub_lib" / "connectors"
    for module in package.glob("*.py"):
        source = module.read_text()
        assert not re.search(r"^\s*(from|import)\s+(pyspark|pyiceberg)", source, re.MULTILINE), module.name


# ---- every fact the rest of the code reads from the registry --------------------------------


@pytest.fixture(scope="module")
def table_defs() -> dict[str, TableDef]:
    return load_table_defs(REPO_ROOT / "ddl")


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_table_facts_agree_with_the_ddl(name: str, table_defs: dict[str, TableDef]) -> None:
    cls = CONNECTORS[name]
    table = table_defs[cls.raw_table]
    fields = {f.name: f for f in table.schema.fields}
    assert type_name(fields[cls.id_column].field_type) == "long"  # nullable only for Kraken's legacy rows
    assert (type_name(fields[cls.symbol_column].field_type), fields[cls.symbol_column].required) == (
        "string",
        True,
    )
    assert (type_name(fields[cls.time_column].field_type), fields[cls.time_column].required) == (
        "timestamp",
        True,
    )
    # Partitioned by day of the trade time, as every raw table.
    (partition,) = table.partition_spec.fields
    assert str(partition.transform) == "day"
    assert table.schema.find_column_name(partition.source_id) == cls.time_column


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_paging_facts_match_the_cursor_builders(loopback: Loopback, name: str) -> None:
    cls = CONNECTORS[name]
    conn = make(loopback, name)
    after = conn.cursor_after(1_000_000, 1_700_000_000_123_456_789, None)
    assert isinstance(after, Cursor) and after.value.isdigit()
    if cls.walks_back:
        older = conn.older_than(1_000_000)
        assert older is not None and int(older.value) <= 1_000_000
    else:
        with pytest.raises(ConfigError, match=rf"^{name} cannot page"):
            conn.older_than(1_000_000)
    if cls.pages_by_time:
        start = conn.from_time(1_700_000_000_123_456_789, seen_through_id=41)
        assert start.seen_through_id == 41 and start.value.isdigit()
        # Never after the asked time: a trade at exactly that instant is on the page.
        assert (
            conn.from_time(1_700_000_000_123_000_000).value <= conn.from_time(1_700_000_000_123_000_001).value
        )
    else:
        with pytest.raises(ConfigError, match=rf"^{name} cannot page"):
            conn.from_time(1_700_000_000_000_000_000)
    if not cls.trusts_newer:
        assert cls.walks_back  # the catch-up walks down from the newest trade instead


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_page_limit_is_per_instance(loopback: Loopback, name: str) -> None:
    cls, case = CONNECTORS[name], CASES[name]
    settings = settings_for(loopback, name)
    default = load_connector(name, settings, pacers=PacerRegistry())
    small = load_connector(name, settings, pacers=PacerRegistry(), page_limit=7)
    assert (default.page_limit, small.page_limit) == (cls.max_page_limit, 7)
    serve(loopback, name, fixture_bytes(case.page))
    small.fetch_page(case.product, small.cursor_after(1, 1_600_000_000_000_000_000, None))
    assert "7" in loopback.seen[-1].query.values()  # the request asks for 7 trades
    for bad in (0, cls.max_page_limit + 1):
        with pytest.raises(ConfigError, match=rf"--limit {bad}: {name} pages hold 1\.\.{cls.max_page_limit}"):
            load_connector(name, settings, page_limit=bad)


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_pacing_is_documented_unless_configured(name: str) -> None:
    cls = CONNECTORS[name]
    assert cls.pacing(None).per_second is not None and cls.pacing(None).per_second > 0
    assert cls.pacing(0).per_second is None  # <= 0: unpaced
    assert cls.pacing(2.0).per_second is not None


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_mapping_seed_simulator_and_fixtures_exist(name: str, table_defs: dict[str, TableDef]) -> None:
    cls = CONNECTORS[name]
    spec = load_mapping(REPO_ROOT / "mappings" / f"{name}_trades.yaml", table_defs)
    assert (spec.exchange, spec.source) == (name, cls.raw_table)
    assert {r.target.name for r in spec.rules} | {"ingest_ts"} == {c.name for c in spec.target_columns}
    assert spec.rule("trade_id").source is not None and spec.rule("trade_id").source.name == cls.id_column
    assert spec.symbol_source == cls.symbol_column
    seed = load_seed(REPO_ROOT / "mappings" / "product_ids_seed.yaml")
    assert seed[name] and cls.default_products
    # Every built-in product resolves to its canonical symbol through the mapping's symbol rules.
    index = seed_index(seed[name])
    for product in cls.default_products:
        resolved = index.get(product.exchange_symbol) or resolve_by_pattern(
            product.exchange_symbol, spec.symbols
        )
        assert resolved is not None and resolved.symbol == product.symbol
    assert name in SIM_EXCHANGES
    assert f"\n## {name}/" in (FIXTURES / "SOURCES.md").read_text()
    assert any((FIXTURES / name).glob("*.json"))
