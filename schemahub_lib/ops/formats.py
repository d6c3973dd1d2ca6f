"""What ops reads from the tables other jobs write: one place, so a format change is one edit.

Raw tables keep each exchange's own column names; each connector names its raw table and its
id, symbol and time columns (read here from the registry, never copied). Landing's watermark
map and unify's consumption record live in snapshot summaries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, ancestors_of

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.settings import Settings

UNIFIED_TABLE = "trades_unified"
COVERAGE_TABLE = "schemahub_coverage"
RAW_TABLES: Mapping[str, str] = {name: cls.raw_table for name, cls in CONNECTORS.items()}
# exchange -> (trade id column, symbol column, trade time column), as in ddl/raw_<exchange>_trades.sql
RAW_COLUMNS: Mapping[str, tuple[str, str, str]] = {
    name: (cls.id_column, cls.symbol_column, cls.time_column) for name, cls in CONNECTORS.items()
}

# Landing: the JSON map of every stream's state (landing/watermarks.py STATE_PROPERTY).
WATERMARK_KEY = "schemahub.watermarks"
# Unify: one key per raw table it consumed up to, `<prefix><raw table>` = snapshot id
# (unify/reads.py CONSUMED_PREFIX). Copied, not imported: importing unify loads pyspark.
UNIFY_CONSUMED_PREFIX = "schemahub.unify.consumed."


def watermark_present(props: Mapping[str, str]) -> bool:
    return WATERMARK_KEY in props


def unify_record_present(props: Mapping[str, str]) -> bool:
    return any(k.startswith(UNIFY_CONSUMED_PREFIX) for k in props)


def unify_consumed(props: Mapping[str, str]) -> dict[str, int]:
    """raw table name -> the raw snapshot id unify consumed up to."""
    return {
        k.removeprefix(UNIFY_CONSUMED_PREFIX): int(v)
        for k, v in props.items()
        if k.startswith(UNIFY_CONSUMED_PREFIX)
    }


def unify_record(consumed: Mapping[str, int]) -> dict[str, str]:
    """The summary properties unify writes for `consumed` (for tests and tools)."""
    return {f"{UNIFY_CONSUMED_PREFIX}{table}": str(snapshot_id) for table, snapshot_id in consumed.items()}


def watermarks(props: Mapping[str, str]) -> dict[str, Any]:
    """stream key -> landing's watermark entry, from one raw snapshot summary."""
    data: Any = json.loads(props.get(WATERMARK_KEY, "{}"))
    return dict(data)


def symbol_map(settings: Settings) -> dict[str, dict[str, str]]:
    """exchange -> {symbol as raw stores it -> canonical BASE-QUOTE}, from the seed file.

    The built-in seed is the base; the seed file at `settings.seed_path`, when present, adds to
    it. Raw keeps the exchange's spelling (Binance BTCUSDT, Kraken's answer key XXBTZUSD).
    """
    from schemahub_lib.seed import DEFAULT_SEED, load_seed

    products = [p for ps in DEFAULT_SEED.values() for p in ps]
    if Path(settings.seed_path).is_file():
        products += [p for ps in load_seed(settings.seed_path).values() for p in ps]
    out: dict[str, dict[str, str]] = {}
    for p in products:
        names = out.setdefault(p.exchange, {})
        for spelling in (p.symbol, p.exchange_symbol, *p.aliases):
            names[spelling] = p.symbol
    return out


def seed_products(settings: Settings) -> dict[str, list[str]]:
    """Canonical products per exchange that landing ingests: the seed file, else the built-in seed."""
    from schemahub_lib.seed import DEFAULT_SEED, load_seed

    seed = load_seed(settings.seed_path) if Path(settings.seed_path).is_file() else DEFAULT_SEED
    return {exchange: [p.symbol for p in products] for exchange, products in seed.items()}


def stream_states(raw: Table) -> dict[str, Any]:
    """product -> landing's StreamState, as the newest snapshot carrying the watermark has it."""
    from schemahub_lib.landing.watermarks import read_exchange_state

    return dict(read_exchange_state(raw).streams)


def appends_after(table: Table, snapshot_id: int | None) -> int:
    """Append commits with rows in the current history after `snapshot_id` (all if None)."""
    current = table.current_snapshot()
    n = 0
    for snap in ancestors_of(current, table.metadata) if current is not None else ():
        if snap.snapshot_id == snapshot_id:
            break
        summary = snap.summary
        if (
            summary is not None
            and summary.operation == Operation.APPEND
            and summary.get("added-records", "0") != "0"
        ):
            n += 1
    return n
