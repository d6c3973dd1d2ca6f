"""Test helpers: the simulator as a pytest fixture, in a thread or in a subprocess.

    from schemahub_lib.sim.testing import sim_fixture

    sim = sim_fixture()                                   # function scope, SimConfig.for_tests()
    big_sim = sim_fixture(scope="module", history_s=3600, rate_scale=4)

    def test_something(sim):
        url = sim.urls["binance"]                       # http://127.0.0.1:P/binance
        sim.clock.advance(30)                           # new trades appear
        sim.faults.add({"kind": "server_error", "exchange": "binance", "count": 2})
        truth = sim.truth("binance", "BTCUSDT")

pytest is imported lazily so this module costs nothing outside tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from schemahub_lib.sim.catalog import EXCHANGES
from schemahub_lib.sim.config import LimitConfig, SimConfig
from schemahub_lib.sim.server import SimServer


@contextmanager
def running_sim(config: SimConfig | None = None, **options: Any) -> Iterator[SimServer]:
    """A started simulator (test defaults unless `config` is given), stopped on exit."""
    if isinstance(options.get("limits"), str):
        options["limits"] = LimitConfig(mode=options["limits"])
    if config is None:
        config = SimConfig.for_tests(**options)
        options = {}
    with SimServer(config, **options) as sim:
        yield sim


def sim_fixture(scope: str = "function", **options: Any) -> Callable[..., Any]:
    """A pytest fixture yielding a running `SimServer` built from `SimConfig.for_tests(**options)`.

    Assign it to a module-level name in a test module or conftest; that name is the fixture.
    """
    import pytest

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def _sim() -> Iterator[SimServer]:
        with running_sim(**options) as sim:
            yield sim

    return _sim  # type: ignore[no-any-return]


class SimProcess:
    """`schemahub sim serve` in a subprocess (for tests that need a separate process)."""

    def __init__(self, *flags: str, env: dict[str, str] | None = None) -> None:
        cmd = [sys.executable, "-m", "schemahub_lib.cli", "sim", "serve", "--port", "0", *flags]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.urls: dict[str, str] = {}
        assert self.proc.stdout is not None
        for _ in EXCHANGES:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"schemahub sim serve exited early: {err.strip()}")
            exchange, url = line.split()
            self.urls[exchange] = url
        self.root_url = self.urls["coinbase"].rsplit("/", 1)[0]
        self.admin_url = f"{self.root_url}/_sim"

    def env(self) -> dict[str, str]:
        return {f"SCHEMAHUB_{x.upper()}_URL": url for x, url in self.urls.items()}

    def admin(self, method: str, name: str, payload: Any = None) -> Any:
        """Call the admin API, e.g. admin("POST", "clock", {"advance_s": 5})."""
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(f"{self.admin_url}/{name}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()
