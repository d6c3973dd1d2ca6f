"""The HTTP API over a real server: answers, bad input as 4xx JSON, the static-file boundary,
time travel, and where it listens."""

from __future__ import annotations

import http.client
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.explore.server import ThreadedServer, build
from schemahub_lib.settings import load_settings
from schemahub_lib.sim.testing import running_sim
from schemahub_lib.tables import init_tables
from tests.explore.conftest import SimLake
from tests.explore.lake import BTC_PRODUCTS, unified_rows, write_unified

NS = 1_000_000_000


def window(lake: SimLake, before_s: int = 60, after_s: int = 60) -> dict[str, str]:
    start, end = lake.spike_ns
    return {
        "asset": "BTC",
        "start": str((start - before_s * NS) // 1_000_000),
        "end": str((end + after_s * NS) // 1_000_000),
    }


def get(url: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(url + path, params=params, timeout=30)


def test_replay_payload(explorer_url: str, lake: SimLake) -> None:
    r = get(explorer_url, "/api/replay", **window(lake))
    assert r.status_code == 200, r.text
    body = r.json()
    names = [m["market"] for m in body["markets"]]
    assert names == ["BINANCE:BTC-USDT", "COINBASE:BTC-USD", "KRAKEN:BTC-USD"]
    assert body["steps"] == (body["end_ns"] - body["start_ns"]) // (body["step_ms"] * 1_000_000) + 1
    assert body["trades"] == sum(m["trades"] for m in body["markets"]) > 5000
    assert len(body["draw"]["t_ms"]) < body["trades"]  # drawn downsampled
    assert body["gaps"] == []


def test_markets_and_events(explorer_url: str, lake: SimLake) -> None:
    markets = get(explorer_url, "/api/markets").json()
    assert [m["market"] for m in markets["assets"]["BTC"]] == [
        "BINANCE:BTC-USDT",
        "COINBASE:BTC-USD",
        "KRAKEN:BTC-USD",
    ]
    assert markets["snapshots"][-1]["snapshot_id"] == str(lake.snapshot_id)
    found = get(explorer_url, "/api/events", asset="BTC").json()
    assert lake.spike_ns[0] <= found[0]["start_ns"] < lake.spike_ns[1]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"asset": "DOGEZ"}, 404, "unknown asset 'DOGEZ'; the table holds: BTC"),
        ({"markets": "BINANCE:BTC-USDT,FTX:BTC-USD"}, 404, "unknown market 'FTX:BTC-USD'"),
        ({"markets": "BINANCE:BTC-USDT; DROP TABLE x"}, 404, "unknown market"),
        ({"end": "{start}"}, 400, "empty window"),
        ({"start": "1000", "end": "2000"}, 404, "no trades of BINANCE:BTC-USDT"),
        ({"start": "1000", "end": "2000"}, 404, "pick a time inside the data: BTC trades span 2025-06-15T"),
        ({"start": "yesterday"}, 400, "start: cannot read 'yesterday'"),
        ({"start": ""}, 400, "missing start"),
        ({"as_of": "12x"}, 400, "is not a snapshot id"),
        ({"as_of": "123"}, 404, "unknown snapshot 123"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(
    explorer_url: str, lake: SimLake, change: dict[str, str], status: int, message: str
) -> None:
    params = window(lake)
    params.update({k: v.format(**params) for k, v in change.items()})
    for path in ("/api/replay", "/api/leadlag"):
        r = get(explorer_url, path, **params)
        assert r.status_code == status, r.text
        assert message in r.json()["error"]
        assert "Traceback" not in r.text


def test_empty_warehouse_says_what_to_do(tmp_path: Path) -> None:
    settings = load_settings(env={}, warehouse=str(tmp_path / "empty"))
    app, _ = build(settings)
    with ThreadedServer(app) as server:
        for path in (
            "/api/markets",
            "/api/events?asset=BTC",
            "/api/replay?asset=BTC&start=1&end=2",
            "/api/stats",
        ):
            r = httpx.get(server.url + path, timeout=30)
            assert r.status_code == 404, r.text
            assert "make demo" in r.json()["error"], r.text
        init_tables(load_catalog(settings), settings)
        r = httpx.get(server.url + "/api/replay?asset=BTC&start=1&end=2", timeout=30)
        assert r.status_code == 404 and "trades_unified is empty" in r.json()["error"]
        stats = httpx.get(server.url + "/api/stats", timeout=30).json()
        assert {t["table"]: t["records"] for t in stats["tables"]}["trades_unified"] == 0


@pytest.mark.parametrize(
    "path",
    ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/vendor/../../app.py"],
)
def test_static_files_stay_inside_the_package_folder(explorer_url: str, path: str) -> None:
    host = urlparse(explorer_url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("GET", path)  # sent as written: no client-side normalisation
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 404, (path, resp.status)
    assert b"Explorer" not in body and b"import" not in body


def test_static_assets_are_served_locally(explorer_url: str) -> None:
    page = httpx.get(explorer_url + "/", timeout=10).text
    assert "/static/vendor/uplot-1.6.32/uPlot.iife.min.js" in page and "http" not in page.split("<body>")[1]
    js = httpx.get(explorer_url + "/static/vendor/uplot-1.6.32/uPlot.iife.min.js", timeout=10)
    assert js.status_code == 200 and "uPlot" in js.text


def test_as_of_replays_an_earlier_snapshot(tmp_path: Path) -> None:
    settings = load_settings(env={}, warehouse=str(tmp_path / "warehouse"))
    with running_sim() as sim:
        spike = sim.scenario.spike
        assert spike is not None
        mid = (spike.start_ns + spike.end_ns) // 2
        first = write_unified(settings, [unified_rows(sim, x, p, end_ns=mid) for x, p in BTC_PRODUCTS])
        write_unified(settings, [unified_rows(sim, x, p, start_ns=mid + 1) for x, p in BTC_PRODUCTS])
    app, _ = build(settings)
    params = {
        "asset": "BTC",
        "start": str(spike.start_ns // 1_000_000),
        "end": str(spike.end_ns // 1_000_000),
    }
    with ThreadedServer(app) as server:
        now = httpx.get(server.url + "/api/replay", params=params, timeout=30).json()
        then = httpx.get(
            server.url + "/api/replay", params={**params, "as_of": str(first)}, timeout=30
        ).json()
    assert 0 < then["trades"] < now["trades"]
    last_then = max(i for i, p in enumerate(then["markets"][0]["last_price"]) if p is not None)
    # In the earlier snapshot the prices stop at the middle of the spike and stay flat after.
    assert then["markets"][0]["last_price"][-1] == then["markets"][0]["last_price"][last_then]
    assert then["markets"][0]["last_price"][-1] != now["markets"][0]["last_price"][-1]


def run_cli(*args: str) -> tuple[str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "schemahub_lib.cli", "explore", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return line, proc.stderr.read()


def test_listens_on_loopback_by_default_and_warns_otherwise(tmp_path: Path) -> None:
    line, err = run_cli("--warehouse", str(tmp_path))
    assert line.startswith("schemahub explore: http://127.0.0.1:"), line
    assert "WARNING" not in err
    line, err = run_cli("--warehouse", str(tmp_path), "--host", "127.0.0.2")
    assert line.startswith("schemahub explore: http://127.0.0.2:"), line
    assert "WARNING: schemahub explore listens on 127.0.0.2, not loopback" in err
