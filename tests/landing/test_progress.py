"""Backfill progress: bars on a terminal, log lines otherwise; per stream and total, with ETA."""

from __future__ import annotations

import json
import logging

import pytest

from schemahub_lib.landing.progress import Progress

SECOND = 10**9


def test_bars_show_trades_rate_and_eta(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("backfill", bars=True)
    # A newest-first walk from t=1000 s down to t=0: half-way after the first update.
    progress.start("binance:BTC-USDT", (1_000 * SECOND, 0))
    progress.update("binance:BTC-USDT", 5_000, 500 * SECOND)
    progress.update("binance:BTC-USDT", 2_500, 250 * SECOND)
    progress.finish("binance:BTC-USDT")
    progress.close()
    err = capsys.readouterr().err
    assert "binance:BTC-USDT" in err and "total" in err
    assert "total: 7500 trades" in err.replace(",", "") and "trades/s" in err and "ETA" in err


def test_off_a_terminal_progress_is_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="schemahub")
    progress = Progress("backfill", bars=False, interval_s=0)
    progress.start("kraken:BTC-USD", (0, 100 * SECOND))
    progress.update("kraken:BTC-USD", 1_000, 25 * SECOND)  # a quarter of the span covered
    lines = [json.loads(r.getMessage()) for r in caplog.records]
    (line,) = [x for x in lines if x["event"] == "backfill.progress"]
    stream = line["streams"]["kraken:BTC-USD"]
    assert line["trades"] == stream["trades"] == 1_000 and stream["done"] is False
    assert stream["eta_s"] is not None and stream["eta_s"] >= 0 and line["eta_s"] == stream["eta_s"]
