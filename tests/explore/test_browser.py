"""The pages in real headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from schemahub_lib.catalog import load_catalog
from schemahub_lib.explore.server import ThreadedServer, build
from schemahub_lib.explore.source import load_source
from tests.explore.conftest import SimLake, screenshot, sim_lake
from tests.explore.lake import plant_gap, write_unified

NS = 1_000_000_000


def tolerance(lag_ms: float) -> float:
    return max(25.0, 0.3 * abs(lag_ms))


def wait_for_leadlag(page: Any) -> str:
    page.wait_for_function(
        "!document.getElementById('leadlag').textContent.includes('computing')", timeout=30_000
    )
    return str(page.inner_text("#leadlag"))


def prices(page: Any) -> list[str]:
    return [str(t) for t in page.locator("#venues tbody td.price").all_inner_texts()]


def test_replay_loads_the_spike_plays_and_states_the_lead_lag(
    page: Any, explorer_url: str, lake: SimLake
) -> None:
    page.goto(explorer_url + "/")
    text = wait_for_leadlag(page)
    # The page picked the largest event by itself: the simulator's spike.
    first_event = page.locator("#events li").first.inner_text()
    spike_start = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(lake.spike_ns[0] / NS))
    assert spike_start in first_event or first_event[:16] > spike_start, (first_event, spike_start)
    assert page.locator("#venues tbody tr").count() == 3
    assert "USD and USDT" in page.inner_text("#notice")

    for follower, lag in (("coinbase", lake.coinbase_lag_ms), ("kraken", lake.kraken_lag_ms)):
        found = re.search(rf"binance leads {follower} by (\d+) ms ± (\d+)", text)
        assert found, text
        assert abs(int(found.group(1)) - lag) <= tolerance(lag), text

    assert page.input_value("#timeline") == "0"
    before = prices(page)
    page.select_option("#speed", "100")
    page.click("#play")
    page.wait_for_function("Number(document.getElementById('timeline').value) > 300", timeout=15_000)
    page.click("#play")  # pause
    moved = int(page.input_value("#timeline"))
    after = prices(page)
    assert moved > 300 and after != before, (before, after)
    assert re.match(r"^[\d,]+\.\d\d$", page.inner_text("#spread"))
    time.sleep(0.3)
    assert int(page.input_value("#timeline")) == moved  # paused means paused

    # Scrubbing: the slider sets the shown step directly.
    page.locator("#timeline").fill("0")
    assert prices(page) == before
    page.locator("#timeline").fill(str(moved))
    assert prices(page) == after
    screenshot(page, "replay")


def test_a_planted_gap_shows_its_marker(page: Any, tmp_path: Path) -> None:
    lake = sim_lake(tmp_path, 80.0, 250.0)
    start, end = lake.spike_ns
    plant_gap(lake.settings, "kraken", "BTC-USD", start + 20 * NS, start + 50 * NS)
    app, _ = build(lake.settings)
    with ThreadedServer(app) as server:
        first_ms, last_ms = (start - 60 * NS) // 1_000_000, (end + 60 * NS) // 1_000_000
        page.goto(f"{server.url}/?asset=BTC&start={first_ms}&end={last_ms}")
        wait_for_leadlag(page)
        marker = page.locator('.gap-marker[data-market="KRAKEN:BTC-USD"][data-kind="ledger"]')
        assert marker.count() == 1
        text = marker.inner_text()
        assert "KRAKEN:BTC-USD: gap" in text and "coverage ledger: open gap" in text
        assert time.strftime("%H:%M:%S", time.gmtime(start / NS + 20)) in text
        assert page.locator('.gap-marker[data-market="BINANCE:BTC-USDT"]').count() == 0
        screenshot(page, "replay-gap")


def test_a_venue_without_trades_in_the_window_shows_the_no_data_marker(page: Any, tmp_path: Path) -> None:
    lake = sim_lake(tmp_path, 80.0, 250.0)
    start, end = lake.spike_ns
    # A fourth market that traded only in the first minutes of the history, long before the spike.
    kraken = load_source(lake.settings).lake.trades(exchanges="kraken").slice(0, 50)
    assert kraken.column("trade_ts")[-1].as_py().timestamp() * NS < start - 120 * NS
    quiet = kraken.set_column(0, "exchange", pa.array(["BITSTAMP"] * kraken.num_rows))
    write_unified(lake.settings, [quiet])
    app, _ = build(lake.settings)
    with ThreadedServer(app) as server:
        first_ms, last_ms = (start - 60 * NS) // 1_000_000, (end + 60 * NS) // 1_000_000
        markets = "BINANCE:BTC-USDT,BITSTAMP:BTC-USD,KRAKEN:BTC-USD"
        page.goto(f"{server.url}/?asset=BTC&markets={markets}&start={first_ms}&end={last_ms}")
        wait_for_leadlag(page)
        marker = page.locator('.gap-marker[data-market="BITSTAMP:BTC-USD"][data-kind="no_data"]')
        assert marker.count() == 1
        assert "BITSTAMP:BTC-USD: no data" in marker.inner_text()
        assert "no trades in this window" in marker.inner_text()
        assert page.locator('.gap-marker[data-kind="no_data"]').count() == 1  # the others traded
        screenshot(page, "replay-no-data")


def test_stats_page_shows_the_counts_pyiceberg_reads(page: Any, explorer_url: str, lake: SimLake) -> None:
    table = load_catalog(lake.settings).load_table(lake.settings.table_id("trades_unified"))
    scanned = table.scan(selected_fields=("exchange", "symbol")).to_arrow()
    page.goto(explorer_url + "/stats")
    page.wait_for_selector("#tables tbody tr", timeout=30_000)
    rows = {r.split("\t")[0]: r.split("\t") for r in page.locator("#tables tbody tr").all_inner_texts()}
    assert rows["trades_unified"][1] == f"{scanned.num_rows:,}"
    streams = {
        tuple(r.split("\t")[:2]): r.split("\t") for r in page.locator("#streams tbody tr").all_inner_texts()
    }
    for exchange, symbol in (("binance", "BTC-USDT"), ("coinbase", "BTC-USD"), ("kraken", "BTC-USD")):
        n = sum(
            1
            for e, s in zip(
                scanned.column("exchange").to_pylist(), scanned.column("symbol").to_pylist(), strict=True
            )
            if (e, s) == (exchange.upper(), symbol)
        )
        assert streams[(exchange, symbol)][3] == f"{n:,}"
        # Bytes per exchange and symbol: labelled an estimate, on the rows PyIceberg counts.
        (sized,) = [
            r
            for r in page.locator("#market-bytes tbody tr").all_inner_texts()
            if r.startswith(f"{exchange.upper()}\t{symbol}\t")
        ]
        assert sized.split("\t")[2] == f"{n:,}" and sized.split("\t")[3].startswith("≈ ")
    assert "estimate" in page.inner_text("#market-bytes-note")
    screenshot(page, "stats")


def test_bad_input_is_a_message_on_the_page(page: Any, explorer_url: str, lake: SimLake) -> None:
    start, end = lake.spike_ns
    page.goto(f"{explorer_url}/?asset=NOPE&start={start // 1_000_000}&end={end // 1_000_000}")
    page.wait_for_selector("#message:not(.hidden)", timeout=15_000)
    assert "unknown asset 'NOPE'; the table holds: BTC" in page.inner_text("#message")
    page.goto(f"{explorer_url}/?asset=BTC&start={start // 1_000_000}&end={start // 1_000_000}")
    page.wait_for_selector("#message:not(.hidden)", timeout=15_000)
    assert "empty window" in page.inner_text("#message")
    assert page.locator("#player.hidden").count() == 1


def test_a_warehouse_without_tables_says_what_to_run(page: Any, tmp_path: Path) -> None:
    from schemahub_lib.settings import load_settings

    app, _ = build(load_settings(env={}, warehouse=str(tmp_path / "nothing-here")))
    with ThreadedServer(app) as server:
        for path in ("/", "/stats"):
            page.goto(server.url + path)
            page.wait_for_selector("#message:not(.hidden)", timeout=15_000)
            assert "make demo" in page.inner_text("#message")
    assert not (tmp_path / "nothing-here").exists()  # looking creates nothing
