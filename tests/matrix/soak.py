"""`make soak`: the whole fault matrix (cases.py) over many seeds, bounded in time, loopback only.

    python -m tests.matrix.soak [--seconds 900] [--case-seconds 120] [--seeds 1-50]
                                [--exchange binance] [--fault repeat] [--scenario repair] [-v]

Seed 0 is the deterministic schedule of `make test`; seeds >= 1 draw each fault's schedule
(requests skipped, how many fire, the invalid-record variant), the simulator's market and
the order of the seed's cases. Cases run seed by seed until `--seconds` are up; each case is
cut off after `--case-seconds` (counted and named as timed out), so the soak ends within
about --seconds + --case-seconds.
The figures are printed at the end, and the exit code is 1 when any case broke the rule (ok
with trades missing, a duplicate, a trade the exchange never served, a failure without an
error, a repair failure that leaves a missing trade in no reported gap) or timed out: the
product hanging past a case's limit is a finding too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import random
import sys
import time
from collections import Counter

from tests.matrix.cases import Case, Outcome, all_cases, run_case, stop_shared_spark


def _seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.matrix.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=900.0, help="stop starting new cases after this")
    parser.add_argument("--case-seconds", type=float, default=120.0, help="cut a case off after this")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per case as it ends")
    parser.add_argument("--seeds", default="1-1000", help="seed range, e.g. 1-20")
    parser.add_argument("--exchange", action="append", help="only these exchanges")
    parser.add_argument("--fault", action="append", help="only these faults")
    parser.add_argument("--scenario", action="append", help="only these scenarios")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the landing runs' own log lines would drown the figures
    began = time.monotonic()
    deadline = began + args.seconds
    outcomes: list[Outcome] = []
    for seed in _seeds(args.seeds):
        cases = [
            c
            for c in all_cases(seed)
            if (not args.exchange or c.exchange in args.exchange)
            and (not args.fault or c.fault in args.fault)
            and (not args.scenario or c.scenario in args.scenario)
        ]
        # A seed's cases in an order drawn from it: a soak cut short still mixes exchanges,
        # faults and scenarios instead of spending its time on the first exchange.
        random.Random(seed).shuffle(cases)
        for case in cases:
            if time.monotonic() >= deadline:
                break
            outcomes.append(_run(case, args.case_seconds, args.verbose))
        if time.monotonic() >= deadline:
            break
    stop_shared_spark()
    _print_figures(outcomes, args.seconds, time.monotonic() - began)
    return 1 if any(not o.passed for o in outcomes) else 0


def _run(case: Case, limit_s: float, verbose: bool) -> Outcome:
    started = time.monotonic()
    try:
        # Failed streams print their errors and the simulator its dropped connections; the
        # figures below count them.
        with contextlib.redirect_stderr(io.StringIO()):
            outcome = run_case(case, limit_s=limit_s)
    except Exception as exc:  # a crash of the harness or of landing is a broken case too
        outcome = Outcome(case, "crashed", 0, 0, 0, 0, 0, 0, f"{type(exc).__name__}: {exc}")
        outcome.seconds = round(time.monotonic() - started, 2)
        outcome.problems.append(f"crashed: {exc}")
    if not outcome.passed:
        label = "TIMEOUT" if outcome.status == "timeout" else "BROKEN"
        print(f"{label} {case.id}: {'; '.join(outcome.problems)}", flush=True)
    elif verbose:
        print(f"{case.id}: {outcome.status} in {outcome.seconds:.1f} s, fired {outcome.fired}", flush=True)
    return outcome


def _print_figures(outcomes: list[Outcome], seconds: float, took: float) -> None:
    by_status = Counter(o.status for o in outcomes)
    seeds = sorted({o.case.seed for o in outcomes})
    span = f"{seeds[0]}..{seeds[-1]}" if seeds else "-"
    print(f"soak: {len(outcomes)} cases over seeds {span} in {took:.0f} s (budget {seconds:.0f} s)")
    print(f"  cases per scenario: {dict(Counter(o.case.scenario for o in outcomes))}")
    print(f"  outcomes: {dict(by_status)}")
    print(f"  faults fired: {sum(o.fired for o in outcomes)}")
    expected, landed = sum(o.expected for o in outcomes), sum(o.landed for o in outcomes)
    print(f"  trades expected: {expected:,}, landed: {landed:,}")
    print(f"  trades lost (ok with trades missing): {sum(o.lost for o in outcomes)}")
    print(f"  trades duplicated: {sum(o.duplicated for o in outcomes)}")
    print(f"  trades landed the exchange never served: {sum(o.unexpected for o in outcomes)}")
    timed_out = [o.case.id for o in outcomes if o.status == "timeout"]
    names = f": {', '.join(timed_out)}" if timed_out else ""
    print(f"  timed out (cut off at the case limit): {len(timed_out)}{names}")
    broken = [o.case.id for o in outcomes if not o.passed and o.status != "timeout"]
    print(f"  broken cases: {len(broken)}" + (f": {', '.join(broken)}" if broken else ""))
    slow = sorted(outcomes, key=lambda o: -o.seconds)[:3]
    print("  slowest: " + ", ".join(f"{o.case.id} {o.seconds:.0f} s" for o in slow))
    failed = Counter((o.case.fault, o.case.scenario) for o in outcomes if o.status == "failed")
    if failed:
        print(
            "  streams failed loudly (fault, scenario): "
            + ", ".join(f"{k[0]}/{k[1]}={n}" for k, n in sorted(failed.items()))
        )


if __name__ == "__main__":
    sys.exit(main())
