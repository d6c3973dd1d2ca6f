"""Backfill progress: bars on a terminal that count trades as they are fetched, with a rate and
an ETA against the plan; log lines above the bars, never through them; off a terminal one
readable line per stream (or JSON events)."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from schemahub_lib.connectors.base import RawTrade
from schemahub_lib.landing.progress import Progress
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.conftest import REPO
from tests.landing.procs import clean_env, write_config

SECOND = 10**9
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def trades(*times_s: int) -> list[RawTrade]:
    return [RawTrade(i, t * SECOND, {}, "{}") for i, t in enumerate(times_s)]


def test_bars_count_fetched_trades_before_any_commit(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("backfill", bars=True)
    # A newest-first walk from t=1000 s down to t=0, no plan: the span covered gives the total.
    progress.start("binance:BTC-USDT", (1_000 * SECOND, 0))
    progress.fetched("binance:BTC-USDT", trades(750, 500))  # half the span, 2 trades
    frame = capsys.readouterr().err
    # Before any commit: half the span, so ~4 trades in all, 2 fetched (tqdm redraws the total
    # bar at once; a stream's bar at most every 0.1 s).
    assert "total:  50%|" in frame and "| 2.00/4.00 [" in frame and "landed 0]" in frame
    progress.update("binance:BTC-USDT", 2, None)  # the flush commits them
    progress.finish("binance:BTC-USDT")
    progress.close()
    err = capsys.readouterr().err
    assert "backfill binance:BTC-USDT: 2 trades fetched, 2 landed" in err and "done in" in err
    assert "landed 2" in err  # the total bar's postfix


def test_a_plan_gives_the_bar_its_total_from_the_start(capsys: pytest.CaptureFixture[str]) -> None:
    class Run:  # what Progress reads of a stream run: its product and its connector
        product = "BTC-USD"
        connector = None

    progress = Progress("backfill", bars=True, plan=lambda product: {"expected_trades": 8_000})
    progress.start("coinbase:BTC-USD", None, Run())
    assert "0.00/8.00k" in capsys.readouterr().err  # 0 of 8,000 before the first page
    progress.fetched("coinbase:BTC-USD", trades(*range(2_000)))
    assert "total:  25%|" in (err := capsys.readouterr().err) and "2.00k/8.00k" in err
    progress.finish("coinbase:BTC-USD")
    progress.close()


def test_off_a_terminal_one_readable_line_per_stream(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="schemahub")
    progress = Progress("backfill", bars=False, interval_s=0)
    progress.start("kraken:BTC-USD", (0, 100 * SECOND))
    progress.start("binance:BTC-USDT", (100 * SECOND, 0))
    progress.fetched("kraken:BTC-USD", trades(*range(0, 25)))  # a quarter of the span, 25 trades
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # one per stream
    kraken = next(x for x in lines if "kraken:BTC-USD" in x)
    assert kraken.startswith("backfill kraken:BTC-USD: 25 trades fetched, 0 landed, ")
    assert "trades/s, 24% of ~104, ETA 0:00:" in kraken
    assert "binance:BTC-USDT: 0 trades fetched, 0 landed, 0 trades/s, ETA ?" in lines[1] + lines[0]
    progress.finish("kraken:BTC-USD")  # its closing line at once, and no more lines after it
    assert "backfill kraken:BTC-USD: 25 trades fetched, 0 landed, " in caplog.records[-1].getMessage()
    assert "done in 0:00:00" in caplog.records[-1].getMessage()
    progress.fetched("binance:BTC-USDT", trades(90, 80))
    progress.close()
    later = [r.getMessage() for r in caplog.records[3:]]
    assert len(later) == 2 and all("binance:BTC-USDT: 2 trades fetched" in x for x in later)


def test_json_lines_keep_the_machine_event(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="schemahub")
    progress = Progress("backfill", bars=False, interval_s=0, lines="json")
    progress.start("kraken:BTC-USD", (0, 100 * SECOND))
    progress.fetched("kraken:BTC-USD", trades(*range(0, 25)))
    progress.update("kraken:BTC-USD", 20, 19 * SECOND)
    line = json.loads(caplog.records[-1].getMessage())
    stream = line["streams"]["kraken:BTC-USD"]
    assert line["event"] == "backfill.progress" and line["trades"] == 20 and line["fetched"] == 25
    assert stream["expected"] == 104 and stream["eta_s"] is not None and stream["eta_s"] >= 0


def _run_in_pty(argv: list[str], columns: int = 120, timeout_s: float = 120) -> tuple[int, str]:
    """Run a command in a pseudo-terminal of `columns`; its exit code and everything it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=clean_env())
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.wait(timeout=10), out.decode(errors="replace")


def test_backfill_bars_in_a_real_terminal(land_settings: Settings, sim: SimServer, tmp_path: Path) -> None:
    """`schemahub backfill` in a pseudo-terminal against the simulator: the bars move with the
    pages fetched (only one flush, at the end), show a total, a rate and an ETA from the first
    pages, and every log line comes out whole above them."""
    paced = dataclasses.replace(land_settings, rate_limits={"binance": 30.0})  # a few seconds of pages
    config = write_config(paced, tmp_path / "schemahub.yaml")
    since = str((sim.clock.now_ns() - 6 * 60 * SECOND) // SECOND)
    code, raw = _run_in_pty(
        [sys.executable, "-m", "schemahub_lib.cli", "--config", str(config), "backfill", "binance",
         "--since", since, "--limit", "200", "--workers", "2",
         "--flush-trades", "10000000", "--flush-seconds", "600"]
    )  # fmt: skip
    assert code == 0, raw[-2000:]
    # What the terminal showed, frame by frame: tqdm redraws a line after each \r.
    frames = [ANSI.sub("", part) for line in raw.split("\n") for part in line.split("\r")]
    bars = [f for f in frames if re.match(r"binance:BTC-USDT:\s+\d+%\|", f)]
    assert len(bars) >= 5, frames[-20:]
    # Counting before the only commit: the total bar still says "landed 0" while trades arrive.
    moving = [f for f in frames if f.startswith("total:") and "landed 0]" in f and "%|" in f]
    assert any(re.search(r"\| [1-9][\d.]*k?/", f) for f in moving), moving[-5:]
    # A total and an ETA from the plan while the stream is under way.
    early = [f for f in bars if re.search(r"\|\s+[\d.]+k?/[\d.]+k \[\d\d:\d\d<\d\d:\d\d, ", f)]
    assert any(not f.startswith("binance:BTC-USDT: 100%") for f in early), bars[:5]
    # Every log line is whole: no bar text inside it, each parses as JSON.
    events = [f.strip() for f in frames if '"event"' in f]
    assert {"backfill.stream", "backfill.summary"} <= {json.loads(e)["event"] for e in events}
    finished = [f for f in frames if f.startswith("backfill binance:")]
    assert any("trades fetched" in f and "done in" in f for f in finished)
    assert "run backfill-" in raw  # the report after the bars
