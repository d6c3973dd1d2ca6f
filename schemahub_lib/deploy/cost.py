"""Monthly AWS cost of a deployment, all in: Glue, S3, Athena, CloudWatch (glue_deploy/README.md).

    Glue $ = Σ_jobs runs/month × DPU × max(billed minutes per run, 1) / 60 × $/DPU-hour

Glue 5.1 Spark jobs bill per second with a 1-minute minimum, at $0.44 per DPU-hour (STANDARD)
or $0.29 (FLEX); DPU = workers × DPU per worker (G.1X = 1). A pipeline job's runs that also
unify (one in `--unify-every-minutes` / schedule interval) add `expected_unify_minutes`.
Every other figure comes from `Assumptions`, and `render_estimate` prints each one: the
billed minutes and trade volumes are guesses to replace with your own runs' numbers.
Prices are us-east-1 list prices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from schemahub_lib.deploy.config import WORKER_DPU, Deployment, JobSpec, cron_fields
from schemahub_lib.errors import ConfigError

GLUE_USD_PER_DPU_HOUR = {"STANDARD": 0.44, "FLEX": 0.29}
S3_USD_PER_GB_MONTH = 0.023
S3_USD_PER_1000_WRITES = 0.005  # PUT, COPY, POST, LIST
S3_USD_PER_1000_READS = 0.0004  # GET, HEAD
ATHENA_USD_PER_TB = 5.0
ATHENA_MIN_MB = 10
CW_USD_PER_METRIC_MONTH = 0.30  # prorated by the hours in which the metric is sent
CW_USD_PER_1000_PUTS = 0.01
CW_LOGS_USD_PER_GB = 0.50
CW_USD_PER_ALARM_MONTH = 0.10  # standard-resolution metric alarm (period >= 60 s)
DAYS_PER_MONTH = 30
HOURS_PER_MONTH = 730
MAINTAINED_TABLES = 8  # ddl/: DataFiles and SmallFiles per table after maintenance


@dataclass(frozen=True)
class Assumptions:
    """What the estimate cannot know; each one is printed with the estimate."""

    streams: int  # (exchange, symbol) pairs ingested
    exchanges: int
    trades_per_stream_day: int = 100_000  # BTC-USD on a big venue is ~300k, a long-tail pair ~10k
    raw_bytes_per_trade: float = 50.0  # raw tables keep the exact JSON (zstd Parquet)
    unified_bytes_per_trade: float = 16.0  # SPEC budget for trades_unified
    s3_writes_per_stream_run: int = 4  # one commit: data file, manifest, manifest list, metadata
    s3_reads_per_stream_run: int = 15
    s3_writes_per_unify: int = 50
    s3_reads_per_unify: int = 300
    log_mb_per_run: float = 1.0  # driver log lines into CloudWatch Logs
    athena_queries_per_day: int = 100  # each reads one day of trades_unified
    metric_puts_per_run: int = 2

    def lines(self) -> list[str]:
        return [f"{f.name.replace('_', ' ')}: {getattr(self, f.name):,}" for f in fields(self)]


@dataclass(frozen=True)
class JobCost:
    job: str
    execution_class: str
    runs_per_month: int
    dpu: float
    billed_minutes: float  # per run, averaged over runs that unify and runs that do not
    dpu_hours: float
    usd: float


@dataclass(frozen=True)
class CostLine:
    part: str  # Glue, S3, Athena, CloudWatch
    item: str
    usd: float
    formula: str


def runs_per_day(schedule: str) -> int:
    """How often a daily-repeating `cron(M H * * ? *)` fires per day."""
    minutes, hours, day_of_month, month, day_of_week, year = cron_fields(schedule)
    if day_of_month not in ("*", "?") or month != "*" or day_of_week not in ("*", "?") or year != "*":
        raise ConfigError(f"schedule {schedule!r}: the cost estimate handles daily-repeating schedules only")
    return len(_expand(minutes, 60, schedule)) * len(_expand(hours, 24, schedule))


def _expand(field: str, size: int, schedule: str) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                low, high = 0, size - 1
            elif "-" in base:
                low, high = (int(x) for x in base.split("-", 1))
            else:
                low = int(base)
                high = size - 1 if step_text else low
        except ValueError:
            raise ConfigError(f"schedule {schedule!r}: cannot read cron field {field!r}") from None
        if not (0 <= low <= high < size) or step < 1:
            raise ConfigError(f"schedule {schedule!r}: cron field {field!r} out of range 0-{size - 1}")
        values.update(range(low, high + 1, step))
    return values


def unify_runs_per_day(deployment: Deployment) -> int:
    """How many pipeline-schedule runs unify: all, or one per `--unify-every-minutes`."""
    runs = runs_per_day(deployment.ingest_schedule)
    pipeline = deployment.stage_jobs("pipeline")
    every = pipeline[0].unify_every_minutes if pipeline else None
    if every is None:
        return runs
    interval = 24 * 60 / runs  # minutes between scheduled runs
    return min(runs, math.ceil(runs / max(1, round(every / interval))))


def glue_run_usd(job: JobSpec, minutes: float) -> float:
    """One run of `job` lasting `minutes` (the 1-minute minimum applied)."""
    dpu = WORKER_DPU[job.worker_type] * job.number_of_workers
    return dpu * max(minutes, 1.0) / 60 * GLUE_USD_PER_DPU_HOUR[job.execution_class]


def monthly_glue_cost(deployment: Deployment) -> list[JobCost]:
    """One row per scheduled job: pipeline/ingest/unify on the ingest schedule, maintenance on its own."""
    pipeline_runs = runs_per_day(deployment.ingest_schedule) * DAYS_PER_MONTH
    maintenance_runs = runs_per_day(deployment.maintenance_schedule) * DAYS_PER_MONTH
    unifying = unify_runs_per_day(deployment) * DAYS_PER_MONTH
    rows = []
    for job in deployment.jobs:
        if job.stage == "on-demand":
            continue  # started by hand: no scheduled cost
        runs = maintenance_runs if job.stage == "maintenance" else pipeline_runs
        dpu = WORKER_DPU[job.worker_type] * job.number_of_workers
        minutes = [max(job.expected_minutes, 1.0)] * runs
        if job.stage == "pipeline":  # runs that also unify take longer
            minutes[:unifying] = [max(job.expected_minutes + job.expected_unify_minutes, 1.0)] * unifying
        dpu_hours = dpu * sum(minutes) / 60
        rate = GLUE_USD_PER_DPU_HOUR[job.execution_class]
        rows.append(
            JobCost(
                job=deployment.job_name(job),
                execution_class=job.execution_class,
                runs_per_month=runs,
                dpu=dpu,
                billed_minutes=round(sum(minutes) / runs, 4),
                dpu_hours=round(dpu_hours, 4),
                usd=round(dpu_hours * rate, 2),
            )
        )
    return rows


def monthly_cost(deployment: Deployment, a: Assumptions) -> list[CostLine]:
    """Every line of the monthly bill for `deployment` under `a`."""
    lines = [
        CostLine(
            "Glue",
            r.job,
            r.usd,
            f"{r.runs_per_month:,} runs x {r.dpu:g} DPU x {r.billed_minutes:g} min x "
            f"${GLUE_USD_PER_DPU_HOUR[r.execution_class]}/DPU-h ({r.execution_class})",
        )
        for r in monthly_glue_cost(deployment)
    ]
    runs = runs_per_day(deployment.ingest_schedule) * DAYS_PER_MONTH
    unify_runs = unify_runs_per_day(deployment) * DAYS_PER_MONTH
    maintenance_runs = runs_per_day(deployment.maintenance_schedule) * DAYS_PER_MONTH
    trades_month = a.streams * a.trades_per_stream_day * DAYS_PER_MONTH
    gb_added = trades_month * (a.raw_bytes_per_trade + a.unified_bytes_per_trade) / 1e9
    lines.append(
        CostLine(
            "S3",
            "storage (first month)",
            gb_added / 2 * S3_USD_PER_GB_MONTH,
            f"{gb_added:.1f} GB added, {gb_added / 2:.1f} GB on average x ${S3_USD_PER_GB_MONTH}/GB-month "
            f"(each later month adds ${gb_added * S3_USD_PER_GB_MONTH:.2f})",
        )
    )
    writes = runs * a.streams * a.s3_writes_per_stream_run + unify_runs * a.s3_writes_per_unify
    reads = runs * a.streams * a.s3_reads_per_stream_run + unify_runs * a.s3_reads_per_unify
    lines.append(
        CostLine(
            "S3",
            "writes",
            writes / 1000 * S3_USD_PER_1000_WRITES,
            f"{writes:,} x ${S3_USD_PER_1000_WRITES}/1,000",
        )
    )
    lines.append(
        CostLine(
            "S3", "reads", reads / 1000 * S3_USD_PER_1000_READS, f"{reads:,} x ${S3_USD_PER_1000_READS}/1,000"
        )
    )
    query_mb = max(ATHENA_MIN_MB, a.streams * a.trades_per_stream_day * a.unified_bytes_per_trade / 1e6)
    queries = a.athena_queries_per_day * DAYS_PER_MONTH
    tb = queries * query_mb / 1e6
    lines.append(
        CostLine(
            "Athena",
            "queries",
            tb * ATHENA_USD_PER_TB,
            f"{queries:,} queries x {query_mb:,.0f} MB (one day of trades_unified) = {tb:.3f} TB "
            f"x ${ATHENA_USD_PER_TB}/TB",
        )
    )
    lines += _cloudwatch(deployment, a, runs, unify_runs, maintenance_runs)
    return lines


def _cloudwatch(
    deployment: Deployment, a: Assumptions, runs: int, unify_runs: int, maintenance_runs: int
) -> list[CostLine]:
    """Custom metrics (metrics.py), prorated by the hours they are sent in; logs; API calls."""
    # metrics.landing_metrics: LagSeconds per exchange (its worst stream), TradesLanded and
    # RejectedRecords once as totals; then ingest's RunDurationSeconds and RunFailed.
    every_run = a.exchanges + 2 + 2
    unify_metrics = 3  # unify's RunDurationSeconds, RunFailed, TradesUnified
    maintenance_metrics = 2 + 2 * MAINTAINED_TABLES
    unify_hours = min(HOURS_PER_MONTH, unify_runs)  # one run an hour at most counts once
    metric_months = (
        every_run * min(1.0, runs / HOURS_PER_MONTH)
        + unify_metrics * unify_hours / HOURS_PER_MONTH
        + maintenance_metrics * maintenance_runs / HOURS_PER_MONTH
    )
    # resources.alarms: one LagSeconds alarm per exchange, one each on unify's and maintain's
    # RunFailed; all month
    alarms = a.exchanges + 2
    all_runs = runs + (0 if deployment.stage_jobs("pipeline") else unify_runs) + maintenance_runs
    puts = (runs + unify_runs + maintenance_runs) * a.metric_puts_per_run
    log_gb = all_runs * a.log_mb_per_run / 1000
    return [
        CostLine(
            "CloudWatch",
            "custom metrics",
            metric_months * CW_USD_PER_METRIC_MONTH,
            f"{every_run} every run ({a.exchanges} exchanges' lag + 2 totals + 2 run), "
            f"{unify_metrics} in {unify_hours} h, "
            f"{maintenance_metrics} in {maintenance_runs} h: {metric_months:.2f} metric-months x "
            f"${CW_USD_PER_METRIC_MONTH}",
        ),
        CostLine("CloudWatch", "PutMetricData", puts / 1000 * CW_USD_PER_1000_PUTS, f"{puts:,} calls"),
        CostLine(
            "CloudWatch",
            "alarms",
            alarms * CW_USD_PER_ALARM_MONTH,
            f"{alarms} ({a.exchanges} LagSeconds, one per exchange; 1 unify and 1 maintenance "
            f"RunFailed; standard resolution) x ${CW_USD_PER_ALARM_MONTH}/alarm-month",
        ),
        CostLine(
            "CloudWatch",
            "logs",
            log_gb * CW_LOGS_USD_PER_GB,
            f"{all_runs:,} runs x {a.log_mb_per_run:g} MB x ${CW_LOGS_USD_PER_GB}/GB",
        ),
    ]


def render_cost(rows: list[JobCost]) -> str:
    """The Glue lines alone (what `deploy` prints after its plan)."""
    lines = [
        "Estimated Glue cost (30 days, per DPU-hour: STANDARD $0.44, FLEX $0.29; 1-minute minimum per run):"
    ]
    for r in rows:
        lines.append(
            f"  {r.job} ({r.execution_class}): {r.runs_per_month} runs x {r.dpu:g} DPU x "
            f"{r.billed_minutes:g} min = {r.dpu_hours:g} DPU-h = ${r.usd:.2f}"
        )
    total = sum(r.usd for r in rows)
    lines.append(f"  total: ${total:.2f}/month (all in: `schemahub deploy --estimate`)")
    return "\n".join(lines)


def render_estimate(deployment: Deployment, a: Assumptions) -> str:
    """The whole monthly bill, line by line with its formula, then every assumption."""
    lines = monthly_cost(deployment, a)
    out = [f"Estimated monthly cost of {deployment.source} for {a.streams} streams ({DAYS_PER_MONTH} days):"]
    width = max(len(f"{c.part} {c.item}") for c in lines)
    for c in lines:
        out.append(f"  {f'{c.part} {c.item}':<{width}}  ${c.usd:>7.2f}  {c.formula}")
    for part in ("Glue", "S3", "Athena", "CloudWatch"):
        out.append(f"  {part + ' total':<{width}}  ${sum(c.usd for c in lines if c.part == part):>7.2f}")
    out.append(f"  {'total':<{width}}  ${sum(c.usd for c in lines):>7.2f} per month")
    out.append("Assumptions (replace with your own runs' figures):")
    out += [f"  {line}" for line in a.lines()]
    for job in deployment.jobs:
        if job.stage != "on-demand":
            extra = f", +{job.expected_unify_minutes:g} when it unifies" if job.stage == "pipeline" else ""
            every = job.unify_every_minutes
            cadence = f", unifies every {every:g} min" if every else ""
            out.append(
                f"  {deployment.job_name(job)}: {job.expected_minutes:g} billed min per run{extra}{cadence}"
            )
    out.append(
        "  prices: us-east-1 list prices; Glue Data Catalog within its free tier; inbound traffic free; "
        "one CloudWatch dashboard within the free three"
    )
    return "\n".join(out)


def backfill_cost(seconds: float, trades: int, deployment: Deployment) -> str:
    """The Glue cost of a backfill that takes `seconds` at the rate limits, run as the
    deployment's on-demand backfill job (jobs/backfill_job.py): one line for `backfill --dry-run`."""
    jobs = [j for j in deployment.jobs if j.script.endswith("backfill_job.py")]
    if not jobs:
        return f"Glue: {deployment.source} has no job running jobs/backfill_job.py"
    job = jobs[0]
    minutes = seconds / 60
    runs = max(1, math.ceil(minutes / job.timeout_minutes))  # each run resumes where the last stopped
    usd = runs * glue_run_usd(job, minutes / runs)
    dpu = WORKER_DPU[job.worker_type] * job.number_of_workers
    rate = GLUE_USD_PER_DPU_HOUR[job.execution_class]
    per_100m = f", ${usd / trades * 1e8:,.2f} per 100M trades" if trades else ""
    split = f" in {runs} runs of at most {job.timeout_minutes} min" if runs > 1 else ""
    return (
        f"Glue: ~${usd:,.2f} as the on-demand job {deployment.job_name(job)}{split} "
        f"({minutes / 60:,.1f} h x {dpu:g} DPU x ${rate}/DPU-h, {job.execution_class}{per_100m}; "
        "the original notes budget ~$10 per 100M trades)"
    )
