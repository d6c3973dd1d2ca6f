"""`schemahub sim serve` in a subprocess: one line per exchange, serves, exits cleanly on SIGTERM."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys

import pytest
import requests

from schemahub_lib.commands.sim import build_config, register
from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.catalog import EXCHANGES
from schemahub_lib.sim.config import SimConfig
from schemahub_lib.sim.testing import SimProcess, running_sim

FLAGS = ("--seed", "3", "--clock", "manual", "--history", "10m", "--spike-at=-5m", "--spike-duration", "1m")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sim", "serve", *argv])


def test_serve_prints_base_urls_and_stops_on_sigterm(http: requests.Session) -> None:
    with SimProcess(*FLAGS, "--rate-limits", "off") as proc:
        assert list(proc.urls) == list(EXCHANGES)
        assert proc.env()["SCHEMAHUB_KRAKEN_URL"] == proc.urls["kraken"]
        assert all(
            url.startswith("http://127.0.0.1:") and url.endswith(f"/{x}") for x, url in proc.urls.items()
        )
        body = http.get(
            f"{proc.urls['binance']}/api/v3/trades", params={"symbol": "BTCUSDT", "limit": "7"}
        ).content
        assert proc.admin("POST", "clock", {"advance_s": 1})["now_ns"] == 1_750_000_001_000_000_000
        # The same flags in-process serve the same bytes.
        config = SimConfig(seed=3, history_s=600, spike_offset_s=-300, spike_duration_s=60)
        with running_sim(config) as local:
            local.clock.advance(1)
            body_now = http.get(f"{proc.urls['binance']}/api/v3/trades?symbol=BTCUSDT&limit=7").content
            local_body = http.get(f"{local.urls['binance']}/api/v3/trades?symbol=BTCUSDT&limit=7").content
        assert len(body) > 500 and body_now != body and local_body == body_now
        assert proc.stop() == 0
        assert proc.proc.stdout is None or proc.proc.stdout.closed


def test_sigint_also_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "schemahub_lib.cli", "sim", "serve", "--port", "0", *FLAGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = [proc.stdout.readline() for _ in EXCHANGES]  # type: ignore[union-attr]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert [line.split()[0] for line in lines] == list(EXCHANGES) and out == ""


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "schemahub_lib.cli", "sim", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_flags_build_the_config() -> None:
    args = parse(
        "--trade-rate", "50", "--product-rate", "binance:BTCUSDT=400", "--id-gap-rate", "kraken=0.01",
        "--rate-limits", "scale", "--rate-limit-scale", "0.1", "--binance-weight-limit", "1200",
        "--spike-at", "none", "--history", "2h", "--kraken-since", "exclusive",
    )  # fmt: skip
    config = build_config(args)
    assert config.rates["binance:BTCUSDT"] == 400 and config.rates["coinbase:ETH-USD"] == 50
    assert config.id_gap_rate == {"kraken": 0.01} and config.spike_offset_s is None
    assert (config.limits.mode, config.limits.scale, config.limits.binance_weight_limit) == (
        "scale",
        0.1,
        1200,
    )
    assert config.history_s == 7200 and config.kraken_since_inclusive is False and config.clock == "real"
    with pytest.raises(ConfigError):
        build_config(parse("--id-gap-rate", "kraken"))
    with pytest.raises(ConfigError):
        build_config(parse("--history", "soon"))
