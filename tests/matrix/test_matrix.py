"""The deterministic part of the fault matrix that `make test` runs (the whole matrix over
many seeds is `make soak`, see soak.py): every fault once on a rotating exchange and
scenario, and the cursor faults (repeat, overlap) on every exchange in every scenario."""

from __future__ import annotations

import pytest

from schemahub_lib.connectors import CONNECTORS
from tests.matrix.cases import FAULTS, SCENARIOS, STREAMS, Case, applies, missing_streams, run_case


def _subset() -> list[Case]:
    exchanges = sorted(x for x in CONNECTORS if x in STREAMS)
    cases: list[Case] = []
    for i, fault in enumerate(FAULTS):
        fitting = [x for x in exchanges if applies(x, fault)]
        cases.append(Case(fitting[i % len(fitting)], fault, SCENARIOS[i % len(SCENARIOS)]))
    for fault in ("repeat", "overlap"):
        cases += [Case(x, fault, s) for x in exchanges for s in SCENARIOS if s != "resume"]
    cases.append(Case("binance", "repeat", "resume"))
    cases.append(Case("kraken", "repeat", "resume", seed=1))  # found by the soak: a later page served first
    return sorted(set(cases), key=lambda c: c.id)


def test_every_registered_exchange_is_in_the_matrix() -> None:
    assert not missing_streams(), (
        f"add a test stream and seed for {missing_streams()} in tests/matrix/cases.py"
    )


@pytest.mark.parametrize("case", _subset(), ids=lambda c: c.id)
def test_fault_case_is_exact_or_fails_loudly(case: Case) -> None:
    outcome = run_case(case)
    assert outcome.passed, (outcome.problems, outcome)
    if case.fault != "never_issued":
        assert outcome.fired >= 1, f"the fault never fired: {outcome}"
    if outcome.status == "ok":
        assert outcome.landed >= outcome.expected > 0
