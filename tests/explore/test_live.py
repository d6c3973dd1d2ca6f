"""The live detector: the board's rules, then the whole loop against the simulator in Chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.explore.discrepancy import EpisodeTracker, Quote, board
from schemahub_lib.explore.server import ThreadedServer, build
from schemahub_lib.settings import load_settings
from schemahub_lib.sim.config import LimitConfig, SimConfig
from schemahub_lib.sim.testing import running_sim
from tests.explore.conftest import screenshot

NS = 1_000_000_000
NOW = 1_800_000_000 * NS
SEED = """
coinbase:
  product_ids: [BTC-USD]
binance:
  product_ids: [BTC-USDT]
  symbols:
    BTC-USDT: {exchange_symbol: BTCUSDT}
kraken:
  product_ids: [BTC-USD]
  symbols:
    BTC-USD: {exchange_symbol: XBTUSD, aliases: [XXBTZUSD]}
"""


def quote(exchange: str, symbol: str, price: float, age_s: float = 0.5, answered_s: float = 0.2) -> Quote:
    return Quote(exchange, symbol, price, NOW - int(age_s * NS), NOW - int(answered_s * NS))


def rows_by_market(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["market"]: r for r in rows}


def test_usd_is_compared_with_usd_and_usdt_is_labelled() -> None:
    quotes = [
        quote("coinbase", "BTC-USD", 100.0),
        quote("kraken", "BTC-USD", 100.5),
        quote("binance", "BTC-USDT", 101.0),
    ]
    rows = rows_by_market(board(quotes, NOW, threshold_bps=60, stale_s=5))
    cb, kr, bn = rows["coinbase:BTC-USD"], rows["kraken:BTC-USD"], rows["binance:BTC-USDT"]
    # Never against itself: Coinbase's USD price against Kraken's, the only other USD market.
    assert cb["compared"] == "USD vs USD: kraken:BTC-USD" and cb["venues"] == "kraken:BTC-USD"
    assert kr["compared"] == "USD vs USD: coinbase:BTC-USD" and kr["venues"] == "coinbase:BTC-USD"
    assert cb["bps_vs_median"] == pytest.approx((100 - 100.5) / 100.5 * 1e4, abs=0.01)
    assert cb["flags"] == [] and kr["flags"] == []
    # The only USDT market is compared with the USD ones, and the row says it includes the basis.
    assert bn["compared"] == (
        "USDT vs USD: median of coinbase:BTC-USD, kraken:BTC-USD; includes the USDT/USD basis"
    )
    assert bn["venues"] == "coinbase:BTC-USD,kraken:BTC-USD"
    assert bn["bps_vs_median"] == pytest.approx((101 - 100.25) / 100.25 * 1e4, abs=0.01)
    assert bn["flags"] == ["spread"]


def test_a_usd_market_crosses_quotes_only_when_no_other_usd_market_is_fresh() -> None:
    quotes = [
        quote("coinbase", "BTC-USD", 100.0),
        quote("kraken", "BTC-USD", 100.5, age_s=20),  # stale
        quote("binance", "BTC-USDT", 101.0),
    ]
    cb = rows_by_market(board(quotes, NOW, threshold_bps=30, stale_s=5))["coinbase:BTC-USD"]
    assert cb["venues"] == "binance:BTC-USDT"
    assert cb["compared"] == (
        "USD vs USDT: binance:BTC-USDT; includes the USD/USDT basis (kraken:BTC-USD left out: stale)"
    )


def test_a_stale_venue_is_flagged_and_left_out_of_the_median() -> None:
    quotes = [
        quote("coinbase", "BTC-USD", 100.0),
        quote("kraken", "BTC-USD", 90.0, age_s=20),  # last trade 20 s ago
        quote("bitstamp", "BTC-USD", 100.2, answered_s=9),  # venue silent for 9 s
        quote("gemini", "BTC-USD", 100.1),
    ]
    rows = rows_by_market(board(quotes, NOW, threshold_bps=30, stale_s=5))
    assert rows["kraken:BTC-USD"]["flags"] == ["stale"] and rows["kraken:BTC-USD"]["bps_vs_median"] is None
    assert rows["kraken:BTC-USD"]["compared"] == "left out of the comparison: stale"
    assert rows["bitstamp:BTC-USD"]["flags"] == ["stale"]
    assert rows["coinbase:BTC-USD"]["venues"] == "gemini:BTC-USD"
    assert rows["coinbase:BTC-USD"]["flags"] == []


def test_episodes_span_the_flag_and_keep_the_peak() -> None:
    tracker = EpisodeTracker(threshold_bps=10)
    prices = [100.0, 100.3, 100.5, 100.2, 100.0]  # kraken vs three others at 100
    ended = []
    for i, p in enumerate(prices):
        quotes = [
            quote("coinbase", "BTC-USD", 100.0),
            quote("gemini", "BTC-USD", 100.0),
            quote("bitstamp", "BTC-USD", 100.0),
            quote("kraken", "BTC-USD", p),
        ]
        ended += tracker.update(board(quotes, NOW, threshold_bps=10, stale_s=5), NOW + i * NS)
    assert len(ended) == 1
    ep = ended[0]
    assert (ep.exchange, ep.symbol, ep.start_ns, ep.end_ns) == ("kraken", "BTC-USD", NOW + NS, NOW + 4 * NS)
    assert ep.peak_bps == pytest.approx(50.0, abs=0.01)  # median of the other three is 100
    assert ep.comparison == "USD vs USD: median of bitstamp:BTC-USD, coinbase:BTC-USD, gemini:BTC-USD"
    assert tracker.open == {}
    assert "kraken" not in ep.venues


def test_the_peak_is_the_largest_distance_either_side_with_its_sign() -> None:
    tracker = EpisodeTracker(threshold_bps=10)
    ended = []
    for i, p in enumerate([100.0, 99.8, 100.3, 99.4, 100.0]):  # -20, +30, -60 bps, back
        quotes = [quote("coinbase", "BTC-USD", 100.0), quote("kraken", "BTC-USD", p)]
        ended += tracker.update(board(quotes, NOW, threshold_bps=10, stale_s=5), NOW + i * NS)
    kraken = [e for e in ended if e.exchange == "kraken"]
    assert len(kraken) == 1 and kraken[0].peak_bps == pytest.approx(-60.0, abs=0.01)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    (tmp_path / "seed.yaml").write_text(SEED)
    config = SimConfig(
        seed=3, clock="real", history_s=600, spike_offset_s=None, limits=LimitConfig(mode="off")
    )
    with running_sim(config) as sim:
        settings = load_settings(
            env={},
            warehouse=str(tmp_path / "wh"),
            exchange_urls=sim.urls,
            seed_path=str(tmp_path / "seed.yaml"),
        )
        app, monitor = build(
            settings,
            live=True,
            threshold_bps=0.5,
            stale_s=3.0,
            flush_s=2.0,
            seed_path=str(tmp_path / "seed.yaml"),
        )
        monitor.start()
        try:
            with ThreadedServer(app) as server:
                yield sim, server, monitor
        finally:
            monitor.stop()


def test_live_board_updates_flags_an_outage_and_lands(page: Any, live: tuple[Any, Any, Any]) -> None:
    sim, server, monitor = live
    page.goto(server.url + "/live")
    page.wait_for_selector('#live tbody tr[data-market="binance:BTC-USDT"] td.price', timeout=10_000)
    price = "document.querySelector('#live tbody tr[data-market=\"binance:BTC-USDT\"] td.price').textContent"
    page.wait_for_function(f"{price} !== '–'", timeout=10_000)
    for _ in range(3):  # the simulator trades BTC-USDT ~25 times a second: each new trade shows within 2 s
        before = page.evaluate(price)
        started = time.monotonic()
        page.wait_for_function(f"{price} !== {before!r}", timeout=2_000)
        assert time.monotonic() - started < 2.0
    # Lead-lag resolves to a measurement, a "no lead" or the reason it cannot say yet.
    page.wait_for_function(
        "/leads|too few trades/.test(document.getElementById('leaders').textContent)", timeout=15_000
    )
    assert "measuring" not in page.inner_text("#leaders")
    # Episodes name the side of the median their peak was on; the figure is a distance.
    page.wait_for_selector("#episodes li", timeout=15_000)
    for text in page.locator("#episodes li").all_inner_texts():
        assert re.search(r": peak \d+\.\d\d bps (above|below) \((USDT?) vs (USDT?): ", text), text
    kraken = 'tr[data-market="kraken:BTC-USD"]'
    assert page.get_attribute(f"#live tbody {kraken}", "class") != "stale"
    assert "USDT vs USD" in page.inner_text('#live tbody tr[data-market="binance:BTC-USDT"] td.compared')

    sim.faults.add({"kind": "server_error", "exchange": "kraken", "count": None})  # Kraken goes down
    page.wait_for_selector(f"#live tbody {kraken}.stale", timeout=10_000)
    assert "stale" in page.inner_text(f"#live tbody {kraken} td.flags")
    assert "binance" not in page.inner_text("#live tbody tr.stale")
    screenshot(page, "live")

    deadline = time.monotonic() + 30
    while monitor.landed["commits"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    catalog = load_catalog(monitor.settings)
    landed = catalog.load_table(monitor.settings.table_id("raw_binance_trades")).scan().to_arrow()
    assert landed.num_rows > 0  # through the normal landing path, watermark and all
    monitor.stop()
    episodes = catalog.load_table(monitor.settings.table_id("schemahub_discrepancies")).scan().to_arrow()
    assert episodes.num_rows > 0  # threshold 0.5 bps: noise alone makes episodes
    for row in episodes.to_pylist():
        market = f"{row['exchange']}:{row['symbol']}"
        assert market not in row["venues"].split(","), row  # never compared with itself
        assert row["comparison"].startswith(("USD vs USD: ", "USDT vs USD: ", "USD vs USDT: ")), row
        if row["comparison"].startswith("USD vs USDT"):  # only while the other USD market is stale
            assert market == "coinbase:BTC-USD" and "(kraken:BTC-USD left out: stale)" in row["comparison"]


def test_the_board_reads_what_landing_fetched_and_landing_commits_once_per_flush(
    live: tuple[Any, Any, Any],
) -> None:
    sim, _, monitor = live
    deadline = time.monotonic() + 30
    while monitor.landed["commits"] < 6 and time.monotonic() < deadline:  # flush_s = 2
        time.sleep(0.2)
    monitor.stop()
    answered = sum(
        n
        for endpoints in sim.stats.snapshot()["requests"].values()
        for statuses in endpoints.values()
        for status, n in statuses.items()
        if status == "200"
    )
    # One fetch path: every page an exchange served was fetched by landing and read by the board.
    # (A request the client gave up on under load but the simulator answered counts once more.)
    pages = monitor.landed["pages"]
    assert 0 < pages <= answered <= pages * 1.05 + 2, (answered, monitor.landed)
    assert all(quote.price is not None for quote in monitor.quotes.values())
    catalog = load_catalog(monitor.settings)
    for exchange, column in (("binance", "id"), ("coinbase", "trade_id"), ("kraken", "trade_id")):
        raw = catalog.load_table(monitor.settings.table_id(f"raw_{exchange}_trades")).scan().to_arrow()
        ids = raw.column(column).to_pylist()
        assert len(ids) == len(set(ids)) > 0, exchange  # exactly once
        if exchange != "kraken":  # ids count up by one: nothing between the first and last is missing
            assert max(ids) - min(ids) + 1 == len(ids), exchange
        stream = monitor.streams[next(k for k in monitor.streams if k.startswith(exchange))]
        assert stream["trades"] == len(ids) and stream["held"] == 0, (exchange, stream)  # all committed
        # Polled every second, committed once per flush interval: far fewer commits than pages.
        assert stream["commits"] <= 1 + 30 / 2


def test_live_page_without_live_says_how_to_start_it(page: Any, explorer_url: str) -> None:
    page.goto(explorer_url + "/live")
    page.wait_for_selector("#message:not(.hidden)", timeout=10_000)
    assert "schemahub explore --live" in page.inner_text("#message")


def test_sigterm_stops_the_cli_and_writes_the_open_episodes(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from schemahub_lib.sim.testing import SimProcess

    warehouse = tmp_path / "wh"
    with SimProcess("--clock", "real", "--rate-limits", "off", "--history", "10m") as sim:
        cmd = [sys.executable, "-m", "schemahub_lib.cli", "explore", "--live", "--port", "0"]
        cmd += [
            "--warehouse",
            str(warehouse),
            "--threshold-bps",
            "0.01",
            "--stale-s",
            "600",
            "--flush-s",
            "2",
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **sim.env()}
        )
        assert proc.stdout is not None and proc.stdout.readline().startswith(
            "schemahub explore: http://127.0.0.1:"
        )
        time.sleep(4)  # a few boards: at 0.01 bps nearly every market is flagged, episodes are open
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    settings = load_settings(env={}, warehouse=str(warehouse))
    episodes = (
        load_catalog(settings).load_table(settings.table_id("schemahub_discrepancies")).scan().to_arrow()
    )
    assert episodes.num_rows > 0
    assert all(
        end >= start
        for start, end in zip(
            episodes.column("start_ts").to_pylist(), episodes.column("end_ts").to_pylist(), strict=True
        )
    )


def test_sigint_with_a_venue_down_names_the_failed_stream_and_exits_1(tmp_path: Path) -> None:
    """A stream still failing when `explore --live` stops ends `failed`: the summary names it
    with its error, the exit code is 1 and `schemahub status` says so."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from schemahub_lib.ops.status import run_status
    from schemahub_lib.sim.testing import SimProcess

    (tmp_path / "seed.yaml").write_text(SEED)
    warehouse = tmp_path / "wh"
    with SimProcess("--clock", "real", "--rate-limits", "off", "--history", "10m") as sim:
        sim.admin("POST", "faults", {"kind": "server_error", "exchange": "kraken", "count": None})
        cmd = [sys.executable, "-m", "schemahub_lib.cli", "explore", "--live", "--port", "0"]
        cmd += ["--warehouse", str(warehouse), "--stale-s", "600", "--flush-s", "1"]
        env = {**os.environ, **sim.env(), "SCHEMAHUB_SEED_PATH": str(tmp_path / "seed.yaml")}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            url = re.search(r"(http://127\.0\.0\.1:\d+)/", first)
            assert url, first
            deadline = time.monotonic() + 60
            while True:  # the board shows the outage while following goes on
                with urllib.request.urlopen(url.group(1) + "/api/live", timeout=10) as resp:
                    rows = rows_by_market(json.loads(resp.read())["rows"])
                kraken = rows.get("kraken:BTC-USD", {})
                if kraken.get("error") and rows.get("binance:BTC-USDT", {}).get("price") is not None:
                    break
                assert time.monotonic() < deadline, rows
                time.sleep(0.5)
            assert "service unavailable" in kraken["error"]
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=90)
            stderr = proc.stderr.read() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    assert code == 1, stderr
    summary = [line for line in stderr.splitlines() if "kraken" in line]
    assert any(re.match(r"\s+kraken\s+BTC-USD\s+failed\s", line) for line in summary), stderr
    assert any("service unavailable" in line and "walk(s) failed while following" in line for line in summary)
    assert re.search(r"binance\s+BTC-USDT\s+ok\s", stderr), stderr
    status = {
        (s.exchange, s.product): s
        for s in run_status(load_settings(env={}, warehouse=str(warehouse)), counts=False).streams
    }
    assert status["kraken", "BTC-USD"].last_run_status == "failed"
    assert status["binance", "BTC-USDT"].last_run_status == "ok"


def test_a_run_killed_while_a_stream_fails_keeps_the_failure_in_the_runs_table(tmp_path: Path) -> None:
    """SIGKILL during an outage: the next run's repair records the stream `failed`, not merely
    interrupted (the outage's `failed` row was written when it started)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from schemahub_lib.ops.status import run_status
    from schemahub_lib.sim.testing import SimProcess

    (tmp_path / "seed.yaml").write_text(SEED)
    warehouse = tmp_path / "wh"
    settings = load_settings(env={}, warehouse=str(warehouse))

    def kraken_status() -> str | None:
        streams = run_status(settings, counts=False).streams
        return next(s.last_run_status for s in streams if (s.exchange, s.product) == ("kraken", "BTC-USD"))

    with SimProcess("--clock", "real", "--rate-limits", "off", "--history", "10m") as sim:
        env = {**os.environ, **sim.env(), "SCHEMAHUB_SEED_PATH": str(tmp_path / "seed.yaml")}
        cmd = [sys.executable, "-m", "schemahub_lib.cli", "explore", "--live", "--port", "0"]
        cmd += ["--warehouse", str(warehouse), "--stale-s", "600", "--flush-s", "1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            assert proc.stdout is not None
            url = re.search(r"(http://127\.0\.0\.1:\d+)/", proc.stdout.readline())
            assert url
            kraken_raw = warehouse / "schemahub" / "raw_kraken_trades" / "data"
            deadline = time.monotonic() + 60
            while not (kraken_raw.exists() and any(kraken_raw.rglob("*.parquet"))):  # kraken landed
                assert time.monotonic() < deadline
                time.sleep(0.5)
            sim.admin("POST", "faults", {"kind": "server_error", "exchange": "kraken", "count": None})
            while kraken_status() != "failed":
                with urllib.request.urlopen(url.group(1) + "/api/live", timeout=10) as resp:
                    json.loads(resp.read())  # the server still answers
                assert time.monotonic() < deadline + 60
                time.sleep(0.5)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        sim.admin("DELETE", "faults")
        ingest = [sys.executable, "-m", "schemahub_lib.cli", "ingest", "kraken", "binance"]
        ingest += ["--cold-start-minutes", "1", "--warehouse", str(warehouse)]
        done = subprocess.run(ingest, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    table = load_catalog(settings).load_table(settings.table_id("schemahub_runs"))
    rows = table.scan().to_arrow().to_pylist()
    (killed,) = {r["run_id"] for r in rows if "following goes on" in (r["error"] or "")}
    repaired = {  # the rows the next run's repair appended for the killed one's streams
        r["exchange"]: r
        for r in rows
        if r["run_id"] == killed
        and r["product"] != "*"
        and (r["status"] == "interrupted" or "killed?" in (r["error"] or ""))
    }
    assert repaired["kraken"]["status"] == "failed", repaired
    assert "service unavailable" in repaired["kraken"]["error"] and "killed?" in repaired["kraken"]["error"]
    assert repaired["binance"]["status"] == "interrupted", repaired
