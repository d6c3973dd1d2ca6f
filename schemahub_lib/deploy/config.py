"""The deployment description (`glue_deploy/deployment.yaml`) as one validated, frozen object.

Every mistake is reported with the file, the key path and what was expected, before anything
talks to AWS. Names of AWS resources are derived here, in one place:

    Glue job       <name>-<job key>              e.g. schemahub-pipeline
    workflows      <name>-pipeline, <name>-maintenance
    triggers       <name>-ingest-schedule, <name>-maintenance-daily, and with separate ingest
                   and unify jobs <name>-unify-after-ingest
    dashboard      <name>-ops                    (CloudWatch; dashboards are global, not regional)
    alarms         <name>-lag-<exchange>         (CloudWatch, one per exchange the jobs ingest)
                   <name>-lag-unified            (CloudWatch, on unify's RunFailed)
                   <name>-lag-maintenance        (CloudWatch, on maintain's RunFailed)
    S3             s3://<bucket>/<prefix>/{warehouse,artifacts,tmp}/
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemahub_lib.errors import ConfigError
from schemahub_lib.settings import NAMESPACE, REPO_ROOT

DEFAULT_DEPLOYMENT = REPO_ROOT / "glue_deploy" / "deployment.yaml"
# pipeline: ingest then unify in one Glue run; or ingest job(s) and a unify job chained by a
# trigger. on-demand: no trigger; start it by hand.
STAGES = ("pipeline", "ingest", "unify", "maintenance", "on-demand")
# Glue's execution classes: FLEX runs on spare capacity at $0.29 instead of $0.44 per DPU-hour;
# its start may be delayed (docs.aws.amazon.com/glue/latest/dg/add-job.html, "Flex").
EXECUTION_CLASSES = ("STANDARD", "FLEX")
FLEX_WORKER_TYPES = ("G.1X", "G.2X")
# Glue 5.1 Spark worker types and their DPUs (docs.aws.amazon.com/glue/latest/dg/add-job.html).
WORKER_DPU: Mapping[str, float] = {"G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8}
TAG_KEY = "schemahub:deployment"
# The Glue release whose Spark, Python and Iceberg match setup.py and the Makefile (SPEC.md).
GLUE_VERSION = "5.1"

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DATABASE = re.compile(r"^[a-z_][a-z0-9_]{0,254}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
_EXCHANGE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The unify and maintenance alarms' names after the alarm prefix, where the lag alarms have an
# exchange's name: neither is a valid exchange in --exchanges.
UNIFIED = "unified"
MAINTAINED = "maintenance"
# A CloudWatch alarm evaluates at most 7 days: the unify alarm's ALARM_INTERVALS periods of one
# unify interval each must fit (resources.unify_alarm).
MAX_UNIFY_EVERY_MINUTES = 3 * 24 * 60
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[\w-]{1,256}$")


@dataclass(frozen=True)
class JobSpec:
    """One Glue job: its stage in the workflow, its script and its size."""

    key: str
    stage: str
    script: str  # path relative to the repository root, e.g. jobs/ingest_job.py
    worker_type: str
    number_of_workers: int
    timeout_minutes: int
    max_retries: int
    arguments: Mapping[str, str] = field(default_factory=dict)
    expected_minutes: float = 1.0  # billed minutes per run, for the cost estimate only
    execution_class: str = "STANDARD"
    # pipeline jobs: billed minutes a run adds when it also unifies (cost estimate only)
    expected_unify_minutes: float = 0.0

    @property
    def unify_every_minutes(self) -> float | None:
        """A pipeline job's unify cadence (`--unify-every-minutes`); None: every run unifies."""
        value = self.arguments.get("--unify-every-minutes")
        return float(value) if value else None


@dataclass(frozen=True)
class Deployment:
    """Where SchemaHub runs in AWS and how often."""

    name: str
    region: str
    bucket: str
    prefix: str
    database: str
    role_arn: str
    glue_version: str
    ingest_schedule: str
    maintenance_schedule: str
    jobs: tuple[JobSpec, ...]
    source: str = "<deployment>"
    # alarms: a stream's lag over this many minutes alarms (None: 3 ingest intervals, resources.py)
    alarm_lag_minutes: float | None = None
    alarm_actions: tuple[str, ...] = ()  # SNS topic ARNs told when an alarm fires and clears

    @property
    def account_id(self) -> str:
        match = _ROLE_ARN.match(self.role_arn)
        assert match is not None  # validated on load
        return match["account"]

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_KEY: self.name}

    def s3_uri(self, *parts: str) -> str:
        return "s3://" + "/".join([self.bucket, self.prefix, *parts])

    def key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts])

    @property
    def warehouse(self) -> str:
        return self.s3_uri("warehouse")

    @property
    def artifacts_prefix(self) -> str:
        return self.key("artifacts") + "/"

    def job_name(self, job: JobSpec) -> str:
        return f"{self.name}-{job.key}"

    def stage_jobs(self, stage: str) -> tuple[JobSpec, ...]:
        return tuple(j for j in self.jobs if j.stage == stage)

    @property
    def pipeline_workflow(self) -> str:
        return f"{self.name}-pipeline"

    @property
    def maintenance_workflow(self) -> str:
        return f"{self.name}-maintenance"

    @property
    def ops_dashboard(self) -> str:
        return f"{self.name}-ops"

    @property
    def alarm_prefix(self) -> str:
        return f"{self.name}-lag-"

    def lag_alarm(self, exchange: str) -> str:
        return f"{self.alarm_prefix}{exchange}"

    @property
    def unify_alarm(self) -> str:
        return f"{self.alarm_prefix}{UNIFIED}"

    @property
    def maintenance_alarm(self) -> str:
        return f"{self.alarm_prefix}{MAINTAINED}"

    @property
    def exchanges(self) -> tuple[str, ...]:
        """The exchanges the scheduled pipeline or ingest jobs name in `--exchanges`, sorted."""
        named = {
            e.strip()
            for job in self.jobs
            if job.stage in ("pipeline", "ingest")
            for e in job.arguments.get("--exchanges", "").split(",")
            if e.strip()
        }
        return tuple(sorted(named))

    def glue_arn(self, kind: str, name: str) -> str:
        partition = self.role_arn.split(":")[1]
        return f"arn:{partition}:glue:{self.region}:{self.account_id}:{kind}/{name}"


def load_deployment(path: str | Path | None = None) -> Deployment:
    """Read and validate a deployment file (default `glue_deploy/deployment.yaml`)."""
    where = Path(path) if path else DEFAULT_DEPLOYMENT
    try:
        data = yaml.safe_load(where.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read deployment file {where}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    return parse_deployment(data, str(where))


def parse_deployment(data: Any, source: str = "<deployment>") -> Deployment:
    """Validate a mapping shaped like deployment.yaml (see that file for every key)."""
    top = _Reader(source, "", data)
    top.only(
        "name",
        "region",
        "bucket",
        "prefix",
        "database",
        "role_arn",
        "glue_version",
        "defaults",
        "schedule",
        "jobs",
        "alarms",
    )
    defaults = top.child("defaults", required=False)
    defaults.only("worker_type", "number_of_workers", "timeout_minutes", "max_retries", "execution_class")
    schedule = top.child("schedule")
    schedule.only("ingest", "maintenance")
    jobs_node = top.child("jobs")
    jobs = tuple(_job(jobs_node.child(key), key, defaults) for key in jobs_node.names())
    alarms = top.child("alarms", required=False)
    alarms.only("lag_minutes", "actions")
    deployment = Deployment(
        name=top.text("name", pattern=_NAME, expected="lower-case letters, digits and '-'"),
        region=top.text("region", pattern=_REGION, expected="an AWS region such as us-east-1"),
        bucket=top.text("bucket", pattern=_BUCKET, expected="an S3 bucket name"),
        prefix=top.text("prefix", expected="a key prefix such as schemahub").strip("/"),
        database=top.text("database", pattern=_DATABASE, expected="a lower-case Glue database name"),
        role_arn=top.text("role_arn", pattern=_ROLE_ARN, expected="arn:aws:iam::<account>:role/<name>"),
        glue_version=top.text("glue_version", default=GLUE_VERSION),
        ingest_schedule=schedule.cron("ingest"),
        maintenance_schedule=schedule.cron("maintenance"),
        jobs=jobs,
        source=source,
        alarm_lag_minutes=alarms.number("lag_minutes", 1.0) if "lag_minutes" in alarms.data else None,
        alarm_actions=alarms.texts("actions", pattern=_TOPIC_ARN, expected="an SNS topic ARN"),
    )
    _check_layout(deployment)
    if deployment.glue_version != GLUE_VERSION:
        raise ConfigError(
            f"{source}: glue_version: SchemaHub targets Glue {GLUE_VERSION} (Spark 3.5.6, Iceberg 1.10.0), "
            f"got {deployment.glue_version!r}"
        )
    if not deployment.prefix or deployment.prefix.startswith(".") or "//" in deployment.prefix:
        raise ConfigError(
            f"{source}: prefix: expected a key prefix such as schemahub, got {deployment.prefix!r}"
        )
    if deployment.database != NAMESPACE:
        # The jobs' Settings use the namespace SPEC.md fixes; a different database would split them.
        raise ConfigError(
            f"{source}: database: SchemaHub's Glue database is {NAMESPACE!r} (SPEC.md), "
            f"got {deployment.database!r}"
        )
    return deployment


def _check_layout(deployment: Deployment) -> None:
    """One pipeline job, or ingest job(s) plus one unify job; and one maintenance job."""
    source = deployment.source
    if deployment.stage_jobs("pipeline"):
        rules: tuple[tuple[str, str], ...] = (
            ("pipeline", "exactly one"),
            ("ingest", "no"),
            ("unify", "no"),
            ("maintenance", "exactly one"),
        )
    else:
        rules = (("ingest", "at least one"), ("unify", "exactly one"), ("maintenance", "exactly one"))
    for stage, rule in rules:
        count = len(deployment.stage_jobs(stage))
        if (rule == "no" and count) or (rule != "no" and count == 0) or (rule == "exactly one" and count > 1):
            why = " (the pipeline job ingests and unifies)" if rule == "no" else ""
            raise ConfigError(f"{source}: jobs: needs {rule} job with stage {stage}{why}, found {count}")
    for job in deployment.jobs:
        if job.stage != "pipeline" and (job.expected_unify_minutes or job.unify_every_minutes):
            raise ConfigError(
                f"{source}: jobs.{job.key}: expected_unify_minutes and --unify-every-minutes are for "
                f"the pipeline stage, not {job.stage}"
            )
        every = job.arguments.get("--unify-every-minutes")
        if every is not None and not (_positive(every) and float(every) <= MAX_UNIFY_EVERY_MINUTES):
            raise ConfigError(
                f"{source}: jobs.{job.key}.arguments.--unify-every-minutes: expected a positive number "
                f"of minutes, at most {MAX_UNIFY_EVERY_MINUTES} (3 days: the unify alarm's two periods "
                f"must fit CloudWatch's 7-day limit), got {every!r}"
            )
        if job.stage in ("pipeline", "ingest"):
            # The lag alarms are per exchange: the deployer must know which ones a job ingests.
            named = [e.strip() for e in job.arguments.get("--exchanges", "").split(",") if e.strip()]
            bad = [e for e in named if not _EXCHANGE.match(e) or e in (UNIFIED, MAINTAINED)]
            if not named or bad:
                got = f"got {bad[0]!r}" if bad else "got none"
                raise ConfigError(
                    f"{source}: jobs.{job.key}.arguments.--exchanges: expected a comma-separated list of "
                    f"exchanges such as coinbase,kraken (the lag alarms are per exchange; `{UNIFIED}` "
                    f"and `{MAINTAINED}` name the unify and maintenance alarms), {got}"
                )


def _positive(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def _job(node: _Reader, key: str, defaults: _Reader) -> JobSpec:
    node.only(
        "stage",
        "script",
        "worker_type",
        "number_of_workers",
        "timeout_minutes",
        "max_retries",
        "arguments",
        "expected_minutes",
        "execution_class",
        "expected_unify_minutes",
    )
    if not _NAME.match(key):
        raise ConfigError(f"{node.source}: jobs.{key}: job keys are lower-case letters, digits and '-'")
    stage = node.text("stage")
    if stage not in STAGES:
        raise ConfigError(
            f"{node.source}: {node.path}stage: expected one of {', '.join(STAGES)}, got {stage!r}"
        )
    script = node.text("script")
    if not script.endswith(".py") or script.startswith("/") or ".." in script.split("/"):
        raise ConfigError(
            f"{node.source}: {node.path}script: expected a .py path inside the repository, got {script!r}"
        )
    worker_type = node.text("worker_type", default=defaults.text("worker_type", default="G.1X"))
    if worker_type not in WORKER_DPU:
        raise ConfigError(
            f"{node.source}: {node.path}worker_type: expected one of {', '.join(WORKER_DPU)}, "
            f"got {worker_type!r}"
        )
    execution_class = node.text(
        "execution_class", default=defaults.text("execution_class", default="STANDARD")
    )
    if execution_class not in EXECUTION_CLASSES:
        raise ConfigError(
            f"{node.source}: {node.path}execution_class: expected one of {', '.join(EXECUTION_CLASSES)}, "
            f"got {execution_class!r}"
        )
    if execution_class == "FLEX" and worker_type not in FLEX_WORKER_TYPES:
        raise ConfigError(
            f"{node.source}: {node.path}execution_class: Glue runs FLEX only on "
            f"{', '.join(FLEX_WORKER_TYPES)} workers, got worker_type {worker_type!r}"
        )
    arguments = node.child("arguments", required=False)
    args = {}
    for name in arguments.names():
        if not name.startswith("--"):
            raise ConfigError(f"{node.source}: {arguments.path}{name}: Glue argument names start with '--'")
        args[name] = arguments.text(name)
    return JobSpec(
        key=key,
        stage=stage,
        script=script,
        worker_type=worker_type,
        number_of_workers=node.integer(
            "number_of_workers", defaults.integer("number_of_workers", 2, low=2), low=2
        ),
        timeout_minutes=node.integer(
            "timeout_minutes", defaults.integer("timeout_minutes", 30, low=1), low=1
        ),
        max_retries=node.integer("max_retries", defaults.integer("max_retries", 0, low=0), low=0),
        arguments=args,
        expected_minutes=node.number("expected_minutes", 1.0),
        execution_class=execution_class,
        expected_unify_minutes=node.number("expected_unify_minutes", 0.0, allow_zero=True),
    )


def cron_fields(expression: str) -> list[str]:
    """The six fields of a Glue `cron(...)` expression, or ConfigError."""
    match = _CRON.match(expression.strip())
    fields = match["fields"].split() if match else []
    if len(fields) != 6:
        raise ConfigError(
            f"schedule {expression!r}: expected cron(minutes hours day-of-month month day-of-week year), "
            "e.g. cron(0/30 * * * ? *)"
        )
    return fields


class _Reader:
    """Typed access to one mapping of the YAML, with error messages naming file and key path."""

    def __init__(self, source: str, path: str, data: Any) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source}: {path or 'top level'}: expected a mapping, got {type(data).__name__}"
            )
        self.source, self.path, self.data = source, path, data

    def names(self) -> list[str]:
        return [str(k) for k in self.data]

    def only(self, *allowed: str) -> None:
        unknown = sorted(str(k) for k in self.data if k not in allowed)
        if unknown:
            raise ConfigError(
                f"{self.source}: {self.path}{unknown[0]}: unknown key; expected one of {', '.join(allowed)}"
            )

    def child(self, key: str, required: bool = True) -> _Reader:
        if key not in self.data and required:
            raise ConfigError(f"{self.source}: {self.path}{key}: missing")
        return _Reader(self.source, f"{self.path}{key}.", self.data.get(key))

    def text(
        self, key: str, default: str | None = None, pattern: re.Pattern[str] | None = None, expected: str = ""
    ) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise ConfigError(f"{self.source}: {self.path}{key}: missing")
        if isinstance(value, bool | dict | list):
            raise ConfigError(f"{self.source}: {self.path}{key}: expected text, got {value!r}")
        text = str(value)
        if pattern is not None and not pattern.match(text):
            raise ConfigError(f"{self.source}: {self.path}{key}: expected {expected}, got {text!r}")
        return text

    def integer(self, key: str, default: int, low: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{self.source}: {self.path}{key}: expected an integer >= {low}, got {value!r}")
        return value

    def number(self, key: str, default: float, allow_zero: bool = False) -> float:
        value = self.data.get(key, default)
        low_ok = isinstance(value, int | float) and (value >= 0 if allow_zero else value > 0)
        if isinstance(value, bool) or not low_ok:
            expected = "a number >= 0" if allow_zero else "a positive number"
            raise ConfigError(f"{self.source}: {self.path}{key}: expected {expected}, got {value!r}")
        return float(value)

    def texts(self, key: str, pattern: re.Pattern[str], expected: str) -> tuple[str, ...]:
        """An optional list of strings, each matching `pattern`."""
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(
                f"{self.source}: {self.path}{key}: expected a list, each {expected}, got {value!r}"
            )
        for i, item in enumerate(value):
            if not isinstance(item, str) or not pattern.match(item):
                raise ConfigError(f"{self.source}: {self.path}{key}[{i}]: expected {expected}, got {item!r}")
        return tuple(value)

    def cron(self, key: str) -> str:
        expression = self.text(key)
        try:
            cron_fields(expression)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {self.path}{key}: {exc}") from None
        return expression
