"""The /_sim/ admin API: info, stats and reset, as a subprocess-driven test would use them."""

from __future__ import annotations

import requests

from schemahub_lib.sim.server import SimServer


def test_info_describes_the_world(sim: SimServer, http: requests.Session) -> None:
    info = http.get(f"{sim.admin_url}/info").json()
    assert info["seed"] == 7 and info["clock"]["kind"] == "manual"
    assert info["history_start_ns"] == info["clock"]["start_ns"] - 1200 * 10**9
    assert info["urls"] == sim.urls
    kraken = {p["symbol"]: p for p in info["products"]["kraken"]}
    assert kraken["XDGUSD"]["key"] == "XXDGZUSD" and kraken["XDGUSD"]["canonical"] == "DOGE-USD"
    assert {p["symbol"] for p in info["products"]["binance"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert info["limits"]["mode"] == "off"


def test_stats_count_requests_and_reset_clears_everything(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['coinbase']}/products/BTC-USD/trades?limit=1"
    sim.faults.add({"kind": "server_error", "exchange": "coinbase"})
    assert [http.get(url).status_code for _ in range(3)] == [500, 200, 200]
    http.get(f"{sim.urls['kraken']}/0/public/Nope")
    stats = http.get(f"{sim.admin_url}/stats").json()
    assert stats["requests"]["coinbase"]["trades"] == {"500": 1, "200": 2}
    assert stats["total"] == 3  # unknown paths are answered but not counted
    sim.faults.add({"kind": "server_error", "exchange": "coinbase", "count": None})
    assert http.post(f"{sim.admin_url}/reset").json() == {"reset": True}
    assert http.get(url).status_code == 200
    assert http.get(f"{sim.admin_url}/stats").json()["total"] == 1


def test_unknown_routes(sim: SimServer, http: requests.Session) -> None:
    assert http.get(f"{sim.root_url}/ftx/api").status_code == 404
    assert http.get(f"{sim.admin_url}/nothing").status_code == 404
    assert http.get(f"{sim.urls['coinbase']}/orders").json() == {"message": "NotFound"}
    assert http.get(f"{sim.urls['kraken']}/0/public/Nope").json() == {"error": ["EGeneral:Unknown method"]}
    assert http.get(f"{sim.urls['binance']}/api/v3/depth").status_code == 404
