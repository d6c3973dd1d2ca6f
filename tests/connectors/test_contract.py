"""The connector contract, run over every registry entry against real recorded pages.

Pages parse into ascending trades whose records carry exactly the raw table's exchange columns,
cursors move strictly forward (newer) or backward (older), an empty page ends a catch-up, and
an unknown exchange name fails with the valid ones.
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
from schemahub_lib.errors import ConfigError
from schemahub_lib.http import PacerRegistry
from schemahub_lib.settings import REPO_ROOT, Settings, load_settings
from tests.connectors.support import Loopback, Reply, fixture_bytes


@dataclass(frozen=True)
class Case:
    path: str
    product: str
    page: str  # fixture file with a real page
    empty: bytes  # the exchange's answer when nothing is newer


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
    assert isinstance(cls.page_limit, int) and cls.page_limit == 1000
    assert cls.requests_per_second > 0
    doc = inspect.getdoc(sys.modules[cls.__module__]) or ""
    assert "Cursor:" in doc and "https://" in doc  # documents its cursor, links its API page


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_pages_parse_into_ascending_trades_with_the_raw_columns(loopback: Loopback, name: str) -> None:
    case = CASES[name]
    serve(loopback, name, fixture_bytes(case.page))
    page = make(loopback, name).fetch_page(case.product)
    columns = ddl_columns(name)
    assert (page.exchange, page.product, page.rejects) == (name, case.product, ())
    assert len(page.trades) >= 10
    ids = [t.trade_id for t in page.trades]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    compact = _compact(fixture_bytes(case.page))
    for trade in page.trades:
        assert set(trade.record) == set(columns)
        assert all(trade.record[c] is not None for c, not_null in columns.items() if not_null)
        assert trade.record["time"] == trade.time_ns // 1000  # TIMESTAMP columns: int µs UTC
        assert type(trade.record["time"]) is int and type(trade.time_ns) is int
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


def test_unknown_exchange_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown exchange 'bitstamp'; valid: binance, coinbase, kraken"):
        load_connector("bitstamp", load_settings(env={}))


def test_connectors_never_import_spark_or_iceberg() -> None:
    package = REPO_ROOT / "schemahub_lib" / "connectors"
    for module in package.glob("*.py"):
        source = module.read_text()
        assert not re.search(r"^\s*(from|import)\s+(pyspark|pyiceberg)", source, re.MULTILINE), module.name
