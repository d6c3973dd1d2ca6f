"""The demo's query step (`make demo`) on DuckDB: its SQL runs and shows what it promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemahub_lib import demo
from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables
from tests.read.synthetic import trades_batch


def test_demo_prints_vwap_and_the_spike_replay(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("trades_unified"))
    # Ten recent minutes (inside the VWAP's 15) and one old hour (outside it).
    now = datetime.now(UTC)
    table.append(trades_batch(table, now - timedelta(minutes=10), 1 / 6, 6000, seed=1))
    table.append(trades_batch(table, now - timedelta(hours=3), 1, 600, seed=2, id_offset=10**6))

    demo._query_step(settings)
    out = capsys.readouterr().out
    vwap_part, spike_part = out.split("==> Replay")
    vwap_lines = [
        line for line in vwap_part.splitlines() if line.startswith(("BINANCE", "COINBASE", "KRAKEN"))
    ]
    assert len(vwap_lines) == 6
    assert sum(int(line.split()[2]) for line in vwap_lines) == 1000  # only the recent trades
    lines = spike_part.splitlines()
    assert lines[1].split() == ["second", "binance", "coinbase", "kraken", "trades", "spread_bps"]
    rows = [line.split() for line in lines[3:] if line.startswith("20")]
    assert 1 <= len(rows) <= 12 and lines[3 + len(rows)] == f"({len(rows)} rows)"
    seconds = [f"{r[0]} {r[1]}" for r in rows]
    assert seconds == sorted(seconds)
    for row in rows:
        prices = [float(p) for p in row[2:5]]
        assert float(row[6]) == round(1e4 * (max(prices) - min(prices)) / min(prices), 1)
