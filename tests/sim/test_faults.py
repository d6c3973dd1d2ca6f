"""Every fault kind, its schedule, and what ground truth records about it."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import pytest
import requests

from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.catalog import EXCHANGES
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim

TRADE_URLS = {
    "coinbase": "products/BTC-USD/trades?limit=100",
    "binance": "api/v3/historicalTrades?symbol=BTCUSDT&limit=100",
    "kraken": "0/public/Trades?pair=XBTUSD&count=100",
    "okx": "api/v5/market/history-trades?instId=BTC-USDT&limit=100",
    "bitfinex": "v2/trades/tBTCUSD/hist?limit=100",
}
PRODUCT = {
    "coinbase": "BTC-USD",
    "binance": "BTCUSDT",
    "kraken": "XBTUSD",
    "okx": "BTC-USDT",
    "bitfinex": "tBTCUSD",
}


def trades_of(exchange: str, body: object) -> list[object]:
    if exchange == "kraken":
        assert isinstance(body, dict)
        return next(v for k, v in body["result"].items() if k != "last")
    if exchange == "okx":
        assert isinstance(body, dict)
        return list(body["data"])
    assert isinstance(body, list)
    return body


def trade_id(exchange: str, trade: object) -> object:
    if exchange == "kraken":
        assert isinstance(trade, list)
        return trade[6] if len(trade) == 7 else None
    if exchange == "bitfinex":
        assert isinstance(trade, list)
        return trade[0] if len(trade) == 4 else None
    assert isinstance(trade, dict)
    if exchange == "okx":
        return None if "tradeId" not in trade else int(trade["tradeId"])
    return trade.get("trade_id" if exchange == "coinbase" else "id")


def price_of(exchange: str, trade: object) -> str:
    if isinstance(trade, list):
        return str(trade[-1] if exchange == "bitfinex" else trade[0])  # PRICE is last
    assert isinstance(trade, dict)
    return str(trade["px" if exchange == "okx" else "price"])


@pytest.mark.parametrize(
    ("exchange", "status", "body"),
    [
        ("coinbase", 500, {"message": "Internal server error"}),
        ("binance", 500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}),
        ("kraken", 200, {"error": ["EService:Unavailable"]}),
    ],
)
def test_server_errors_in_each_venue_voice(
    sim: SimServer, http: requests.Session, exchange: str, status: int, body: object
) -> None:
    sim.faults.add({"kind": "server_error", "exchange": exchange, "count": 2})
    url = f"{sim.urls[exchange]}/{TRADE_URLS[exchange]}"
    answers = [http.get(url) for _ in range(3)]
    assert [(r.status_code, r.json()) for r in answers[:2]] == [(status, body)] * 2
    assert answers[2].status_code == 200 and len(trades_of(exchange, answers[2].json())) == 100


def test_rate_limit_faults_carry_retry_after(sim: SimServer, http: requests.Session) -> None:
    sim.faults.add({"kind": "rate_limit", "exchange": "binance", "retry_after": 7})
    sim.faults.add({"kind": "rate_limit", "exchange": "coinbase", "retry_after": 3})
    r = http.get(f"{sim.urls['binance']}/{TRADE_URLS['binance']}")
    assert (r.status_code, r.json()["code"], r.headers["Retry-After"]) == (429, -1003, "7")
    r = http.get(f"{sim.urls['coinbase']}/{TRADE_URLS['coinbase']}")
    assert (r.status_code, r.headers["Retry-After"]) == (429, "3")


def test_html_error_page(sim: SimServer, http: requests.Session) -> None:
    sim.faults.add({"kind": "html", "exchange": "kraken"})
    r = http.get(f"{sim.urls['kraken']}/{TRADE_URLS['kraken']}")
    assert r.status_code == 502 and r.headers["Content-Type"] == "text/html"
    assert "<center>cloudflare</center>" in r.text
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


def test_timeout_answers_after_the_client_gave_up(sim: SimServer, http: requests.Session) -> None:
    sim.faults.add({"kind": "timeout", "exchange": "coinbase", "delay_s": 1.0})
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(f"{sim.urls['coinbase']}/{TRADE_URLS['coinbase']}", timeout=0.2)
    with requests.Session() as fresh:  # the stalled connection is still busy
        assert fresh.get(f"{sim.urls['coinbase']}/{TRADE_URLS['coinbase']}", timeout=5).status_code == 200


def test_disconnect_and_short_read(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['binance']}/{TRADE_URLS['binance']}"
    sim.faults.add({"kind": "disconnect", "exchange": "binance"})
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(url)
    sim.faults.add({"kind": "truncated", "exchange": "binance", "mode": "short_read"})
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(url)
    assert len(http.get(url).json()) == 100


def test_truncated_json(sim: SimServer, http: requests.Session) -> None:
    sim.faults.add({"kind": "truncated", "exchange": "kraken", "fraction": 0.3})
    r = http.get(f"{sim.urls['kraken']}/{TRADE_URLS['kraken']}")
    full = http.get(f"{sim.urls['kraken']}/{TRADE_URLS['kraken']}")
    assert r.status_code == 200 and len(r.content) == int(len(full.content) * 0.3)
    assert full.content.startswith(r.content)
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_repeat_serves_the_previous_page_again(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['coinbase']}/products/BTC-USD/trades"
    first = http.get(url, params={"limit": "50"})
    sim.faults.add({"kind": "repeat", "exchange": "coinbase"})
    again = http.get(url, params={"limit": "50", "after": first.headers["CB-AFTER"]})
    assert again.content == first.content and again.headers["CB-AFTER"] == first.headers["CB-AFTER"]
    honest = http.get(url, params={"limit": "50", "after": first.headers["CB-AFTER"]})
    assert honest.json()[0]["trade_id"] == int(first.headers["CB-AFTER"]) - 1


def test_overlap_shifts_the_window_back(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['binance']}/api/v3/historicalTrades"
    truth = sim.truth("binance", "ETHUSDT")
    start = int(truth.trade_id[500])
    sim.faults.add({"kind": "overlap", "exchange": "binance", "shift": 10})
    page = http.get(url, params={"symbol": "ETHUSDT", "fromId": str(start), "limit": "20"}).json()
    assert [t["id"] for t in page] == truth.trade_id[490:510].tolist()


def test_drop_swallows_existing_trades_and_truth_knows(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['coinbase']}/products/SOL-USD/trades"
    sim.faults.add({"kind": "drop", "exchange": "coinbase", "product": "sol-usd", "drop": 3})
    r = http.get(url, params={"limit": "100"})
    ids = [t["trade_id"] for t in r.json()]
    truth = sim.truth("coinbase", "SOL-USD")
    expected = truth.trade_id[::-1][:100].tolist()
    missing = sorted(set(expected) - set(ids))
    assert len(ids) == 97 and len(missing) == 3
    assert missing == truth.hidden and missing == list(range(missing[0], missing[0] + 3))
    assert set(missing) <= set(truth.trade_id.tolist())  # they do exist
    assert (r.headers["CB-BEFORE"], r.headers["CB-AFTER"]) == (str(expected[0]), str(expected[-1]))
    assert sim.truth("coinbase", "ETH-USD").hidden == []


INVALID_CHECKS = {
    "price_text": lambda price, tid, row: not _is_number(price),
    "price_zero": lambda price, tid, row: Decimal(price) == 0,
    "price_negative": lambda price, tid, row: Decimal(price) < 0,
    "missing_id": lambda price, tid, row: tid is None,
}


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


@pytest.mark.parametrize("variant", ["price_text", "price_zero", "price_negative", "missing_id", "time_unit"])
@pytest.mark.parametrize("exchange", EXCHANGES)
def test_invalid_records_on_request(
    sim: SimServer, http: requests.Session, exchange: str, variant: str
) -> None:
    url = f"{sim.urls[exchange]}/{TRADE_URLS[exchange]}"
    clean = trades_of(exchange, http.get(url).json())
    sim.faults.add({"kind": "invalid", "exchange": exchange, "variant": variant})
    bent = trades_of(exchange, http.get(url).json())
    assert len(bent) == len(clean) == 100
    changed = [(a, b) for a, b in zip(clean, bent, strict=True) if a != b]
    assert len(changed) == 1
    good, bad = changed[0]
    truth = sim.truth(exchange, PRODUCT[exchange])
    assert list(truth.corrupted.items()) == [(trade_id(exchange, good), variant)]
    price = price_of(exchange, bad)
    if variant == "time_unit":
        if exchange == "coinbase":
            assert bad["time"].isdigit() and len(bad["time"]) == 13  # type: ignore[index]
        elif exchange == "binance":
            assert bad["time"] == good["time"] * 1000  # type: ignore[index]
        elif exchange == "okx":
            assert int(bad["ts"]) == int(good["ts"]) // 1000  # type: ignore[index]  # seconds
        elif exchange == "bitfinex":
            assert bad[1] == good[1] // 1000  # type: ignore[index]  # seconds
        else:
            assert bad[2] > good[2] * 999  # type: ignore[index]
    else:
        assert INVALID_CHECKS[variant](price, trade_id(exchange, bad), bad)


def test_schedule_skip_count_and_product(sim: SimServer, http: requests.Session) -> None:
    url = f"{sim.urls['coinbase']}/products/{{}}/trades?limit=1"
    rule = sim.faults.add({"kind": "server_error", "exchange": "coinbase", "product": "ETH-USD", "skip": 2})
    statuses = [
        http.get(url.format(p)).status_code for p in ["ETH-USD", "BTC-USD", "ETH-USD", "ETH-USD", "ETH-USD"]
    ]
    assert statuses == [200, 200, 200, 500, 200]  # the 3rd ETH-USD request only
    assert (rule.seen, rule.fired) == (4, 1)


def test_random_faults_are_seeded(http: requests.Session) -> None:
    patterns = []
    for _ in range(2):
        with running_sim(seed=5) as sim:
            sim.faults.add({"kind": "server_error", "exchange": "kraken", "rate": 0.3, "count": None})
            url = f"{sim.urls['kraken']}/0/public/Trades?pair=XBTUSD&count=1"
            patterns.append([http.get(url).json()["error"] != [] for _ in range(40)])
    assert patterns[0] == patterns[1]
    assert 4 <= sum(patterns[0]) <= 24


def test_faults_over_http(sim: SimServer, http: requests.Session) -> None:
    admin = f"{sim.admin_url}/faults"
    r = http.post(admin, json={"rules": [{"kind": "html", "exchange": "binance", "count": 1, "status": 503}]})
    assert r.status_code == 200 and r.json()["rules"][0]["id"] >= 1
    assert http.get(f"{sim.urls['binance']}/{TRADE_URLS['binance']}").status_code == 503
    listed = http.get(admin).json()["rules"]
    assert [(x["kind"], x["fired"]) for x in listed] == [("html", 1)]
    bad = http.post(admin, json={"kind": "meteor", "exchange": "binance"})
    assert bad.status_code == 400 and "meteor" in bad.json()["error"]
    assert http.delete(admin).json() == {"rules": []} and sim.faults.rules() == []


def test_fault_rules_are_validated() -> None:
    with running_sim() as sim:
        for rule in (
            {"kind": "ban", "exchange": "kraken"},
            {"kind": "invalid", "exchange": "kraken", "variant": "nope"},
            {"kind": "drop", "exchange": "kraken", "rate": 0},
            {"kind": "drop", "exchange": "ftx"},
            {"kind": "drop"},
            {"kind": "drop", "exchange": "kraken", "colour": "red"},
        ):
            with pytest.raises(ConfigError):
                sim.faults.add(rule)


def test_ids_never_issued_are_known_to_truth(http: requests.Session) -> None:
    with running_sim(id_gap_rate={"binance": 0.01}) as sim:
        truth = sim.truth("binance", "SOLUSDT")
        url = f"{sim.urls['binance']}/api/v3/historicalTrades"
        seen: list[int] = []
        from_id = int(truth.trade_id[0])
        while True:
            page = http.get(url, params={"symbol": "SOLUSDT", "fromId": str(from_id), "limit": "1000"}).json()
            if not page:
                break
            seen += [t["id"] for t in page]
            from_id = page[-1]["id"] + 1
        gaps = sorted(set(range(seen[0], seen[-1] + 1)) - set(seen))
        assert seen == truth.trade_id.tolist()
        assert len(gaps) > 20 and gaps == truth.never_issued
        params = {"exchange": "binance", "product": "SOLUSDT", "summary": "1"}
        assert http.get(f"{sim.admin_url}/truth", params=params).json()["never_issued"] == gaps


def test_a_trade_hidden_once_and_served_later_is_not_hidden(sim: SimServer, http: requests.Session) -> None:
    """`hidden` means not delivered since: a client asking again and getting the trade must
    land it, so truth must not excuse it. `dropped` still lists every trade a fault swallowed."""
    url = f"{sim.urls['binance']}/api/v3/historicalTrades"
    start = int(sim.truth("binance", "ETHUSDT").trade_id[500])
    params = {"symbol": "ETHUSDT", "fromId": str(start), "limit": "20"}
    sim.faults.add({"kind": "drop", "exchange": "binance", "drop": 3})
    bent = [t["id"] for t in http.get(url, params=params).json()]
    swallowed = sorted(set(range(start, start + 20)) - set(bent))
    assert len(swallowed) == 3 and sim.truth("binance", "ETHUSDT").hidden == swallowed

    # A timed-out or cut-short answer delivers nothing: the trades stay hidden.
    sim.faults.add({"kind": "truncated", "exchange": "binance"})
    assert http.get(url, params=params).status_code == 200
    assert sim.truth("binance", "ETHUSDT").hidden == swallowed

    again = [t["id"] for t in http.get(url, params=params).json()]
    assert set(swallowed) <= set(again)
    truth = sim.truth("binance", "ETHUSDT")
    assert truth.hidden == [] and truth.dropped == swallowed


def test_a_trade_served_only_before_the_fault_hid_it_stays_hidden(
    sim: SimServer, http: requests.Session
) -> None:
    """The client that got the earlier answer may not have kept it (a backfill killed before
    its flush); the one asking after it got the page without the trades."""
    url = f"{sim.urls['coinbase']}/products/SOL-USD/trades"
    whole = [t["trade_id"] for t in http.get(url, params={"limit": "100"}).json()]
    sim.faults.add({"kind": "drop", "exchange": "coinbase", "drop": 3})
    bent = [t["trade_id"] for t in http.get(url, params={"limit": "100"}).json()]
    assert len(bent) == 97 and set(bent) < set(whole)
    truth = sim.truth("coinbase", "SOL-USD")
    assert truth.hidden == truth.dropped == sorted(set(whole) - set(bent))
    http.get(url, params={"limit": "100"})
    assert sim.truth("coinbase", "SOL-USD").hidden == []
