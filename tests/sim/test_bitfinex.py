"""The Bitfinex venue answers like the recorded Bitfinex rows and pages by time as documented."""

from __future__ import annotations

import re
import time
from collections import Counter

import requests

from schemahub_lib.sim.config import LimitConfig
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.sim.conftest import load_fixture

MS = 1_000_000


def hist(
    sim: SimServer, http: requests.Session, symbol: str = "tBTCUSD", **params: object
) -> requests.Response:
    return http.get(f"{sim.urls['bitfinex']}/v2/trades/{symbol}/hist", params=params)


def test_rows_match_the_recorded_rows(sim: SimServer, http: requests.Session) -> None:
    recorded = load_fixture("bitfinex/trades_tCHZUST_2021-04-05_ws-snapshot_cryptofeed.json")
    r = hist(sim, http)
    rows = r.json()
    assert r.status_code == 200 and len(rows) == 125  # the default limit
    assert {len(row) for row in rows} == {len(recorded[0])} == {4}
    assert all(type(row[0]) is int and type(row[1]) is int for row in rows)
    ids = [row[0] for row in rows]
    assert ids == sorted(ids, reverse=True)  # sort=-1 by default: newest first
    assert {row[2] > 0 for row in rows} == {True, False}  # signed AMOUNT: both takers
    # Numbers as JSON numbers, written shortest: no padding zeros in a fraction, none at all if whole.
    assert all(re.fullmatch(rb"-?[0-9]+(\.[0-9]*[1-9])?", n) for n in re.findall(rb"[-0-9.]+", r.content))


def test_start_is_inclusive_and_one_millisecond_holds_many_trades(
    sim: SimServer, http: requests.Session
) -> None:
    truth = sim.truth("bitfinex", "tBTCUSD")
    per_ms = Counter((truth.time_ns // MS).tolist())
    ms, count = per_ms.most_common(1)[0]
    assert count >= 4  # one taker order sweeping several makers in one millisecond
    rows = hist(sim, http, start=ms, sort=1, limit=count + 1).json()
    assert [row[1] for row in rows[:count]] == [ms] * count  # MTS >= start, oldest first
    expected = truth.trade_id[truth.time_ns // MS >= ms][: count + 1].tolist()
    assert [row[0] for row in rows] == expected
    ended = hist(sim, http, start=ms, end=ms, sort=1, limit=100).json()
    assert [row[0] for row in ended] == expected[:count]  # MTS <= end


def test_errors_and_pairs(sim: SimServer, http: requests.Session) -> None:
    bad = hist(sim, http, limit=10001)
    assert (bad.status_code, bad.json()) == (500, ["error", 10020, "limit: invalid"])
    assert hist(sim, http, symbol="tNOPEUSD").json() == ["error", 10020, "symbol: invalid"]
    pairs = http.get(f"{sim.urls['bitfinex']}/v2/conf/pub:list:pair:exchange").json()
    recorded = load_fixture("bitfinex/conf_pub_list_pair_exchange_2021-04-17_cryptofeed.json")
    assert set(pairs[0]) <= set(recorded[0]) and "BTCUST" in pairs[0]


def test_fifteen_a_minute_then_blocked(http: requests.Session) -> None:
    with running_sim(limits=LimitConfig(mode="scale", scale=0.02)) as sim:  # minute = 1.2 s, block 1.2 s
        url = f"{sim.urls['bitfinex']}/v2/trades/tBTCUSD/hist"
        time.sleep(1.2 - time.monotonic() % 1.2)
        statuses = [http.get(url, params={"limit": 1}).status_code for _ in range(17)]
        assert statuses[:15] == [200] * 15 and statuses[15:] == [429, 429]
        assert http.get(url, params={"limit": 1}).json() == {"error": "ERR_RATE_LIMIT"}
        time.sleep(1.3)
        assert http.get(url, params={"limit": 1}).status_code == 200
