"""Following streams (`run_ingest(..., follow=Follow(...))`, what `schemahub explore --live`
runs): an error no retry recovered ends the stream `failed` with its error, the run exits 1 and
`schemahub status` says so, during the session and after it; a walk that failed and a later
one that landed everything from the watermark on end `ok`, with the outage noted; errors the
HTTP retries absorbed leave no trace."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.landing.ingest import Follow, IngestOptions, IngestReport, run_ingest
from schemahub_lib.landing.stream import StreamRun
from schemahub_lib.ops.status import StreamStatus, run_status
from schemahub_lib.settings import Settings
from schemahub_lib.sim.config import LimitConfig, SimConfig
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.landing.conftest import RAW_ID_COLUMN, STREAMS, assert_exact, raw_rows
from tests.registry import seed_text

FOLLOWED = ("binance", "kraken")


@pytest.fixture
def live_sim() -> Iterator[SimServer]:
    """A simulator on the real clock (following walks up to the wall clock's now)."""
    config = SimConfig(
        seed=5, clock="real", history_s=300, spike_offset_s=None, limits=LimitConfig(mode="off")
    )
    with running_sim(config) as sim:
        yield sim


@pytest.fixture
def follow_settings(settings: Settings, live_sim: SimServer, tmp_path: Path) -> Settings:
    seed = tmp_path / "seed.yaml"
    seed.write_text(seed_text(FOLLOWED))
    return dataclasses.replace(
        settings,
        exchange_urls=dict(live_sim.urls),
        rate_limits=dict.fromkeys(STREAMS, 0),
        seed_path=str(seed),
    )


class Following:
    """`run_ingest` following FOLLOWED in a thread; `errors` are what `on_error` was handed."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.stop = threading.Event()
        self.errors: list[tuple[str, Exception]] = []
        self.pages: dict[str, int] = dict.fromkeys(FOLLOWED, 0)
        self.report: IngestReport | None = None
        defaults = {"cold_start_minutes": 0.5, "flush_seconds": 0.5, "http_timeout_s": 2.0}
        options = IngestOptions(exchanges=FOLLOWED, workers=len(FOLLOWED), **{**defaults, **overrides})
        follow = Follow(0.2, self.stop, on_page=self._page, on_error=self._error)
        self.thread = threading.Thread(target=self._run, args=(settings, options, follow), daemon=True)
        self.thread.start()

    def _run(self, settings: Settings, options: IngestOptions, follow: Follow) -> None:
        self.report = run_ingest(settings, options, follow)

    def _page(self, run: StreamRun, page: Any) -> None:
        self.pages[run.exchange] += 1

    def _error(self, run: StreamRun, exc: Exception) -> None:
        self.errors.append((run.exchange, exc))

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.thread.is_alive(), f"following ended before {what}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s"
            time.sleep(0.1)

    def end(self) -> IngestReport:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive() and self.report is not None
        return self.report


@pytest.fixture
def follow(follow_settings: Settings) -> Iterator[Callable[..., Following]]:
    """Starts following; stops it at the end of the test, whatever happened."""
    started: list[Following] = []

    def start(settings: Settings = follow_settings, **overrides: Any) -> Following:
        started.append(Following(settings, **overrides))
        return started[-1]

    yield start
    for following in started:
        following.stop.set()
        following.thread.join(timeout=60)


def streams_status(settings: Settings) -> dict[str, StreamStatus]:
    return {s.exchange: s for s in run_status(settings, counts=False).streams}


def run_rows(settings: Settings, run_id: str, exchange: str) -> list[dict[str, Any]]:
    """The stream's rows of one run in `schemahub_runs`, in the order they were written."""
    table = load_catalog(settings).load_table(settings.table_id("schemahub_runs"))
    rows = [
        r for r in table.scan().to_arrow().to_pylist() if r["run_id"] == run_id and r["exchange"] == exchange
    ]
    return sorted(rows, key=lambda r: r["finished_at"])


def landed(settings: Settings, exchange: str) -> int:
    try:
        return len(raw_rows(settings, exchange))
    except Exception:  # the table is not there yet
        return 0


def assert_contiguous_and_exact(settings: Settings, sim: SimServer, exchange: str) -> None:
    ids = [r[RAW_ID_COLUMN[exchange]] for r in raw_rows(settings, exchange)]
    assert ids, exchange
    assert_exact(settings, sim, exchange, from_id=min(ids), to_id=max(ids))


def test_a_persistent_error_while_following_fails_the_stream_and_the_run(
    follow_settings: Settings, live_sim: SimServer, follow: Callable[..., Following]
) -> None:
    following = follow()
    following.wait("kraken trades landed", lambda: landed(follow_settings, "kraken") > 0)
    live_sim.faults.add({"kind": "server_error", "exchange": "kraken", "count": None})  # Kraken goes down
    following.wait("kraken error", lambda: any(e == "kraken" for e, _ in following.errors))
    # While following goes on, `schemahub status` soon says the stream failed, and why.
    following.wait(
        "status failed", lambda: streams_status(follow_settings)["kraken"].last_run_status == "failed"
    )
    now = streams_status(follow_settings)
    assert "kraken" in (now["kraken"].last_run_error or "") and "service unavailable" in (
        now["kraken"].last_run_error or ""
    )
    binance_pages = following.pages["binance"]
    following.wait("binance pages", lambda: following.pages["binance"] > binance_pages + 2)
    report = following.end()

    assert report.exit_code == 1
    by_exchange = {s.exchange: s for s in report.streams}
    kraken, binance = by_exchange["kraken"], by_exchange["binance"]
    assert kraken.status == "failed", kraken
    error = kraken.error or ""
    # Worded as the run without following words it: exchange, URL, what came back.
    assert error.startswith("kraken http://127.0.0.1:") and "/0/public/Trades" in error, error
    assert "service unavailable" in error and "walk(s) failed while following" in error, error
    assert binance.status == "ok" and binance.error is None, binance
    after = streams_status(follow_settings)
    assert after["kraken"].last_run_status == "failed" and "service unavailable" in (
        after["kraken"].last_run_error or ""
    )
    assert after["binance"].last_run_status == "ok"
    # What landed before the outage is exact; so is everything binance landed.
    for exchange in FOLLOWED:
        assert_contiguous_and_exact(follow_settings, live_sim, exchange)


def test_a_stream_that_recovers_while_following_ends_ok_with_its_outage_noted(
    follow_settings: Settings, live_sim: SimServer, follow: Callable[..., Following]
) -> None:
    following = follow()
    following.wait("kraken trades landed", lambda: landed(follow_settings, "kraken") > 0)
    # Five answers in a row fail: one walk's every attempt (the HTTP retries give up), then it answers.
    live_sim.faults.add({"kind": "server_error", "exchange": "kraken", "count": 5})
    following.wait("kraken error", lambda: any(e == "kraken" for e, _ in following.errors))
    kraken_pages = following.pages["kraken"]
    following.wait("kraken pages again", lambda: following.pages["kraken"] > kraken_pages + 2)
    report = following.end()

    assert report.exit_code == 0, [s.error for s in report.streams]
    kraken = next(s for s in report.streams if s.exchange == "kraken")
    assert (
        kraken.status == "ok"
        and "recovered at" in (kraken.error or "")
        and "service unavailable" in (kraken.error or "")
    )
    assert streams_status(follow_settings)["kraken"].last_run_status == "ok"
    # The runs table kept the outage: failed when it started, ok when it ended, ok at the end.
    rows = run_rows(follow_settings, report.run_id, "kraken")
    assert [r["status"] for r in rows] == ["failed", "ok", "ok"], rows
    assert "service unavailable" in rows[0]["error"] and rows[1]["error"].startswith("recovered at "), rows
    for exchange in FOLLOWED:  # the walk after the outage landed from the watermark on: no gap
        assert_contiguous_and_exact(follow_settings, live_sim, exchange)


def test_errors_the_retries_absorb_leave_the_stream_ok(
    follow_settings: Settings, live_sim: SimServer, follow: Callable[..., Following]
) -> None:
    following = follow()
    following.wait("kraken trades landed", lambda: landed(follow_settings, "kraken") > 0)
    rule = live_sim.faults.add({"kind": "server_error", "exchange": "kraken", "count": 2})
    following.wait("the fault", lambda: rule.fired >= 2)
    kraken_pages = following.pages["kraken"]
    following.wait("kraken pages again", lambda: following.pages["kraken"] > kraken_pages + 2)
    report = following.end()
    assert following.errors == []
    kraken = next(s for s in report.streams if s.exchange == "kraken")
    assert report.exit_code == 0 and kraken.status == "ok" and kraken.error is None and kraken.retries >= 2
    assert streams_status(follow_settings)["kraken"].last_run_status == "ok"
    assert_contiguous_and_exact(follow_settings, live_sim, "kraken")


def test_a_walk_cut_short_by_the_stop_ends_interrupted_and_the_next_run_finishes_it(
    follow_settings: Settings, live_sim: SimServer, follow: Callable[..., Following]
) -> None:
    # Binance paced to 2 pages a second, 100 trades a page: the 2-minute cold start takes seconds.
    slow = dataclasses.replace(follow_settings, rate_limits={**follow_settings.rate_limits, "binance": 2})
    following = follow(slow, limit=100, cold_start_minutes=2)
    following.wait("binance pages", lambda: following.pages["binance"] >= 2)
    started = time.monotonic()
    report = following.end()
    assert time.monotonic() - started < 10  # the stop did not wait for the walk to finish
    binance = next(s for s in report.streams if s.exchange == "binance")
    assert binance.status == "interrupted" and report.exit_code == 0, binance
    assert "in the middle of a walk" in (binance.error or ""), binance
    statuses = streams_status(follow_settings)
    assert statuses["binance"].last_run_status == "interrupted"
    assert statuses["binance"].in_progress, statuses["binance"]  # the walk's progress is kept
    assert_contiguous_and_exact(follow_settings, live_sim, "binance")  # what landed has no hole
    # A plain run finishes the walk: the whole window is exact.
    done = run_ingest(follow_settings, IngestOptions(exchanges=("binance",), workers=1, cold_start_minutes=2))
    assert done.exit_code == 0, [s.error for s in done.streams]
    assert_contiguous_and_exact(follow_settings, live_sim, "binance")
    ids = [r[RAW_ID_COLUMN["binance"]] for r in raw_rows(follow_settings, "binance")]
    first = live_sim.truth("binance", STREAMS["binance"][1], from_id=min(ids), to_id=min(ids)).records()[0]
    assert first["time_ns"] < time.time_ns() - 100 * 10**9  # it reached back over the 2-minute window
