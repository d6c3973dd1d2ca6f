"""Explorer fixtures: warehouses holding the simulator's BTC markets, the app on a loopback
port, and Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.explore.server import ThreadedServer, build
from schemahub_lib.settings import Settings, load_settings
from schemahub_lib.sim.testing import running_sim
from tests.explore.lake import land_btc

CHROMIUM = os.environ.get("SCHEMAHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@dataclass
class SimLake:
    """A warehouse holding the simulator's BTC trades, and what the simulator was told."""

    settings: Settings
    spike_ns: tuple[int, int]
    coinbase_lag_ms: float
    kraken_lag_ms: float
    snapshot_id: int


def sim_lake(tmp: Path, coinbase_lag_ms: float, kraken_lag_ms: float) -> SimLake:
    settings = load_settings(env={}, warehouse=str(tmp / "warehouse"))
    with running_sim(coinbase_lag_ms=coinbase_lag_ms, kraken_lag_ms=kraken_lag_ms) as sim:
        snapshot = land_btc(settings, sim)
        spike = sim.scenario.spike
        assert spike is not None
        return SimLake(settings, (spike.start_ns, spike.end_ns), coinbase_lag_ms, kraken_lag_ms, snapshot)


@pytest.fixture(scope="package")
def lake(tmp_path_factory: pytest.TempPathFactory) -> SimLake:
    """The simulator's default venue lags: Coinbase 80 ms and Kraken 250 ms behind Binance."""
    return sim_lake(tmp_path_factory.mktemp("lagged"), 80.0, 250.0)


@pytest.fixture(scope="package")
def explorer_url(lake: SimLake) -> Iterator[str]:
    app, _ = build(lake.settings)
    with ThreadedServer(app) as server:
        yield server.url


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Chromium; a missing browser fails the test (`make chromium` installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; run `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
