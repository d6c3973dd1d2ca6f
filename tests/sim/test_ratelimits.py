"""Each venue's rate limit, enforced as the venue does it, with Retry-After where the venue sends it.

Limits run on real time; `LimitConfig(mode="scale")` shrinks every time constant so these tests
see refusals, bans and recoveries within a second.
"""

from __future__ import annotations

import time

import requests

from schemahub_lib.sim.config import LimitConfig
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim


def test_coinbase_token_bucket_10_per_second_burst_15(http: requests.Session) -> None:
    # scale 2: refills at 5/s (slow enough that a busy machine does not blur the burst), burst 15.
    with running_sim(limits=LimitConfig(mode="scale", scale=2.0)) as sim:
        url = f"{sim.urls['coinbase']}/products/BTC-USD/trades?limit=1"
        statuses = [http.get(url).status_code for _ in range(30)]
        first_refusal = statuses.index(429)
        assert 15 <= first_refusal <= 18 and statuses.count(429) >= 8
        refused = http.get(url)
        assert refused.json() == {"message": "Public rate limit exceeded"}
        assert "Retry-After" not in refused.headers  # Coinbase documents none
        time.sleep(0.45)  # two tokens at 5/s
        assert [http.get(url).status_code for _ in range(2)] == [200, 200]


def test_binance_weight_429_then_escalating_418_bans(http: requests.Session) -> None:
    limits = LimitConfig(
        mode="scale", scale=0.01, binance_weight_limit=100, binance_ban_after=2, binance_ban_s=40
    )
    with running_sim(limits=limits) as sim:
        url = f"{sim.urls['binance']}/api/v3/trades?symbol=BTCUSDT&limit=1"
        window_s = 60 * 0.01
        # Windows align to wall-clock multiples; start at one so the requests below share it.
        time.sleep(window_s - time.time() % window_s)
        used = [int(http.get(url).headers["X-MBX-USED-WEIGHT-1M"]) for _ in range(4)]
        assert used == [25, 50, 75, 100]
        throttled = http.get(url)
        assert throttled.status_code == 429 and throttled.json()["code"] == -1003
        assert throttled.json()["msg"].startswith(
            "Too much request weight used; current limit is 100 request weight"
        )
        assert 0 < float(throttled.headers["Retry-After"]) <= window_s
        assert [http.get(url).status_code for _ in range(2)] == [429, 429]
        banned = http.get(url)  # the third request after the first 429 in the same window
        assert banned.status_code == 418 and "IP banned until" in banned.json()["msg"]
        first_ban = float(banned.headers["Retry-After"])
        assert abs(first_ban - 0.4) < 0.01  # 40 s x 0.01
        until_ms = int(banned.json()["msg"].split("until ")[1].split(".")[0])
        assert abs(until_ms / 1000 - time.time() - first_ban) < 0.3
        assert http.get(url).status_code == 418
        # After the ban, a fresh weight window lets requests through again.
        time.sleep(first_ban + 0.01)
        time.sleep(window_s - time.time() % window_s)
        statuses = [http.get(url).status_code for _ in range(9)]
        assert statuses[:4] == [200] * 4 and statuses[7:] == [418, 418]
        second = http.get(url)
        assert second.status_code == 418 and float(second.headers["Retry-After"]) > 0.6  # doubled: 0.8 s


def test_binance_retry_after_is_whole_seconds_with_real_limits(http: requests.Session) -> None:
    with running_sim(limits=LimitConfig(mode="real", binance_weight_limit=40)) as sim:
        url = f"{sim.urls['binance']}/api/v3/historicalTrades?symbol=ETHUSDT&limit=1"
        responses = [http.get(url) for _ in range(2)]
        if responses[1].status_code == 200:  # crossed a minute boundary between the two
            responses.append(http.get(url))
        refused = responses[-1]
        assert refused.status_code == 429
        assert refused.headers["Retry-After"].isdigit() and 1 <= int(refused.headers["Retry-After"]) <= 60


def test_kraken_limits_trades_per_pair_with_an_in_band_error(http: requests.Session) -> None:
    # scale 0.5: refills at 2/s, burst 3, blocked for 1 s after an excess.
    with running_sim(limits=LimitConfig(mode="scale", scale=0.5)) as sim:
        url = f"{sim.urls['kraken']}/0/public/Trades"
        bodies = [http.get(url, params={"pair": "XBTUSD", "count": "1"}) for _ in range(4)]
        refused_at = time.monotonic()
        bodies.append(http.get(url, params={"pair": "XBTUSD", "count": "1"}))
        assert [r.status_code for r in bodies] == [200] * 5
        errors = [r.json()["error"] for r in bodies]
        assert errors[:3] == [[], [], []]  # burst of 3
        assert errors[3] == errors[4] == ["EGeneral:Too many requests"]
        assert "result" not in bodies[3].json()
        other_pair = http.get(url, params={"pair": "ETHUSD", "count": "1"}).json()
        assert other_pair["error"] == []  # limited per pair
        time.sleep(max(0.0, refused_at + 0.5 - time.monotonic()))
        # Refilled by now, but Kraken keeps the pair blocked for a while after an excess.
        assert http.get(url, params={"pair": "XBTUSD"}).json()["error"] == ["EGeneral:Too many requests"]
        time.sleep(max(0.0, refused_at + 1.3 - time.monotonic()))
        assert http.get(url, params={"pair": "XBTUSD"}).json()["error"] == []


def test_limits_can_be_switched_off_at_run_time(http: requests.Session) -> None:
    with running_sim(limits=LimitConfig(mode="scale", scale=1.0)) as sim:
        url = f"{sim.urls['coinbase']}/products/BTC-USD/trades?limit=1"
        assert 429 in [http.get(url).status_code for _ in range(20)]
        r = http.post(f"{sim.admin_url}/limits", json={"mode": "off"})
        assert r.json()["mode"] == "off"
        assert {http.get(url).status_code for _ in range(50)} == {200}
        assert sim.stats.snapshot()["refused"]["coinbase"] >= 1
        sim.set_limits("real")  # in-process: fresh buckets with the documented limits
        statuses = [http.get(url).status_code for _ in range(20)]
        assert statuses[:15] == [200] * 15 and 429 in statuses


def test_unthrottled_by_default_in_tests(sim: SimServer, http: requests.Session) -> None:
    kraken = f"{sim.urls['kraken']}/0/public/Trades?pair=XBTUSD&count=1"
    binance = f"{sim.urls['binance']}/api/v3/trades?symbol=BTCUSDT&limit=1"
    assert {http.get(kraken).json()["error"] == [] for _ in range(20)} == {True}
    # Unthrottled, the weight is still counted and reported.
    weights = [int(http.get(binance).headers["X-MBX-USED-WEIGHT-1M"]) for _ in range(3)]
    assert all(w > 0 and w % 25 == 0 for w in weights)
