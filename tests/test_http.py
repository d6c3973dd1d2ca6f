"""The shared HTTP layer: pacing on a fake clock, retries and typed errors against a real
loopback server, durable bans."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.connectors import load_connector
from schemahub_lib.connectors.responses import decode_json
from schemahub_lib.errors import (
    BannedError,
    ConfigError,
    MalformedPageError,
    RateLimitedError,
    TerminalExchangeError,
    TransientExchangeError,
)
from schemahub_lib.http import (
    Ban,
    HttpResponse,
    JsonFileBanStore,
    Pacer,
    PacerRegistry,
    RateLimit,
    RetryPolicy,
    parse_retry_after,
)
from schemahub_lib.settings import load_settings
from tests.connectors.support import FakeClock, Loopback, Reply, make_client, running


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    with running() as server:
        yield server


def parse_json(response: HttpResponse) -> Any:
    return decode_json("test", response.url, response.body, json.loads)


# ----------------------------------------------------------------------------- pacing


def test_pacer_holds_its_rate_after_the_burst() -> None:
    clock = FakeClock(start=0.0)
    pacer = Pacer(RateLimit(10.0, burst=5.0), clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(45):
        pacer.acquire()
        starts.append(clock.now)
    assert starts[:5] == [0.0] * 5  # the burst
    assert clock.now == pytest.approx(4.0)  # 40 more at 10/s
    for i, t in enumerate(starts):  # no window holds more than burst + rate * length
        later = [u for u in starts[i:] if u < t + 1.0]
        assert len(later) <= 5 + 10


def test_pacer_shares_one_budget_between_threads() -> None:
    clock = FakeClock(start=0.0)
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:  # time stands still: each thread shows its reservation
        with lock:
            waits.append(seconds)

    pacer = Pacer(RateLimit(4.0, burst=2.0), clock=clock, sleep=record)
    threads = [threading.Thread(target=pacer.acquire) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([0.25 * n for n in range(1, 9)])  # 2 free, then queued


def test_pacer_hold_off_and_weight_costs() -> None:
    clock = FakeClock(start=0.0)
    pacer = Pacer(RateLimit(100.0, burst=250.0), clock=clock, sleep=clock.sleep)
    assert pacer.acquire(25) == 0.0
    pacer.hold_off(3.0)
    assert pacer.acquire(25) == pytest.approx(3.0)
    assert pacer.acquire(500) == pytest.approx(2.5)  # 200 + 300 refilled in 3 s, capped at 250


WEIGHT = RateLimit(100.0, burst=250.0, used_header="X-MBX-USED-WEIGHT-1M", window_limit=6000)


def test_pacer_syncs_with_the_servers_used_count() -> None:
    clock = FakeClock(start=0.0)
    pacer = Pacer(WEIGHT, clock=clock, sleep=clock.sleep)
    pacer.settle(0, used=5800)  # 5700 (95%) is our ceiling: 100 over
    assert pacer.acquire(25) == pytest.approx(1.25)


def test_pacer_leaves_room_for_requests_the_server_has_not_counted() -> None:
    clock = FakeClock(start=0.0)
    pacer = Pacer(WEIGHT, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert pacer.acquire(25) == 0.0  # three requests sent together
    pacer.settle(25, used=5600)  # the first answers; the other two will land on top of 5600
    assert pacer.acquire(25) == 0.0  # 5700 - 5600 - 50 in flight = 50 left
    assert pacer.acquire(50) == pytest.approx(0.25)
    pacer.settle(25, used=5650)
    pacer.settle(25, used=5675)
    pacer.settle(25, used=5700)
    pacer.settle(50, used=5750)
    assert pacer.acquire(25) == pytest.approx(0.75)  # 50 over the ceiling, nothing in flight


def test_client_reports_the_header_and_failed_requests_free_their_reservation(loopback: Loopback) -> None:
    loopback.route("/x", [Reply(200, b"[]", headers={"X-MBX-USED-WEIGHT-1M": "5800"})])
    client = make_client("binance", loopback.url, limit=WEIGHT)
    client.get("/x", None, parse_json, cost=25)
    assert client.pacer().acquire(25) == pytest.approx(1.25)

    with running() as server:
        closed = server.url
    failing = make_client("binance", closed, limit=WEIGHT, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TransientExchangeError):
        failing.get("/x", None, parse_json, cost=25)
    pacer = failing.pacer()
    pacer.settle(0, used=5600)  # nothing of ours in flight: 100 left, taken at once
    assert pacer.acquire(100) == 0.0


def test_unpaced_never_waits() -> None:
    clock = FakeClock()
    pacer = Pacer(RateLimit(None), clock=clock, sleep=clock.sleep)
    assert sum(pacer.acquire(1000) for _ in range(100)) == 0.0


def test_one_pacer_per_exchange_and_base_url_per_process() -> None:
    registry = PacerRegistry()
    settings = load_settings(env={})
    first = load_connector("coinbase", settings, pacers=registry).client  # type: ignore[attr-defined]
    second = load_connector("coinbase", settings, pacers=registry).client  # type: ignore[attr-defined]
    assert first.pacer() is second.pacer()
    assert first.pacer().limit == RateLimit(9.5, burst=5.0)
    other = load_connector(
        "coinbase", load_settings(env={}, exchange_urls={"coinbase": "http://127.0.0.1:1"}), pacers=registry
    )
    assert other.client.pacer() is not first.pacer()  # type: ignore[attr-defined]


def test_rate_limits_setting_overrides_or_disables_pacing() -> None:
    settings = load_settings(env={}, rate_limits={"binance": 2.0, "kraken": 0})
    binance = load_connector("binance", settings, pacers=PacerRegistry()).client  # type: ignore[attr-defined]
    assert binance.limit.per_second == 50.0  # 2 trade requests/s x weight 25
    assert binance.limit.used_header == "X-MBX-USED-WEIGHT-1M"
    kraken = load_connector("kraken", settings, pacers=PacerRegistry()).client  # type: ignore[attr-defined]
    assert kraken.limit.per_second is None
    default = load_connector("binance", load_settings(env={}), pacers=PacerRegistry()).client  # type: ignore[attr-defined]
    assert default.limit == RateLimit(
        95.0, burst=250.0, used_header="X-MBX-USED-WEIGHT-1M", window_limit=6000
    )


# ----------------------------------------------------------------------------- retries


def test_transient_errors_are_retried_with_capped_full_jitter(loopback: Loopback) -> None:
    loopback.route(
        "/x", [Reply(503, b"busy"), Reply(502, b"<html>bad gateway</html>"), Reply(200, b'{"ok":1}')]
    )
    clock = FakeClock()
    client = make_client(
        "test", loopback.url, clock=clock, retry=RetryPolicy(max_attempts=3, base_delay_s=0.5)
    )
    assert client.get("/x", {"a": "1"}, parse_json) == {"ok": 1}
    assert len(loopback.seen) == 3 and loopback.seen[0].query == {"a": "1"}
    assert len(clock.sleeps) == 2 and 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0
    counters = client.counters.snapshot()
    assert (counters["requests"], counters["retries"], counters["throttled"]) == (3, 2, 0)
    assert counters["bytes"] == len(b"busy") + len(b"<html>bad gateway</html>") + len(b'{"ok":1}')


def test_retry_after_is_honoured(loopback: Loopback) -> None:
    loopback.route(
        "/x",
        [Reply(429, b'{"message":"Public rate limit exceeded"}', {"Retry-After": "3"}), Reply(200, b"[]")],
    )
    clock = FakeClock()
    client = make_client("test", loopback.url, clock=clock, limit=RateLimit(100.0, burst=10.0))
    assert client.get("/x", None, parse_json) == []
    assert clock.sleeps[0] >= 3.0
    assert client.counters.snapshot()["throttled"] == 1


def test_retry_after_longer_than_allowed_propagates_at_once(loopback: Loopback) -> None:
    loopback.route("/x", [Reply(429, b"slow down", {"Retry-After": "3600"})])
    client = make_client("test", loopback.url, retry=RetryPolicy(max_attempts=5, max_retry_after_s=120))
    with pytest.raises(RateLimitedError) as info:
        client.get("/x", None, parse_json)
    assert info.value.retry_after == 3600 and len(loopback.seen) == 1


def test_gives_up_after_max_attempts_with_the_typed_error(loopback: Loopback) -> None:
    loopback.route("/x", [Reply(500, b'{"message":"Internal Server Error"}')])
    client = make_client("test", loopback.url, retry=RetryPolicy(max_attempts=4))
    with pytest.raises(TransientExchangeError) as info:
        client.get("/x", None, parse_json)
    error = info.value
    assert len(loopback.seen) == 4
    assert (error.exchange, error.status, error.url) == ("test", 500, f"{loopback.url}/x")
    assert (
        str(error)
        == f'test {loopback.url}/x (HTTP 500): server error; body: \'{{"message":"Internal Server Error"}}\''
    )
    assert error.__notes__ == [f"gave up after 4 attempt(s) to {loopback.url}/x"]


def test_malformed_pages_are_retried_then_reported(loopback: Loopback) -> None:
    loopback.route(
        "/x", [Reply(200, b"<html><body>Service Unavailable</body></html>"), Reply(200, b'{"a": [1, 2')]
    )
    client = make_client("test", loopback.url, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(MalformedPageError, match="not valid JSON") as info:
        client.get("/x", None, parse_json)
    assert len(loopback.seen) == 3
    assert info.value.body_snippet == '{"a": [1, 2'


def test_client_errors_are_terminal_and_not_retried(loopback: Loopback) -> None:
    loopback.route("/x", [Reply(404, b'{"message":"NotFound"}')])
    with pytest.raises(TerminalExchangeError, match="HTTP 404") as info:
        make_client("test", loopback.url).get("/x", None, parse_json)
    assert "NotFound" in str(info.value) and len(loopback.seen) == 1


def test_read_timeouts_are_transient(loopback: Loopback) -> None:
    loopback.route("/x", [Reply(200, b"[]", delay_s=0.3)])
    client = make_client("test", loopback.url, retry=RetryPolicy(max_attempts=2), timeout=(1.0, 0.05))
    with pytest.raises(TransientExchangeError, match="timed out"):
        client.get("/x", None, parse_json)
    assert client.counters.snapshot()["requests"] == 2


def test_cut_off_transfers_are_transient(loopback: Loopback) -> None:
    loopback.route("/x", [Reply(200, b'[{"trade_id":1}', content_length=500), Reply(200, b"[]")])
    client = make_client("test", loopback.url, retry=RetryPolicy(max_attempts=2))
    assert client.get("/x", None, parse_json) == []
    assert client.counters.snapshot()["retries"] == 1


def test_connection_refused_is_transient() -> None:
    with running() as server:
        url = server.url
    client = make_client("test", url, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TransientExchangeError, match="connection failed"):
        client.get("/x", None, parse_json)


def test_invalid_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid base URL"):
        make_client("test", "api.example.com").get("/x", None, parse_json)


def test_keep_alive_reuses_one_connection(loopback: Loopback) -> None:
    loopback.route("/x", [Reply(200, b"[]")])
    client = make_client("test", loopback.url)
    for _ in range(3):
        client.get("/x", None, parse_json)
    assert len({s.port for s in loopback.seen}) == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", 0.0) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_470.0) == 10.0
    assert parse_retry_after(None, 0.0) is None
    assert parse_retry_after("soon", 0.0) is None


# ----------------------------------------------------------------------------- bans


def test_json_ban_store_is_durable_atomic_and_keeps_the_longest_ban(tmp_path: Path) -> None:
    clock = FakeClock(start=1000.0)
    path = tmp_path / "bans.json"
    store = JsonFileBanStore(path, clock=clock)
    assert store.get("binance https://api.binance.com") is None
    store.put("binance https://api.binance.com", Ban(5000.0, "HTTP 418", 1000.0))
    store.put("binance https://api.binance.com", Ban(2000.0, "HTTP 418 again", 1001.0))
    store.put("old", Ban(500.0, "expired", 1.0))
    fresh = JsonFileBanStore(path, clock=clock)  # another process
    assert fresh.get("binance https://api.binance.com") == Ban(5000.0, "HTTP 418", 1000.0)
    fresh.put("kraken x", Ban(3000.0, "r", 1000.0))
    assert set(json.loads(path.read_text())) == {"binance https://api.binance.com", "kraken x"}
    assert store.get("kraken x") == Ban(3000.0, "r", 1000.0)  # sees the other writer's change
    assert [p.name for p in tmp_path.iterdir()] == ["bans.json"]  # no temp files left


def test_unreadable_ban_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bans.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable ban file"):
        JsonFileBanStore(path).get("binance x")


def test_a_ban_blocks_every_request_of_that_exchange_and_url(loopback: Loopback) -> None:
    loopback.route(
        "/x",
        [
            Reply(
                418,
                b'{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000300000."}',
            )
        ],
    )
    clock = FakeClock(start=1_700_000_000.0)
    client = make_client("binance", loopback.url, clock=clock)
    with pytest.raises(BannedError, match="IP banned until 2023-11-14T22:18:20Z"):
        client.get("/x", None, parse_json)
    with pytest.raises(BannedError, match="not calling the exchange"):
        client.get("/y", None, parse_json)
    assert len(loopback.seen) == 1
    clock.now = 1_700_000_301.0  # the ban is over
    loopback.route("/x", [Reply(200, b"[]")])
    assert client.get("/x", None, parse_json) == []


def test_a_ban_time_already_past_means_clock_skew_and_bans_for_the_default(loopback: Loopback) -> None:
    loopback.route("/x", [Reply(418, b'{"code":-1003,"msg":"IP banned until 1660090423228."}')])
    clock = FakeClock(start=1_700_000_000.0)  # a year after the body's "until"
    with pytest.raises(BannedError) as info:
        make_client("binance", loopback.url, clock=clock).get("/x", None, parse_json)
    assert info.value.until_epoch_s == 1_700_000_000.0 + 120
