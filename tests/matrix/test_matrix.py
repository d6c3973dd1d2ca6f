"""The deterministic part of the fault matrix that `make test` runs (the whole matrix over
many seeds is `make soak`, see soak.py): every fault once on a rotating exchange and
landing scenario, the cursor faults (repeat, overlap) on every exchange in every landing
scenario, and one repair case per exchange with a rotating fault (these share the test run's
Spark session)."""

from __future__ import annotations

import time

import pytest

from schemahub_lib.connectors import CONNECTORS
from tests.matrix.cases import (
    FAULTS,
    SCENARIOS,
    STREAMS,
    Case,
    CaseTimeout,
    applies,
    missing_streams,
    run_case,
    time_limit,
)

LANDING = tuple(s for s in SCENARIOS if s != "repair")
# Repair's fault per exchange, in registry order: a drop and a corrupt record inside refetched
# pages, ids never issued, answers that fail, a page served again.
REPAIR_FAULTS = ("418", "drop", "never_issued", "invalid", "repeat", "5xx", "overlap")


def _subset() -> list[Case]:
    exchanges = sorted(x for x in CONNECTORS if x in STREAMS)
    cases: list[Case] = []
    for i, fault in enumerate(FAULTS):
        fitting = [x for x in exchanges if applies(x, fault)]
        cases.append(Case(fitting[i % len(fitting)], fault, LANDING[i % len(LANDING)]))
    for fault in ("repeat", "overlap"):
        cases += [Case(x, fault, s) for x in exchanges for s in LANDING if s != "resume"]
    cases.append(Case("binance", "repeat", "resume"))
    cases.append(Case("kraken", "repeat", "resume", seed=1))  # found by the soak: a later page served first
    # Found by the soak: the killed run's last (older) page served first to the resumed walk down.
    cases.append(Case("okx", "repeat", "resume", seed=1))
    # Found by the soak: the newest row corrupted on every answer (id past BIGINT) kept the
    # catch-up asking for the same page forever.
    cases.append(Case("bitfinex", "invalid", "watermark", seed=1))
    faults = [f for f in REPAIR_FAULTS if f != "418"]
    for i, x in enumerate(exchanges):
        cases.append(Case(x, "418" if x == "binance" else faults[(i - 1) % len(faults)], "repair"))
    return sorted(set(cases), key=lambda c: c.id)


def _param(case: Case) -> object:
    marks = [pytest.mark.spark] if case.scenario == "repair" else []
    return pytest.param(case, id=case.id, marks=marks)


def test_every_registered_exchange_is_in_the_matrix() -> None:
    assert not missing_streams(), (
        f"add a test stream and seed for {missing_streams()} in tests/matrix/cases.py"
    )


@pytest.mark.parametrize("case", [_param(c) for c in _subset()])
def test_fault_case_is_exact_or_fails_loudly(case: Case, request: pytest.FixtureRequest) -> None:
    spark = request.getfixturevalue("spark_session") if case.scenario == "repair" else None
    outcome = run_case(case, spark)
    assert outcome.passed, (outcome.problems, outcome)
    if case.fault != "never_issued":
        assert outcome.fired >= 1, f"the fault never fired: {outcome}"
    if outcome.status == "ok":
        assert outcome.landed >= outcome.expected > 0


# pytest-timeout's own alarm is SIGALRM too: these two tests let it watch from a thread.
@pytest.mark.timeout(60, method="thread")
def test_time_limit_raises_in_the_running_case() -> None:
    started = time.monotonic()
    with pytest.raises(CaseTimeout, match=r"limit of 0\.2 s"), time_limit(0.2):
        time.sleep(10)
    assert time.monotonic() - started < 2


@pytest.mark.timeout(120, method="thread")
def test_a_case_past_its_limit_is_cut_off_and_named() -> None:
    """What bounds `make soak`: a case still running at its limit ends as `timeout`, a finding."""
    started = time.monotonic()
    outcome = run_case(Case("coinbase", "timeout", "backfill"), limit_s=0.5)
    assert outcome.status == "timeout" and not outcome.passed, outcome
    assert outcome.problems == ["timed out: still running after its limit of 0.5 s"]
    assert time.monotonic() - started < 20
