"""Dry runs: what a run would fetch, how many pages and how long at the exchanges' rate limits.

Nothing is written (no catalog, table or file is created). A plan reads the stream positions
if the catalog exists and asks each exchange for its newest page to estimate trades per
second and how far the stream is behind; a backfill plan also locates the oldest trade it
would reach (`--since`, or the start of the exchange's history found with a few requests).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import load_connector
from schemahub_lib.connectors.base import Connector, Page, Product
from schemahub_lib.errors import SchemaHubError
from schemahub_lib.http import HttpCounters, new_session
from schemahub_lib.landing.context import iso, load_ban_store
from schemahub_lib.landing.options import BackfillOptions, IngestOptions
from schemahub_lib.landing.state import ExchangeState, StreamState
from schemahub_lib.landing.watermarks import read_exchange_state
from schemahub_lib.landing.writer import raw_table_name
from schemahub_lib.settings import Settings
from schemahub_lib.warehouse import check_history_held

NS = 10**9


def read_states(settings: Settings, exchanges: Sequence[str]) -> dict[str, ExchangeState]:
    """Stream positions per exchange, without creating anything that does not exist."""
    if settings.is_local and not settings.catalog_db_path.exists():
        check_history_held(settings)  # a lost catalog is not a fresh start: say so
        return {}
    catalog = load_catalog(settings, read_only=True)
    out = {}
    for exchange in exchanges:
        identifier = settings.table_id(raw_table_name(exchange))
        if catalog.table_exists(identifier):
            out[exchange] = read_exchange_state(catalog.load_table(identifier))
    return out


def _rate(page: Page) -> float | None:
    """Trades per second over the page's time span."""
    if len(page.trades) < 2:
        return None
    span = (page.trades[-1].time_ns - page.trades[0].time_ns) / NS
    return (len(page.trades) - 1) / span if span > 0 else None


def _estimate(plan: dict[str, Any], trades: float | None, connector: Connector, limit: int | None) -> None:
    per_page = limit or connector.page_limit
    if trades is None:
        return
    pages = max(0, math.ceil(trades / per_page))
    plan["expected_trades"] = int(trades)
    plan["expected_pages"] = pages
    plan["seconds_at_rate_limit"] = round(pages / connector.requests_per_second, 1)


def _connectors(settings: Settings) -> Any:
    session, bans = new_session(), load_ban_store(settings)
    return lambda exchange: load_connector(
        exchange, settings, session, counters=HttpCounters(), ban_store=bans
    )


def _streams(
    settings: Settings, products: Sequence[Product]
) -> Iterator[tuple[Product, StreamState, Connector, dict[str, Any]]]:
    """Per product: its stream's position, a connector, and the plan entry to fill in."""
    states = read_states(settings, sorted({p.exchange for p in products}))
    connector_for = _connectors(settings)
    for product in products:
        state = states.get(product.exchange, ExchangeState()).get(product.symbol)
        plan = {"exchange": product.exchange, "product": product.symbol, "state": state.describe()}
        yield product, state, connector_for(product.exchange), plan


def plan_ingest(
    settings: Settings, products: Sequence[Product], options: IngestOptions, now_ns: int, window_min: float
) -> list[dict[str, Any]]:
    plans = []
    for product, state, connector, plan in _streams(settings, products):
        try:
            newest = connector.fetch_page(product.exchange_symbol, None)
        except SchemaHubError as exc:
            plan["error"] = str(exc)
            plans.append(plan)
            continue
        top = newest.trades[-1] if newest.trades else None
        plan["newest_trade"] = None if top is None else {"id": top.trade_id, "time": iso(top.time_ns)}
        rate = _rate(newest)
        if state.last is None:
            since = iso(now_ns - int(window_min * 60 * NS))
            plan["mode"] = f"cold start: the last {window_min:g} minutes (since {since})"
            _estimate(plan, None if rate is None else rate * window_min * 60, connector, options.limit)
        else:
            behind_min = (now_ns - state.last.time_ns) / (60 * NS)
            plan["mode"] = f"catch up after trade {state.last.trade_id} ({behind_min:.1f} minutes behind)"
            if options.max_catch_up_minutes is not None and behind_min > options.max_catch_up_minutes:
                plan["mode"] += f", capped at {options.max_catch_up_minutes:g} minutes"
            trades = None if top is None else max(0, top.trade_id - state.last.trade_id)
            _estimate(plan, trades, connector, options.limit)
        plans.append(plan)
    return plans


def plan_backfill(
    settings: Settings, products: Sequence[Product], options: BackfillOptions
) -> list[dict[str, Any]]:
    plans = []
    for product, state, connector, plan in _streams(settings, products):
        try:
            newest = connector.fetch_page(product.exchange_symbol, None)
            start_id = (
                state.first.trade_id
                if state.first
                else (newest.trades[-1].trade_id if newest.trades else None)
            )
            oldest = _oldest_id(connector, product, options.since_ns)
        except SchemaHubError as exc:
            plan["error"] = str(exc)
            plans.append(plan)
            continue
        since = iso(options.since_ns) if options.since_ns else "the start of the exchange's history"
        plan["mode"] = f"walk back from trade {start_id} to {since}"
        if state.history is not None and state.history.complete:
            plan["mode"] += (
                f" (a backfill already reached {iso(state.history.since_ns) or 'the start of history'})"
            )
        if oldest is not None and start_id is not None:
            plan["oldest_trade_id"] = oldest
            _estimate(plan, max(0, start_id - oldest), connector, options.limit)
        plans.append(plan)
    return plans


def _oldest_id(connector: Connector, product: Product, since_ns: int | None) -> int | None:
    """The first trade id a backfill would reach (ids are dense enough to count pages by)."""
    symbol = product.exchange_symbol
    if connector.pages_by_time:
        page = connector.fetch_page(symbol, connector.from_time(since_ns or 0))
        return page.trades[0].trade_id if page.trades else None
    # Binary search on the id for the oldest trade at or after `since_ns` (or the first one),
    # each probe asking for the trades just below an id.
    newest = connector.fetch_page(symbol, None)
    if not newest.trades:
        return None
    lo, hi = 0, newest.trades[0].trade_id  # the answer is in (lo, hi]
    for _ in range(64):
        if hi - lo <= connector.page_limit:
            break
        mid = (lo + hi) // 2
        cursor = connector.older_than(mid)
        below = [t for t in connector.fetch_page(symbol, cursor).trades if t.trade_id < mid] if cursor else []
        reached = [t for t in below if since_ns is None or t.time_ns >= since_ns]
        if reached:
            hi = min(hi, reached[0].trade_id)
        else:  # nothing below `mid`, or all of it older than `since_ns`
            lo = max(lo, below[-1].trade_id if below else mid - 1)
    return hi
