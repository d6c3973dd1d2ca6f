"""The OKX venue answers like the recorded OKX responses and pages as the docs say."""

from __future__ import annotations

import re
import time

import requests

from schemahub_lib.sim.config import LimitConfig
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.sim.conftest import load_fixture

PATH = "/api/v5/market/history-trades"


def history(sim: SimServer, http: requests.Session, **params: object) -> requests.Response:
    return http.get(f"{sim.urls['okx']}{PATH}", params={"instId": "BTC-USDT", **params})


def test_trades_match_the_recorded_objects(sim: SimServer, http: requests.Session) -> None:
    recorded = load_fixture("okx/trades_BTC-USDT_2025-05-12_nautilus.json")
    docs = load_fixture("okx/history-trades_BTC-USDT_DOCS-EXAMPLE_okx-docs-v5.json")
    r = history(sim, http)
    page = r.json()
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert list(page) == list(docs) == ["code", "msg", "data"] and page["code"] == "0"
    trades = page["data"]
    assert len(trades) == 100  # default and maximum
    assert list(trades[0]) == list(docs["data"][0])  # the documented key order, with `source`
    assert set(recorded["data"][0]) <= set(trades[0])
    assert all(type(v) is str for t in trades for v in t.values())  # every value a string
    ids = [int(t["tradeId"]) for t in trades]
    assert ids == list(range(ids[0], ids[0] - 100, -1))  # newest first, consecutive
    assert {t["side"] for t in trades} == {"buy", "sell"}
    # Decimals without padding zeros, like the recorded "102537.9" and "0.0000125".
    assert all(re.fullmatch(r"[0-9]+(\.[0-9]*[1-9])?", t[k]) for t in trades for k in ("px", "sz"))


def test_after_pages_older_and_before_alone_serves_the_latest(sim: SimServer, http: requests.Session) -> None:
    truth = sim.truth("okx", "BTC-USDT")
    ids = truth.trade_id.tolist()
    older = [int(t["tradeId"]) for t in history(sim, http, after=ids[500], limit=5).json()["data"]]
    assert older == ids[495:500][::-1]  # tradeId < after, newest first
    # `before` alone: the latest trades above it, not the ones just above (docs).
    newer = [int(t["tradeId"]) for t in history(sim, http, before=ids[500], limit=5).json()["data"]]
    assert newer == ids[-5:][::-1]
    both = [int(t["tradeId"]) for t in history(sim, http, before=ids[500], after=ids[503]).json()["data"]]
    assert both == [ids[502], ids[501]]
    by_time = history(sim, http, type=2, after=int(truth.time_ns[300]) // 1_000_000, limit=3).json()["data"]
    assert all(int(t["ts"]) * 1_000_000 < int(truth.time_ns[300]) for t in by_time)


def test_errors_carry_okx_codes(sim: SimServer, http: requests.Session) -> None:
    assert history(sim, http, limit=101).json() == {
        "code": "51000",
        "msg": "Parameter limit error",
        "data": [],
    }
    unknown = http.get(f"{sim.urls['okx']}{PATH}", params={"instId": "NOPE-USDT"})
    assert (unknown.status_code, unknown.json()["code"]) == (200, "51001")
    instruments = http.get(f"{sim.urls['okx']}/api/v5/public/instruments", params={"instType": "SPOT"}).json()
    recorded = load_fixture("okx/instruments_SPOT_nautilus.json")["data"][1]
    assert set(instruments["data"][0]) == set(recorded) and {i["state"] for i in instruments["data"]} == {
        "live"
    }


def test_twenty_requests_per_two_seconds_then_the_recorded_429(http: requests.Session) -> None:
    with running_sim(limits=LimitConfig(mode="scale", scale=0.5)) as sim:  # windows of 1 s
        url = f"{sim.urls['okx']}{PATH}"
        time.sleep(1.0 - time.monotonic() % 1.0)  # start at a window's beginning
        statuses = [http.get(url, params={"instId": "BTC-USDT", "limit": 1}).status_code for _ in range(22)]
        assert statuses[:20] == [200] * 20 and statuses[20:] == [429, 429]
        refused = http.get(url, params={"instId": "BTC-USDT", "limit": 1})
        assert refused.content == b'{"msg":"Too Many Requests","code":"50011"}'
        assert refused.json() == load_fixture("okx/error_429_rate_limit_nautilus.json")
        time.sleep(1.0 - time.monotonic() % 1.0)
        assert http.get(url, params={"instId": "BTC-USDT", "limit": 1}).status_code == 200
