"""Every connector paged through the exchange simulator and compared with its ground truth.

The simulator serves the real paths, cursors, headers, error bodies and rate limits of the
default seed's markets; `sim.truth()` says exactly which trades exist.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemahub_lib.connectors import CONNECTORS, load_connector
from schemahub_lib.connectors.base import Connector, Cursor, Page, RawTrade
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.errors import BannedError, TerminalExchangeError
from schemahub_lib.http import JsonFileBanStore, PacerRegistry, RetryPolicy
from schemahub_lib.mapping.loader import load_mapping
from schemahub_lib.seed import DEFAULT_SEED
from schemahub_lib.settings import REPO_ROOT, load_settings
from schemahub_lib.sim.catalog import VENUE_STYLES
from schemahub_lib.sim.config import LimitConfig
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.connectors.support import FakeClock, make_client

MARKETS = [(name, p.exchange_symbol) for name, products in DEFAULT_SEED.items() for p in products]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with running_sim() as server:  # unthrottled, manual clock, 20 minutes of history
        yield server


@pytest.fixture
def fresh_sim() -> Iterator[SimServer]:
    with running_sim() as server:
        yield server


def connector(sim: SimServer, name: str, **kwargs: object) -> Connector:
    return CONNECTORS[name](make_client(name, sim.urls[name], **kwargs))  # type: ignore[arg-type]


def walk(
    conn: Connector, product: str, cursor: Cursor | None, direction: str
) -> tuple[list[RawTrade], list[Page]]:
    trades: list[RawTrade] = []
    pages: list[Page] = []
    while True:
        page = conn.fetch_page(product, cursor)
        pages.append(page)
        trades.extend(page.trades)
        cursor = page.older if direction == "older" else page.newer
        if cursor is None:
            return trades, pages


def history(sim: SimServer, name: str, product: str) -> tuple[list[RawTrade], list[Page]]:
    """The whole history: back from the newest page, or forward from the start by time."""
    conn = connector(sim, name)
    if not conn.walks_back:
        first_ns = int(sim.truth(name, product).time_ns[0])
        return walk(conn, product, conn.from_time(first_ns - 1), "newer")
    return walk(conn, product, None, "older")


def catch_up(
    conn: Connector, product: str, watermark_id: int, watermark_ns: int
) -> tuple[list[RawTrade], list[Page]]:
    """Everything after a watermark: forward from it, or down from the newest trade where the
    exchange's newer cursor cannot be trusted (as landing does)."""
    if conn.trusts_newer:
        return walk(conn, product, conn.cursor_after(watermark_id, watermark_ns, None), "newer")
    trades: list[RawTrade] = []
    pages: list[Page] = []
    cursor: Cursor | None = None
    while True:
        page = conn.fetch_page(product, cursor)
        pages.append(page)
        trades.extend(t for t in page.trades if t.trade_id > watermark_id)
        if not page.trades or page.trades[0].trade_id <= watermark_id + 1 or page.older is None:
            return sorted(trades, key=lambda t: t.trade_id), pages
        cursor = page.older


def price_column(name: str) -> str:
    """The raw column the mapping reads the price from."""
    rule = load_mapping(
        REPO_ROOT / "mappings" / f"{name}_trades.yaml", load_table_defs(REPO_ROOT / "ddl")
    ).rule("price")
    assert rule.source is not None
    return rule.source.name


@pytest.mark.parametrize(("name", "product"), MARKETS)
def test_whole_history_matches_the_truth(sim: SimServer, name: str, product: str) -> None:
    truth = sim.truth(name, product)
    trades, pages = history(sim, name, product)
    by_id = {t.trade_id: t for t in trades}
    assert sorted(by_id) == truth.trade_id.tolist()
    assert all(not p.rejects for p in pages)
    column = price_column(name)
    for record in truth.records()[:: max(1, len(truth) // 50)]:
        trade = by_id[record["trade_id"]]
        assert trade.record[column] == float(record["price"])
        assert record["price"] in trade.payload  # exact decimal text kept
        if VENUE_STYLES[name].time_unit_ns == 1:  # Kraken's `time` text is 100 ns coarse
            assert abs(trade.time_ns - record["time_ns"]) < 1_000
        else:
            assert trade.time_ns == record["time_ns"]


@pytest.mark.parametrize(("name", "product"), MARKETS)
def test_after_a_watermark_exactly_the_newer_trades_arrive(sim: SimServer, name: str, product: str) -> None:
    truth = sim.truth(name, product)
    at = len(truth) // 3
    watermark_id, watermark_ns = int(truth.trade_id[at]), int(truth.time_ns[at])
    conn = connector(sim, name)
    after, pages = catch_up(conn, product, watermark_id, watermark_ns)
    ids = [t.trade_id for t in after]
    assert ids == truth.trade_id[at + 1 :].tolist()  # no loss, no repeat
    if conn.trusts_newer:
        assert pages[-1].trades == () and pages[-1].newer is None


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_new_trades_after_the_clock_moves_are_picked_up_once(fresh_sim: SimServer, name: str) -> None:
    product = DEFAULT_SEED[name][0].exchange_symbol
    conn = connector(fresh_sim, name)
    newest = conn.fetch_page(product).trades[-1]
    seen, _ = catch_up(conn, product, newest.trade_id, newest.time_ns)
    assert seen == []
    fresh_sim.clock.advance(45)
    arrived, _ = catch_up(conn, product, newest.trade_id, newest.time_ns)
    truth = fresh_sim.truth(name, product, from_id=newest.trade_id + 1)
    assert [t.trade_id for t in arrived] == truth.trade_id.tolist()
    assert len(arrived) > 10


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("coinbase", {"kind": "server_error", "count": 2}),
        ("binance", {"kind": "truncated", "count": 1}),
        ("binance", {"kind": "truncated", "mode": "short_read", "count": 1}),
        ("kraken", {"kind": "html", "count": 2}),
        ("kraken", {"kind": "rate_limit", "count": 2}),
        ("coinbase", {"kind": "rate_limit", "retry_after": 2, "count": 1}),
        ("binance", {"kind": "rate_limit", "retry_after": 3, "count": 1}),
        ("coinbase", {"kind": "disconnect", "count": 1}),
        ("okx", {"kind": "rate_limit", "count": 2}),
        ("okx", {"kind": "server_error", "count": 1}),
        ("bitfinex", {"kind": "rate_limit", "count": 1}),
        ("bitfinex", {"kind": "truncated", "count": 1}),
    ],
)
def test_transient_faults_are_retried_to_the_same_page(fresh_sim: SimServer, name: str, fault: dict) -> None:
    product = DEFAULT_SEED[name][0].exchange_symbol
    truth = fresh_sim.truth(name, product)
    conn = connector(fresh_sim, name)
    cursor = conn.cursor_after(int(truth.trade_id[5]), int(truth.time_ns[5]), None)
    clean = conn.fetch_page(product, cursor)
    fresh_sim.faults.add({"exchange": name, **fault})
    clock = FakeClock()
    page = connector(fresh_sim, name, clock=clock, retry=RetryPolicy(max_attempts=4)).fetch_page(
        product, cursor
    )
    assert [t.trade_id for t in page.trades] == [t.trade_id for t in clean.trades]
    # A full page (Kraken repeats the boundary trade, which is left out).
    assert len(page.trades) >= min(999, conn.page_limit)
    assert len(clock.sleeps) == fault["count"]  # one backoff per failed attempt
    if "retry_after" in fault:
        assert clock.sleeps[0] >= fault["retry_after"]


@pytest.mark.parametrize(
    ("name", "variant", "reason"),
    [
        ("coinbase", "price_text", "price"),
        ("binance", "price_zero", "not a positive number"),
        ("kraken", "price_negative", "not a positive number"),
        ("coinbase", "missing_id", "missing trade_id"),
        ("binance", "time_unit", "looks like microseconds"),
        ("okx", "price_negative", "not a positive number"),
        ("okx", "time_unit", "looks like seconds"),
        ("bitfinex", "price_zero", "not a positive number"),
        ("bitfinex", "time_unit", "looks like seconds"),
    ],
)
def test_invalid_records_become_rejects(fresh_sim: SimServer, name: str, variant: str, reason: str) -> None:
    product = DEFAULT_SEED[name][0].exchange_symbol
    fresh_sim.faults.add({"exchange": name, "kind": "invalid", "variant": variant, "count": 1})
    truth = fresh_sim.truth(name, product)
    conn = connector(fresh_sim, name)
    page = conn.fetch_page(product, conn.cursor_after(int(truth.trade_id[5]), int(truth.time_ns[5]), None))
    assert len(page.rejects) >= 1
    assert all(reason in r.reason for r in page.rejects)
    corrupted = fresh_sim.truth(name, product).corrupted
    assert corrupted and all(int(r.trade_id) in corrupted for r in page.rejects if r.trade_id is not None)


def test_a_simulated_binance_ban_is_recorded_and_respected(fresh_sim: SimServer, tmp_path: Path) -> None:
    fresh_sim.faults.add({"exchange": "binance", "kind": "ban", "retry_after": 600, "count": 1})
    bans = JsonFileBanStore(tmp_path / "bans.json")
    clock = FakeClock(start=time.time())  # the simulator stamps bans on the wall clock
    with pytest.raises(BannedError):
        connector(fresh_sim, "binance", clock=clock, ban_store=bans).fetch_page("BTCUSDT")
    before = fresh_sim.stats.snapshot()["total"]
    with pytest.raises(BannedError, match="not calling the exchange"):
        connector(
            fresh_sim, "binance", clock=clock, ban_store=JsonFileBanStore(tmp_path / "bans.json")
        ).fetch_page("BTCUSDT")
    assert fresh_sim.stats.snapshot()["total"] == before


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_unknown_product_is_terminal_everywhere(sim: SimServer, name: str) -> None:
    product = CONNECTORS[name].default_products[0].exchange_symbol + "NOPE"
    with pytest.raises(TerminalExchangeError):
        connector(sim, name).fetch_page(product)


@pytest.mark.parametrize("name", list(CONNECTORS))
def test_product_discovery_lists_the_simulated_markets(sim: SimServer, name: str) -> None:
    listed = {p.symbol: p for p in connector(sim, name).list_products()}
    for product in DEFAULT_SEED[name]:
        assert listed[product.symbol] == product
    if name == "binance":
        assert "BCC-BTC" not in listed  # status BREAK


@pytest.mark.parametrize(
    ("name", "rate", "requests"),
    [
        ("coinbase", 95.0, 60),
        ("binance", 380.0, 120),
        ("kraken", 95.0, 40),
        ("okx", 950.0, 60),
        ("bitfinex", 23.75, 40),
    ],
)
def test_pacing_stays_under_the_simulated_real_limits(name: str, rate: float, requests: int) -> None:
    """Limits scaled 100x faster (`scale=0.01`) and our pacer configured at 95% of the same
    scale: no request may be refused."""
    with running_sim(limits=LimitConfig(mode="scale", scale=0.01)) as sim:
        settings = load_settings(env={}, exchange_urls={name: sim.urls[name]}, rate_limits={name: rate})
        conn = load_connector(name, settings, pacers=PacerRegistry(), retry=RetryPolicy(max_attempts=1))
        product = DEFAULT_SEED[name][0].exchange_symbol
        truth = sim.truth(name, product)
        cursor = conn.cursor_after(int(truth.trade_id[0]), int(truth.time_ns[0]), None)
        for _ in range(requests):
            conn.fetch_page(product, cursor)
        stats = sim.stats.snapshot()
        assert stats["refused"] == {}
        assert stats["total"] == requests
