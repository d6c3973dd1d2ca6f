"""`make soak`: the whole fault matrix (cases.py) over many seeds, bounded in time, loopback only.

    python -m tests.matrix.soak [--seconds 900] [--seeds 1-50] [--exchange binance] [--fault repeat]

Seed 0 is the deterministic schedule of `make test`; seeds >= 1 draw each fault's schedule
(requests skipped, how many fire, the invalid-record variant) and the simulator's market.
Cases run seed by seed until the time is up; the figures are printed at the end, and the
exit code is 1 when any case broke the rule (ok with trades missing, a duplicate, a trade
the exchange never served, or a failure without an error).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import time
from collections import Counter

from tests.matrix.cases import Case, Outcome, all_cases, run_case


def _seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.matrix.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=900.0, help="stop starting new cases after this")
    parser.add_argument("--seeds", default="1-1000", help="seed range, e.g. 1-20")
    parser.add_argument("--exchange", action="append", help="only these exchanges")
    parser.add_argument("--fault", action="append", help="only these faults")
    parser.add_argument("--scenario", action="append", help="only these scenarios")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the landing runs' own log lines would drown the figures
    deadline = time.monotonic() + args.seconds
    outcomes: list[Outcome] = []
    for seed in _seeds(args.seeds):
        cases = [
            c
            for c in all_cases(seed)
            if (not args.exchange or c.exchange in args.exchange)
            and (not args.fault or c.fault in args.fault)
            and (not args.scenario or c.scenario in args.scenario)
        ]
        for case in cases:
            if time.monotonic() >= deadline:
                break
            outcomes.append(_run(case))
        if time.monotonic() >= deadline:
            break
    _print_figures(outcomes, args.seconds)
    return 1 if any(not o.passed for o in outcomes) else 0


def _run(case: Case) -> Outcome:
    try:
        # Failed streams print their errors and the simulator its dropped connections; the
        # figures below count them.
        with contextlib.redirect_stderr(io.StringIO()):
            outcome = run_case(case)
    except Exception as exc:  # a crash of the harness or of landing is a broken case too
        outcome = Outcome(case, "crashed", 0, 0, 0, 0, 0, 0, f"{type(exc).__name__}: {exc}")
        outcome.problems.append(f"crashed: {exc}")
    if not outcome.passed:
        print(f"BROKEN {case.id}: {'; '.join(outcome.problems)}", flush=True)
    return outcome


def _print_figures(outcomes: list[Outcome], seconds: float) -> None:
    by_status = Counter(o.status for o in outcomes)
    seeds = sorted({o.case.seed for o in outcomes})
    span = f"{seeds[0]}..{seeds[-1]}" if seeds else "-"
    took = sum(o.seconds for o in outcomes)
    print(f"soak: {len(outcomes)} cases over seeds {span} in {took:.0f} s (budget {seconds:.0f} s)")
    print(f"  outcomes: {dict(by_status)}")
    print(f"  faults fired: {sum(o.fired for o in outcomes)}")
    expected, landed = sum(o.expected for o in outcomes), sum(o.landed for o in outcomes)
    print(f"  trades expected: {expected:,}, landed: {landed:,}")
    print(f"  trades lost (ok with trades missing): {sum(o.lost for o in outcomes)}")
    print(f"  trades duplicated: {sum(o.duplicated for o in outcomes)}")
    print(f"  trades landed the exchange never served: {sum(o.unexpected for o in outcomes)}")
    print(f"  broken cases: {sum(not o.passed for o in outcomes)}")
    failed = Counter((o.case.fault, o.case.scenario) for o in outcomes if o.status == "failed")
    if failed:
        print(
            "  streams failed loudly (fault, scenario): "
            + ", ".join(f"{k[0]}/{k[1]}={n}" for k, n in sorted(failed.items()))
        )


if __name__ == "__main__":
    sys.exit(main())
