"""The fault matrix (issue 10): every exchange in the connector registry x every fault the
simulator can inject x every way a stream is walked.

One case: a fresh simulator and warehouse, a clean start, then the fault armed and the
scenario run. It ends in one of two ways, and nothing else passes:

* every stream `ok` (exit 0) and raw holds exactly the simulator's ground truth for the
  promised window (each trade once, none missing), or
* the stream `failed` with an error and exit 1, and what did land is still a subset of the
  truth without duplicates (a complete range the next run continues from).

The `repair` scenario lands a clean window, deletes trades from raw (three from the middle,
and two at the head or the tail, which landing's state promises), arms the fault and runs
`schemahub repair` (raw only, no unify). Exit 0 must mean raw is exact again; a non-zero exit
must leave every trade still missing inside a gap the final audit reports open, or counted in
the shortfall it reports against landing's count (ids unknown) (an error, exit 2, is loud
too). Bitfinex ids count across products, so no id gap shows the middle deletion: only the
count does, and repair cannot locate those trades, so it must exit non-zero there.

`run_case` is shared by the pytest subset (test_matrix.py) and the soak (soak.py); `limit_s`
ends a case that runs longer (status `timeout`: in the soak a hang is a finding).
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.errors import SchemaHubError
from schemahub_lib.landing.backfill import BackfillOptions, run_backfill
from schemahub_lib.landing.execute import LandingReport
from schemahub_lib.landing.ingest import IngestOptions, run_ingest
from schemahub_lib.ops.repair import RepairOptions, RepairReport, run_repair
from schemahub_lib.settings import Settings, load_settings
from schemahub_lib.sim.faults import INVALID_VARIANTS
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.landing.procs import start_cli, write_config
from tests.registry import RAW_ID_COLUMN, RAW_PRODUCT_COLUMN, seed_text
from tests.registry import STREAMS as REGISTRY_STREAMS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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
SCENARIOS = ("cold", "watermark", "backfill", "resume", "repair")
PERSISTENT_SHARE = 0.15  # soak cases whose fault never stops firing
_catalogs = itertools.count(1)  # a catalog name per case: one Spark session holds them side by side


class CaseTimeout(BaseException):
    """A case ran past its limit. A BaseException, so no `except Exception` in the product
    turns it into a stream failure."""


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
    status: str  # ok | failed | timeout | crashed
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
    # Repair sends a few requests only (one walk and one confirmation per gap): fire early.
    first = 0 if case.scenario == "repair" else 1
    rule["skip"] = rng.randint(0, 1 if case.scenario == "repair" else 4) if case.seed else first
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
        catalog = f"schemahub_matrix_{next(_catalogs)}"
        settings = load_settings(env={}, warehouse=str(root / "warehouse"), catalog_name=catalog)
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
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if len(load_catalog(settings).load_table(table_id).snapshots()) > before:
                break
            time.sleep(0.02)
    finally:  # also when the case's time is up: no backfill outlives its case
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def remove_from_raw(settings: Settings, exchange: str, rng: random.Random) -> list[int]:
    """Delete landed trades from raw (PyIceberg, as tests/ops/test_repair.py does): three
    neighbours from the middle, and two at the head or the tail."""
    from pyiceberg.expressions import In

    ids = sorted(set(raw_ids(settings, exchange)))
    assert len(ids) >= 20, f"{exchange}: the clean window landed only {len(ids)} trades"
    gone = ids[:2] if rng.random() < 0.5 else ids[-2:]
    middle = len(ids) // 2
    gone += ids[middle : middle + 3]
    table = load_catalog(settings).load_table(settings.table_id(f"raw_{exchange}_trades"))
    table.delete(delete_filter=In(ID_COLUMN[exchange], gone))
    return sorted(gone)


_spark: SparkSession | None = None
_spark_boot: Path | None = None


def shared_spark() -> SparkSession:
    """One Spark session for every repair case of this process (each case registers its own
    catalog name in it, as tests/conftest.py does per test)."""
    global _spark, _spark_boot
    if _spark is None:
        from schemahub_lib.spark import load_spark

        _spark_boot = Path(tempfile.mkdtemp(prefix="schemahub-matrix-spark-"))
        boot_settings = load_settings(env={}, warehouse=str(_spark_boot / "warehouse"))
        _spark = load_spark(boot_settings, app_name="schemahub-matrix")
    return _spark


def stop_shared_spark() -> None:
    global _spark, _spark_boot
    if _spark is not None:
        _spark.stop()
        _spark = None
    if _spark_boot is not None:
        shutil.rmtree(_spark_boot, ignore_errors=True)
        _spark_boot = None


def repair(settings: Settings, spark: SparkSession, exchange: str) -> RepairReport:
    from schemahub_lib.spark import register_catalog

    register_catalog(spark, settings)
    return run_repair(settings, spark, RepairOptions(exchanges=(exchange,), unify=False))


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise CaseTimeout in this (the main) thread after `seconds`; None: no limit. SIGALRM:
    not under pytest-timeout, which uses it itself."""
    if not seconds:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise CaseTimeout(f"still running after its limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(case: Case, spark: SparkSession | None = None, limit_s: float | None = None) -> Outcome:
    """Run one case end to end and judge it (see the module docstring). Repair cases use
    `spark` (else one shared session); `limit_s` bounds the case (status `timeout`)."""
    started = time.monotonic()
    rng = random.Random(f"{case.id}")
    with case_world(case) as (sim, settings, root):
        try:
            with time_limit(limit_s):
                return _run(case, sim, settings, root, rng, spark, started)
        except CaseTimeout as exc:
            fired = sum(r.fired for r in sim.faults.rules())
            seconds = round(time.monotonic() - started, 2)
            outcome = Outcome(case, "timeout", fired, 0, 0, 0, 0, 0, str(exc), seconds)
            outcome.problems.append(f"timed out: {exc}")
            return outcome


def _run(
    case: Case,
    sim: SimServer,
    settings: Settings,
    root: Path,
    rng: random.Random,
    spark: SparkSession | None,
    started: float,
) -> Outcome:
    x = case.exchange
    rule = rule_for(case, rng)
    now = sim.clock.now_ns()
    window = 4
    if case.scenario == "repair":
        start = now - window * NS_PER_MIN
        first = ingest(settings, sim, x, cold_start_minutes=window)
        assert first.exit_code == 0, first.streams[0].error
        remove_from_raw(settings, x, rng)
        if rule:
            sim.faults.add(rule)
        try:
            repaired = repair(settings, spark or shared_spark(), x)
        except SchemaHubError as exc:  # `schemahub repair` prints it and exits 2: loud
            status, error, reported, short = "failed", f"{type(exc).__name__}: {exc}", None, 0
        else:
            status = "ok" if repaired.exit_code == 0 else "failed"
            error, reported, short = _repair_findings(repaired)
        fired = sum(r.fired for r in sim.faults.rules())
        seconds = time.monotonic() - started
        return judge(case, sim, settings, status, error, start, fired, seconds, reported, short)
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
    stream = report.streams[0]
    status = "ok" if report.exit_code == 0 and stream.status in ("ok", "skipped") else "failed"
    error = stream.error if report.exit_code != 0 else None  # a failure must say why and exit 1
    return judge(case, sim, settings, status, error, start, fired, time.monotonic() - started)


def _repair_findings(report: RepairReport) -> tuple[str | None, list[tuple[int, int]], int]:
    """What a repair that did not end clean says (its unresolved pieces and their notes), the
    id ranges its final raw audit still reports as alarming gaps, and the trades that audit
    reports missing by count alone (raw's shortfall against landing's count, ids unknown)."""
    reported: list[tuple[int, int]] = []
    short = 0
    if report.audit is not None:
        for s in report.audit.streams:
            if s.layer == "raw":
                reported += [(g.first_id, g.last_id) for g in s.gaps if g.status in ("open", "skipped")]
                short += s.count_short
    if report.exit_code == 0:
        return None, reported, short
    notes = sorted({g.note for g in report.gaps if g.unresolved and g.note} | set(report.notes))
    totals = report.totals()
    error = f"repair exit {report.exit_code}: {totals['unresolved_ids']} ids unresolved"
    error += f", {len(reported)} gaps open, {short} trades short of landing's count"
    return "; ".join([error, *notes])[:300], reported, short


def judge(
    case: Case,
    sim: SimServer,
    settings: Settings,
    status: str,
    error: str | None,
    start: int,
    fired: int,
    seconds: float,
    reported: list[tuple[int, int]] | None = None,
    short: int = 0,
) -> Outcome:
    """`status` ok: raw must hold every expected trade. `status` failed: there must be an
    `error`; for repair (`reported`: the gaps its final audit alarms on; `short`: the trades it
    reports missing by count, ids unknown) every trade still missing must lie inside a reported
    gap or be counted in the shortfall."""
    x = case.exchange
    truth = sim.truth(x, STREAMS[x][1], start_ns=start)
    left_out = set(truth.hidden) | set(truth.corrupted)
    expected = {int(i) for i in truth.trade_id.tolist()} - left_out
    everything = {int(i) for i in sim.truth(x, STREAMS[x][1]).trade_id.tolist()}
    ids = raw_ids(settings, x)
    landed = set(ids)
    missing = expected - landed
    lost = len(missing) if status == "ok" else 0
    outcome = Outcome(
        case, status, fired, len(expected), len(landed), lost, len(ids) - len(landed),
        len(landed - everything), error, round(seconds, 2),
    )  # fmt: skip
    if status == "ok" and lost:
        example = sorted(missing)[:5]
        outcome.problems.append(f"ok with {lost} of {len(expected)} trades missing, e.g. {example}")
    if status == "failed" and not error:
        outcome.problems.append("failed without an error and a non-zero exit")
    if status == "failed" and reported is not None:
        unreported = sorted(i for i in missing if not any(a <= i <= b for a, b in reported))
        if len(unreported) > short:
            outcome.problems.append(
                f"repair failed, but {len(unreported)} missing trades lie in no gap its audit reports "
                f"(and its count shows only {short} short), e.g. {unreported[:5]}"
            )
    if outcome.duplicated:
        outcome.problems.append(f"{outcome.duplicated} trades landed twice")
    if outcome.unexpected:
        outcome.problems.append(f"{outcome.unexpected} landed ids the exchange never served")
    return outcome
