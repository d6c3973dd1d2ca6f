"""Monthly Glue cost of a deployment's schedule, from the formula in glue_deploy/README.md.

    cost = Σ_jobs runs_per_month × DPU × max(minutes, 1) / 60 × $0.44

Glue 5.0 Spark jobs bill per second with a 1-minute minimum; DPU = workers × DPU per worker
(G.1X = 1). `minutes` is the job's `expected_minutes` from the deployment file, an assumption
to replace with the ExecutionTime of real runs. S3, Athena and CloudWatch are estimated in the
README.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemahub_lib.deploy.config import WORKER_DPU, Deployment, cron_fields
from schemahub_lib.errors import ConfigError

GLUE_USD_PER_DPU_HOUR = 0.44
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class JobCost:
    job: str
    runs_per_month: int
    dpu: float
    billed_minutes: float
    dpu_hours: float
    usd: float


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


def monthly_glue_cost(deployment: Deployment) -> list[JobCost]:
    """One row per scheduled job: ingest and unify run on the ingest schedule, maintenance on its own."""
    pipeline_runs = runs_per_day(deployment.ingest_schedule) * DAYS_PER_MONTH
    maintenance_runs = runs_per_day(deployment.maintenance_schedule) * DAYS_PER_MONTH
    rows = []
    for job in deployment.jobs:
        if job.stage == "on-demand":
            continue  # started by hand: no scheduled cost
        runs = maintenance_runs if job.stage == "maintenance" else pipeline_runs
        dpu = WORKER_DPU[job.worker_type] * job.number_of_workers
        billed = max(job.expected_minutes, 1.0)
        dpu_hours = runs * dpu * billed / 60
        rows.append(
            JobCost(
                job=deployment.job_name(job),
                runs_per_month=runs,
                dpu=dpu,
                billed_minutes=billed,
                dpu_hours=round(dpu_hours, 4),
                usd=round(dpu_hours * GLUE_USD_PER_DPU_HOUR, 2),
            )
        )
    return rows


def render_cost(rows: list[JobCost]) -> str:
    lines = ["Estimated Glue cost (30 days, $0.44/DPU-hour, 1-minute minimum per run):"]
    for r in rows:
        lines.append(
            f"  {r.job}: {r.runs_per_month} runs x {r.dpu:g} DPU x {r.billed_minutes:g} min = "
            f"{r.dpu_hours:g} DPU-h = ${r.usd:.2f}"
        )
    total = sum(r.usd for r in rows)
    lines.append(f"  total: ${total:.2f}/month (S3, Athena and CloudWatch: see glue_deploy/README.md)")
    return "\n".join(lines)
