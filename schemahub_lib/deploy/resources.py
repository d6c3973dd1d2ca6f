"""The desired AWS state for a deployment: Glue jobs, workflows and triggers as API requests,
the CloudWatch dashboard's body and the CloudWatch alarms (PutMetricAlarm requests).

Pure functions of the deployment and the uploaded artifacts; nothing here calls AWS. The Spark
settings the jobs need (`--conf`) are rendered by `schemahub_lib.spark.catalog_conf`, the same
function that configures the local session, so local runs and Glue cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemahub_lib.deploy.config import Deployment, JobSpec
from schemahub_lib.errors import ConfigError
from schemahub_lib.metrics import NAMESPACE as METRICS_NAMESPACE
from schemahub_lib.ops.dashboard import DASHBOARD_PATH, dashboard_body
from schemahub_lib.settings import CATALOG_NAME, Settings
from schemahub_lib.spark import EXTENSIONS, catalog_conf

# Fields of CreateJob that the deployer owns; anything else on a live job is left alone.
JOB_FIELDS = (
    "Description",
    "Role",
    "Command",
    "DefaultArguments",
    "GlueVersion",
    "WorkerType",
    "NumberOfWorkers",
    "Timeout",
    "MaxRetries",
    "ExecutionProperty",
    "ExecutionClass",
)
TRIGGER_FIELDS = ("WorkflowName", "Type", "Schedule", "Predicate", "Actions", "Description")
WORKFLOW_FIELDS = ("Description", "MaxConcurrentRuns")
# Fields of PutMetricAlarm the deployer sets; DescribeAlarms returns them under the same names.
ALARM_FIELDS = (
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "Dimensions",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)
# A lag alarm fires after this many schedule intervals in a row with the lag over its threshold
# or without a datum: one late (FLEX) or failed run alone does not page anyone.
ALARM_INTERVALS = 2
# Default threshold, in schedule intervals: a healthy stream's lag after a run is about the time
# since its newest trade; a stream that stopped landing exceeds 3 intervals within 3 runs.
LAG_INTERVALS = 3
# The ownership marker of a dashboard (see `ops_dashboard_body`), found in any text widget.
_DASHBOARD_MARKER = re.compile(
    r"Managed by `schemahub deploy`, deployment `(?P<name>[a-z0-9-]+)` in (?P<region>[a-z]{2}(-[a-z]+)+-\d)\b"
)


@dataclass(frozen=True)
class DesiredState:
    jobs: dict[str, dict[str, Any]]
    workflows: dict[str, dict[str, Any]]
    triggers: dict[str, dict[str, Any]]
    dashboards: dict[str, str]  # name -> DashboardBody
    alarms: dict[str, dict[str, Any]]  # name -> PutMetricAlarm request (without Tags)


def glue_settings(deployment: Deployment) -> Settings:
    """The Settings a job sees inside Glue: the aws profile on the real endpoints."""
    return Settings(
        profile="aws",
        warehouse=deployment.warehouse,
        catalog_name=CATALOG_NAME,
        namespace=deployment.database,
        aws_region=deployment.region,
        in_glue=True,
    )


# Session settings the jobs need besides the catalog. Static ones (SQL extensions) must exist
# before the session starts, so they go into Glue's `--conf` rather than `spark.conf.set`.
SESSION_CONF = {
    "spark.sql.extensions": EXTENSIONS,
    # As load_spark: both engines turn timestamps into dates in UTC.
    "spark.sql.session.timeZone": "UTC",
}


def spark_conf_argument(settings: Settings) -> str:
    """The value of Glue's `--conf`: one `k=v`, further pairs chained with ` --conf `.

    The catalog settings come from `schemahub_lib.spark.catalog_conf`, as for the local session.
    """
    conf = {**SESSION_CONF, **catalog_conf(settings)}
    return " --conf ".join(f"{key}={value}" for key, value in conf.items())


def settings_arguments(settings: Settings) -> dict[str, str]:
    """Job arguments that rebuild `settings` in the job script (flag names = Settings fields)."""
    return {
        "--profile": settings.profile,
        "--warehouse": settings.warehouse,
        "--aws-region": settings.aws_region,
    }


def job_arguments(deployment: Deployment, job: JobSpec, wheel_key: str) -> dict[str, str]:
    settings = glue_settings(deployment)
    arguments = {
        "--job-language": "python",
        "--datalake-formats": "iceberg",
        "--conf": spark_conf_argument(settings),
        # pip installs the wheel and its requirements (all but pyspark, which Glue provides).
        "--additional-python-modules": f"s3://{deployment.bucket}/{wheel_key}",
        "--TempDir": deployment.s3_uri("tmp") + "/",
        "--enable-continuous-cloudwatch-logging": "true",
        **settings_arguments(settings),
    }
    arguments.update(job.arguments)
    return arguments


def desired_state(deployment: Deployment, wheel_key: str) -> DesiredState:
    jobs = {}
    for job in deployment.jobs:
        name = deployment.job_name(job)
        jobs[name] = {
            "Name": name,
            "Description": f"SchemaHub {job.stage} ({job.script}), deployment {deployment.name}",
            "Role": deployment.role_arn,
            "Command": {
                "Name": "glueetl",
                "ScriptLocation": f"s3://{deployment.bucket}/{deployment.key('artifacts', job.script)}",
                "PythonVersion": "3",
            },
            "DefaultArguments": job_arguments(deployment, job, wheel_key),
            "GlueVersion": deployment.glue_version,
            "WorkerType": job.worker_type,
            "NumberOfWorkers": job.number_of_workers,
            "Timeout": job.timeout_minutes,
            "MaxRetries": job.max_retries,
            # One run at a time: two unify runs would both append the same keys (insert-only
            # MERGE is an unconditional append), and two ingests would race on watermarks.
            "ExecutionProperty": {"MaxConcurrentRuns": 1},
            "ExecutionClass": job.execution_class,
        }
    workflows = {
        deployment.pipeline_workflow: {
            "Name": deployment.pipeline_workflow,
            "Description": f"SchemaHub ingest then unify, deployment {deployment.name}",
            "MaxConcurrentRuns": 1,
        },
        deployment.maintenance_workflow: {
            "Name": deployment.maintenance_workflow,
            "Description": f"SchemaHub daily table maintenance, deployment {deployment.name}",
            "MaxConcurrentRuns": 1,
        },
    }
    (maintenance,) = deployment.stage_jobs("maintenance")
    triggers = [
        *_pipeline_triggers(deployment),
        {
            # A workflow has exactly one start trigger, so maintenance gets its own workflow.
            "Name": f"{deployment.name}-maintenance-daily",
            "WorkflowName": deployment.maintenance_workflow,
            "Type": "SCHEDULED",
            "Schedule": deployment.maintenance_schedule,
            "Actions": [{"JobName": deployment.job_name(maintenance)}],
            "Description": "starts table maintenance",
        },
    ]
    return DesiredState(
        jobs=jobs,
        workflows=workflows,
        triggers={t["Name"]: t for t in triggers},
        dashboards={deployment.ops_dashboard: ops_dashboard_body(deployment)},
        alarms=alarms(deployment),
    )


def ingest_interval_seconds(deployment: Deployment) -> int:
    """The pipeline schedule's interval, as an alarm period; the mean interval for an irregular
    schedule."""
    from schemahub_lib.deploy.cost import runs_per_day

    return _alarm_period(24 * 60 / runs_per_day(deployment.ingest_schedule))


def unify_interval_seconds(deployment: Deployment) -> int:
    """How often trades_unified is meant to be updated, as an alarm period: the ingest interval,
    or a pipeline job's longer `--unify-every-minutes`."""
    cadences = [j.unify_every_minutes for j in deployment.stage_jobs("pipeline") if j.unify_every_minutes]
    return max([ingest_interval_seconds(deployment), *(_alarm_period(m) for m in cadences)])


def maintenance_interval_seconds(deployment: Deployment) -> int:
    """The maintenance schedule's interval (a day for the default daily cron), as an alarm period."""
    from schemahub_lib.deploy.cost import runs_per_day

    return _alarm_period(24 * 60 / runs_per_day(deployment.maintenance_schedule))


def _alarm_period(minutes: float) -> int:
    """`minutes` in whole minutes, as seconds: an alarm period is a multiple of 60 s."""
    return max(1, round(minutes)) * 60


def alarms(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Every alarm the deployer owns: the lag alarms, the unify alarm and the maintenance alarm."""
    return {**lag_alarms(deployment), **unify_alarm(deployment), **maintenance_alarm(deployment)}


def lag_alarms(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """One alarm per ingested exchange on its `LagSeconds`, which every landing run sends as the
    lag of that exchange's worst stream (metrics.landing_metrics): one stale stream fires it.

    Period: one schedule interval. Fires when ALARM_INTERVALS intervals in a row have a lag
    over the threshold or no datum at all (TreatMissingData=breaching), so a pipeline that
    stopped running, or fails before it sends metrics, alarms as well.
    """
    period = ingest_interval_seconds(deployment)
    if deployment.alarm_lag_minutes is not None:
        threshold, basis = deployment.alarm_lag_minutes * 60, "alarms.lag_minutes in the deployment file"
    else:
        threshold, basis = float(LAG_INTERVALS * period), f"{LAG_INTERVALS} x the ingest interval"
    found = {}
    for exchange in deployment.exchanges:
        name = deployment.lag_alarm(exchange)
        description = (
            f"SchemaHub deployment {deployment.name}: the newest landed trade of a {exchange} stream "
            f"is older than the threshold ({basis}), or no LagSeconds came for {ALARM_INTERVALS} "
            "schedule intervals (the pipeline stopped or fails early). Which stream: the run's "
            "ingest.summary log line (worst_stream) or `schemahub status`. Managed by `schemahub deploy`."
        )
        found[name] = _alarm(
            deployment, name, description, ("LagSeconds", "Maximum", "Exchange", exchange), period, threshold
        )
    return found


def unify_alarm(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """One alarm on unify's `RunFailed` (0 ok, 1 failed; metrics.run_metrics).

    The lag alarms watch what lands in the raw tables, not what reaches trades_unified: a unify
    that fails every run (say a new listing whose symbol is neither in the seed nor matched by a
    pattern stops it with a MappingDataError) would leave the table people query stale with no
    alarm. Period: the unify cadence; statistic Minimum, so one successful run in a period
    clears it. Fires when ALARM_INTERVALS periods in a row had only failed unify runs or none
    at all (TreatMissingData=breaching).
    """
    period = unify_interval_seconds(deployment)
    name = deployment.unify_alarm
    description = (
        f"SchemaHub deployment {deployment.name}: no unify run succeeded in {ALARM_INTERVALS} unify "
        f"intervals in a row ({period // 60} min each): trades_unified is not being updated. Why: "
        "the job run's error and its unify log line, or `schemahub unify --dry-run`. Managed by "
        "`schemahub deploy`."
    )
    return {
        name: _alarm(deployment, name, description, ("RunFailed", "Minimum", "Job", "unify"), period, 0.0)
    }


def maintenance_alarm(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """One alarm on maintain's `RunFailed` (ops.maintenance sends it as every run ends).

    A maintenance job that fails every night, or no longer runs, loses no trade, but small files,
    old snapshots and orphans pile up until unify, Athena and `schemahub query` slow down and
    S3 grows, with nothing to say so. Period: the maintenance schedule's interval (a day);
    Minimum, so one successful run clears it; fires after ALARM_INTERVALS periods in a row with
    only failed runs or none (TreatMissingData=breaching).
    """
    period = maintenance_interval_seconds(deployment)
    name = deployment.maintenance_alarm
    description = (
        f"SchemaHub deployment {deployment.name}: no maintenance run succeeded in {ALARM_INTERVALS} "
        f"maintenance intervals in a row ({period // 60} min each): compaction, snapshot expiry and "
        "orphan removal have stopped (nothing is lost; queries and unify slow down as files pile "
        "up). Why: the job run's error and its maintain.summary log line, or `schemahub maintain "
        "--dry-run`. Managed by `schemahub deploy`."
    )
    return {
        name: _alarm(deployment, name, description, ("RunFailed", "Minimum", "Job", "maintain"), period, 0.0)
    }


def _alarm(
    deployment: Deployment,
    name: str,
    description: str,
    watched: tuple[str, str, str, str],
    period: int,
    threshold: float,
) -> dict[str, Any]:
    """A PutMetricAlarm request on `watched` (metric, statistic, dimension name, its value) that
    fires after ALARM_INTERVALS periods over the threshold or without a datum, and tells the
    deployment's topics when it fires and when it clears."""
    metric, statistic, dimension, value = watched
    return {
        "AlarmName": name,
        "AlarmDescription": description,
        "ActionsEnabled": True,
        "AlarmActions": list(deployment.alarm_actions),
        "OKActions": list(deployment.alarm_actions),
        "InsufficientDataActions": [],
        "MetricName": metric,
        "Namespace": METRICS_NAMESPACE,
        "Statistic": statistic,
        "Dimensions": [{"Name": dimension, "Value": value}],
        "Period": period,
        "EvaluationPeriods": ALARM_INTERVALS,
        "DatapointsToAlarm": ALARM_INTERVALS,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "breaching",
    }


def normalize_alarm(alarm: dict[str, Any]) -> dict[str, Any]:
    """The deployer-owned fields of an alarm (a DescribeAlarms entry or a request), comparable."""
    out = {k: alarm.get(k) for k in ALARM_FIELDS}
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        out[key] = sorted(out[key] or [])
    dimensions = ({"Name": d["Name"], "Value": d["Value"]} for d in out["Dimensions"] or [])
    out["Dimensions"] = sorted(dimensions, key=str)
    if out["Threshold"] is not None:
        out["Threshold"] = float(out["Threshold"])
    return out


def _pipeline_triggers(deployment: Deployment) -> list[dict[str, Any]]:
    """The schedule starts the pipeline job; or the ingest job(s), and unify when all succeeded."""
    pipeline = deployment.stage_jobs("pipeline")
    started = pipeline or deployment.stage_jobs("ingest")
    schedule = {
        "Name": f"{deployment.name}-ingest-schedule",
        "WorkflowName": deployment.pipeline_workflow,
        "Type": "SCHEDULED",
        "Schedule": deployment.ingest_schedule,
        "Actions": [{"JobName": deployment.job_name(j)} for j in started],
        "Description": "starts the pipeline job (ingest, then unify)"
        if pipeline
        else "starts the ingest job(s)",
    }
    if pipeline:
        return [schedule]
    ingest = [deployment.job_name(j) for j in started]
    (unify,) = deployment.stage_jobs("unify")
    return [
        schedule,
        {
            "Name": f"{deployment.name}-unify-after-ingest",
            "WorkflowName": deployment.pipeline_workflow,
            "Type": "CONDITIONAL",
            "Predicate": {
                "Logical": "AND",
                "Conditions": [
                    {"LogicalOperator": "EQUALS", "JobName": name, "State": "SUCCEEDED"} for name in ingest
                ],
            },
            "Actions": [{"JobName": deployment.job_name(unify)}],
            "Description": "starts unify when every ingest job succeeded",
        },
    ]


def ops_dashboard_body(deployment: Deployment, path: Path = DASHBOARD_PATH) -> str:
    """glue_deploy/dashboard.json for the deployment's region, marked as the deployment's.

    The dashboard does not get the ownership tag the Glue resources get: PutDashboard applies
    tags only when it creates a dashboard, and moto (the tests' emulator) does not store
    dashboard tags. The marker is part of the body instead, written by the same call. It names
    the region as well: dashboards are global, so a deployment of the same name in another
    region must not take this one over.
    """
    body = json.loads(dashboard_body(deployment.region, path))
    text = next((w for w in body["widgets"] if w["type"] == "text"), None)
    if text is None:
        raise ConfigError(f"{path}: widgets: needs a text widget to carry the deployer's ownership marker")
    properties = text.setdefault("properties", {})
    marker = (
        f"Managed by `schemahub deploy`, deployment `{deployment.name}` in {deployment.region}; "
        "edits made in the console are overwritten by the next deploy."
    )
    properties["markdown"] = f"{properties.get('markdown', '').rstrip()}\n\n{marker}"
    return json.dumps(body, separators=(",", ":"))


def dashboard_owner(body: str) -> tuple[str, str] | None:
    """(deployment name, region) from a dashboard body's ownership marker; None without one."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    widgets = parsed.get("widgets") if isinstance(parsed, dict) else None
    for widget in widgets if isinstance(widgets, list) else []:
        if isinstance(widget, dict) and widget.get("type") == "text":
            markdown = (widget.get("properties") or {}).get("markdown")
            match = _DASHBOARD_MARKER.search(markdown) if isinstance(markdown, str) else None
            if match:
                return match["name"], match["region"]
    return None


def normalize_trigger(trigger: dict[str, Any]) -> dict[str, Any]:
    """The deployer-owned fields of a trigger, in a form that compares equal across reads."""
    out = {k: trigger[k] for k in TRIGGER_FIELDS if trigger.get(k) not in (None, "", [], {})}
    if "Predicate" in out:
        predicate = out["Predicate"]
        out["Predicate"] = {
            "Logical": predicate.get("Logical", "AND"),
            "Conditions": sorted(
                (
                    {k: c[k] for k in ("LogicalOperator", "JobName", "State") if c.get(k)}
                    for c in predicate.get("Conditions", [])
                ),
                key=lambda c: str(c.get("JobName")),
            ),
        }
    out["Actions"] = sorted(
        ({k: a[k] for k in ("JobName", "Arguments") if a.get(k)} for a in trigger.get("Actions", [])),
        key=lambda a: str(a.get("JobName")),
    )
    return out
