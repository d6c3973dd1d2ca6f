"""Stream state: what the snapshot summary carries, read back exactly; and where it is read from."""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.landing.state import (
    EMPTY,
    BelowBlock,
    DownWalk,
    ExchangeState,
    History,
    Position,
    StateError,
    StreamState,
    UpWalk,
)
from schemahub_lib.landing.watermarks import STATE_PROPERTY, read_exchange_state
from schemahub_lib.landing.writer import commit_files, write_data_files
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables

FULL = StreamState(
    first=Position(100, 1_750_000_000_000_000_000),
    last=Position(200, 1_750_000_100_000_000_000),
    cursor="1750000100000000000",
    up=UpWalk(Position(900, 3), Position(700, 2), 200, None),
    down=DownWalk("backfill", 1_749_000_000_000_000_000),
    below=BelowBlock(Position(10, 1), Position(20, 2), "1749000000000000001", None),
    skipped=((201, 250),),
    history=History(None, False),
)


def test_state_round_trips_through_its_json() -> None:
    state = ExchangeState(
        {"BTC-USD": FULL, "ETH-USD": StreamState(first=Position(1, 2), last=Position(3, 4))}
    )
    text = state.to_property()
    back = ExchangeState.from_property(text, where="t", snapshot_id=7)
    assert back.streams == state.streams and back.snapshot_id == 7
    assert back.get("SOL-USD") == EMPTY
    assert FULL.landed_ids() == [(10, 20), (100, 200), (700, 900)]
    assert "landed ids 10..20, 100..200, 700..900" in FULL.describe()
    assert EMPTY.describe() == "nothing landed"


def test_only_the_touched_fields_are_compared_and_replaced() -> None:
    mine = FULL.replace(last=Position(300, 9), up=None)
    assert FULL.differs(mine, frozenset({"first", "down"})) == []
    assert FULL.differs(mine, frozenset({"last", "up", "first"})) == ["last", "up"]
    merged = EMPTY.overlay(mine, frozenset({"last"}))
    assert merged == StreamState(last=Position(300, 9))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"v": 2, "streams": {}}', "state version 2, expected 1"),
        ('{"v": 1, "streams": {"BTC-USD": {"last": [1]}}}', "unreadable stream state"),
        ("not json", "unreadable stream state"),
    ],
)
def test_unreadable_state_names_table_snapshot_and_text(text: str, problem: str) -> None:
    with pytest.raises(StateError) as err:
        ExchangeState.from_property(text, where="schemahub.raw_kraken_trades", snapshot_id=42)
    assert "schemahub.raw_kraken_trades" in str(err.value) and "snapshot 42" in str(err.value)
    assert problem in str(err.value)


def test_state_is_read_from_the_newest_snapshot_that_carries_it(settings: Settings) -> None:
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("raw_kraken_trades"))
    assert read_exchange_state(table) == ExchangeState()
    state = ExchangeState({"BTC-USD": FULL})
    commit_files(table, [], {STATE_PROPERTY: state.to_property()})
    # A maintenance-style snapshot without the property on top: readers walk back past it.
    commit_files(table, [], {"note": "compaction"})
    table = catalog.load_table(settings.table_id("raw_kraken_trades"))
    found = read_exchange_state(table)
    assert found.streams == state.streams
    assert found.snapshot_id == table.snapshots()[0].snapshot_id


def test_rows_without_any_state_in_history_fail_loudly(settings: Settings) -> None:
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("schemahub_watermarks"))
    schema = table.schema().as_arrow()
    row = {f.name: None for f in schema}
    row.update(exchange="kraken", product="BTC-USD", run_id="x", updated_at=0)
    commit_files(table, write_data_files(table, pa.Table.from_pylist([row], schema=schema)), {})
    with pytest.raises(StateError, match=r"holds 1 rows but no snapshot .* carries schemahub.watermarks"):
        read_exchange_state(catalog.load_table(settings.table_id("schemahub_watermarks")))
