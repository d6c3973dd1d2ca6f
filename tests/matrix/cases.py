"""The fault matrix (issue 10): every exchange in the connector registry x every fault the
simulator can inject x every way a stream is walked.

One case: a fresh simulator and warehouse, a clean start, then the fault armed and the
scenario run. It ends in one of two ways, and nothing else passes:

* every stream `ok` (exit 0) and raw holds exactly the simulator's ground truth for the
  promised window (each trade once, none missing), or
* the stream `failed` with an error and exit 1, and what did land is still a subset of the
  truth without duplicates (a complete range the next run continues from).

`run_case` is shared by the pytest subset (test_matrix.py) and the soak (soak.py).
"""

from __future__ import annotations

import dataclasses
import random
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.landing.backfill import BackfillOptions, run_backfill
from schemahub_lib.landing.execute import LandingReport
from schemahub_lib.landing.ingest import IngestOptions, run_ingest
from schemahub_lib.settings import Settings, load_settings
from schemahub_lib.sim.faults import INVALID_VARIANTS
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.landing.procs import start_cli, write_config
from tests.registry import RAW_ID_COLUMN, RAW_PRODUCT_COLUMN, seed_text
from tests.registry import STREAMS as REGISTRY_STREAMS

NS_PER_MIN = 60 * 10**9
# Per exchange: the test stream (canonical, venue symbol, raw symbol) and the seed it lands
# from, both derived from the connector registry: an exchange registered with a simulator
# venue gets the whole matrix without a line here.
STREAMS = REGISTRY_STREAMS
SEED = {x: seed_text([x]) for x in STREAMS}
ID_COLUMN = RAW_ID_COLUMN
PRODUCT_COLUMN = RAW_PRODUCT_COLUMN

# Fault name -> the rule armed (exchange, schedule and product are filled in per case).
# "never_issued" is not a rule: the simulator skips ids (id_gap_rate) for the whole case.
FAULTS: dict[str, dict[str, Any]] = {
    "429": {"kind": "rate_limit", "retry_after": 0.2},
    "418": {"kind": "ban", "retry_after": 1},
    "5xx": {"kind": "server_error", "status": 503},
    "html": {"kind": "html"},
    "disconnect": {"kind": "disconnect"},
    "timeout": {"kind": "timeout", "delay_s": 2.0},
    "truncated": {"kind": "truncated"},
    "short_read": {"kind": "truncated", "mode": "short_read"},
    "overlap": {"kind": "overlap", "shift": 10},
    "repeat": {"kind": "repeat"},
    "drop": {"kind": "drop", "drop": 3},
    "invalid": {"kind": "invalid"},
    "never_issued": {},
}
SCENARIOS = ("cold", "watermark", "backfill", "resume")
PERSISTENT_SHARE = 0.15  # soak cases whose fault never stops firing


def applies(exchange: str, fault: str) -> bool:
    """Binance alone answers with a 418 ban; every other fault applies to every exchange."""
    return fault != "418" or exchange == "binance"


@dataclass(frozen=True)
class Case:
    exchange: str
    fault: str
    scenario: str
    seed: int = 0

    @property
    def id(self) -> str:
        return f"{self.exchange}-{self.fault}-{self.scenario}-s{self.seed}"


@dataclass
class Outcome:
    case: Case
    status: str  # ok | failed
    fired: int
    expected: int  # trades in the promised window
    landed: int
    lost: int  # expected trades missing although the run said ok
    duplicated: int
    unexpected: int  # landed ids the truth does not have
    error: str | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def all_cases(seed: int) -> list[Case]:
    return [
        Case(x, f, s, seed)
        for x in sorted(CONNECTORS)
        if x in STREAMS
        for f in FAULTS
        if applies(x, f)
        for s in SCENARIOS
    ]


def missing_streams() -> list[str]:
    """Registry entries the matrix has no test stream for (a test fails on them)."""
    return sorted(set(CONNECTORS) - set(STREAMS))


def rule_for(case: Case, rng: random.Random) -> dict[str, Any] | None:
    base = FAULTS[case.fault]
    if not base:
        return None
    rule: dict[str, Any] = {**base, "exchange": case.exchange, "product": STREAMS[case.exchange][1]}
    rule["skip"] = rng.randint(0, 4) if case.seed else 1
    rule["count"] = rng.randint(1, 2) if case.seed else 1
    if case.fault == "invalid":
        rule["variant"] = rng.choice(INVALID_VARIANTS) if case.seed else "price_text"
    if case.fault == "repeat":
        rule["count"] = 1  # a repeat lasting through a confirmation is covered by `persistent`
    if case.seed and rng.random() < PERSISTENT_SHARE:
        rule["count"] = None  # the fault never ends: the stream must fail loudly, not say ok
    return rule


@contextmanager
def case_world(case: Case) -> Iterator[tuple[SimServer, Settings, Path]]:
    gaps = {case.exchange: 0.02} if case.fault == "never_issued" else {}
    with (
        tempfile.TemporaryDirectory(prefix="schemahub-matrix-") as tmp,
        running_sim(seed=7 + case.seed, id_gap_rate=gaps) as sim,
    ):
        root = Path(tmp)
        seed_path = root / "seed.yaml"
        seed_path.write_text(SEED[case.exchange])
        settings = load_settings(env={}, warehouse=str(root / "warehouse"), catalog_name="schemahub_matrix")
        settings = dataclasses.replace(
            settings,
            exchange_urls=dict(sim.urls),
            rate_limits={x: 0 for x in CONNECTORS},
            seed_path=str(seed_path),
        )
        yield sim, settings, root


def ingest(settings: Settings, sim: SimServer, exchange: str, **options: Any) -> LandingReport:
    options.setdefault("as_of_ns", sim.clock.now_ns())
    options.setdefault("workers", 1)
    options.setdefault("limit", 100)
    options.setdefault("http_timeout_s", 1.0)
    return run_ingest(
        settings, IngestOptions(exchanges=(exchange,), products=(STREAMS[exchange][0],), **options)
    )


def backfill(settings: Settings, exchange: str, **options: Any) -> LandingReport:
    options.setdefault("limit", 100)
    options.setdefault("progress", False)
    options.setdefault("http_timeout_s", 1.0)
    return run_backfill(
        settings, BackfillOptions(exchanges=(exchange,), products=(STREAMS[exchange][0],), **options)
    )


def raw_ids(settings: Settings, exchange: str) -> list[int]:
    table = load_catalog(settings).load_table(settings.table_id(f"raw_{exchange}_trades"))
    rows = table.scan(selected_fields=(ID_COLUMN[exchange], PRODUCT_COLUMN[exchange])).to_arrow()
    return [int(i) for i in rows.column(0).to_pylist()]


def kill_a_backfill(settings: Settings, root: Path, exchange: str, since_ns: int) -> None:
    """`schemahub backfill` in a subprocess, SIGKILLed once its first flush is committed."""
    config = write_config(dataclasses.replace(settings, rate_limits={exchange: 40}), root / "config.yaml")
    table_id = settings.table_id(f"raw_{exchange}_trades")
    before = len(load_catalog(settings).load_table(table_id).snapshots())
    proc = start_cli(
        config, "backfill", exchange, "--products", STREAMS[exchange][0], "--since", str(since_ns / 1e9),
        "--limit", "100", "--flush-trades", "300", log=root / "killed.log",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if len(load_catalog(settings).load_table(table_id).snapshots()) > before:
            break
        time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def run_case(case: Case) -> Outcome:
    """Run one case end to end and judge it (see the module docstring)."""
    started = time.monotonic()
    rng = random.Random(f"{case.id}")
    x = case.exchange
    with case_world(case) as (sim, settings, root):
        rule = rule_for(case, rng)
        now = sim.clock.now_ns()
        window = 4
        if case.scenario == "cold":
            start = now - window * NS_PER_MIN
            if rule:
                sim.faults.add(rule)
            report = ingest(settings, sim, x, cold_start_minutes=window)
        else:
            start = now - 2 * NS_PER_MIN
            first = ingest(settings, sim, x, cold_start_minutes=2)
            assert first.exit_code == 0, first.streams[0].error
            if case.scenario == "watermark":
                sim.clock.advance(150)
                if rule:
                    sim.faults.add(rule)
                report = ingest(settings, sim, x, cold_start_minutes=2)
            else:
                start = now - 7 * NS_PER_MIN
                if case.scenario == "resume":
                    kill_a_backfill(settings, root, x, start)
                if rule:
                    sim.faults.add(rule)
                report = backfill(settings, x, since_ns=start, resume=case.scenario == "resume")
        fired = sum(r.fired for r in sim.faults.rules())
        return judge(case, sim, settings, report, start, fired, time.monotonic() - started)


def judge(
    case: Case,
    sim: SimServer,
    settings: Settings,
    report: LandingReport,
    start: int,
    fired: int,
    seconds: float,
) -> Outcome:
    x = case.exchange
    truth = sim.truth(x, STREAMS[x][1], start_ns=start)
    left_out = set(truth.hidden) | set(truth.corrupted)
    expected = {int(i) for i in truth.trade_id.tolist()} - left_out
    everything = {int(i) for i in sim.truth(x, STREAMS[x][1]).trade_id.tolist()}
    ids = raw_ids(settings, x)
    landed = set(ids)
    stream = report.streams[0]
    status = "ok" if report.exit_code == 0 and stream.status in ("ok", "skipped") else "failed"
    lost = len(expected - landed) if status == "ok" else 0
    outcome = Outcome(
        case, status, fired, len(expected), len(landed), lost, len(ids) - len(landed),
        len(landed - everything), stream.error, round(seconds, 2),
    )  # fmt: skip
    if status == "ok" and lost:
        outcome.problems.append(f"ok with {lost} of {len(expected)} trades missing")
    if status == "failed" and (report.exit_code == 0 or not stream.error):
        outcome.problems.append(f"failed without an error and exit 1: {stream}")
    if outcome.duplicated:
        outcome.problems.append(f"{outcome.duplicated} trades landed twice")
    if outcome.unexpected:
        outcome.problems.append(f"{outcome.unexpected} landed ids the exchange never served")
    return outcome
