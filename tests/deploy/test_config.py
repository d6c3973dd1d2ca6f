"""glue_deploy/deployment.yaml parses into the documented deployment; mistakes name file and key."""

from __future__ import annotations

import copy

import pytest

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.deploy import load_deployment, parse_deployment
from schemahub_lib.errors import ConfigError
from tests.deploy.conftest import DEPLOYMENT_FILE, deployment_data, split_layout


def test_shipped_deployment_file():
    d = load_deployment(DEPLOYMENT_FILE)
    assert (d.name, d.region, d.prefix, d.database, d.glue_version) == (
        "schemahub",
        "us-east-1",
        "schemahub",
        "schemahub",
        "5.1",
    )
    assert d.account_id == "123456789012"
    assert d.ingest_schedule == "cron(0/30 * * * ? *)"
    assert d.maintenance_schedule == "cron(15 3 * * ? *)"
    assert [(j.key, j.stage, j.script) for j in d.jobs] == [
        ("pipeline", "pipeline", "jobs/pipeline_job.py"),
        ("maintenance", "maintenance", "jobs/maintenance_job.py"),
        ("backfill", "on-demand", "jobs/backfill_job.py"),
    ]
    assert {(j.worker_type, j.number_of_workers, j.execution_class) for j in d.jobs} == {("G.1X", 2, "FLEX")}
    assert [j.timeout_minutes for j in d.jobs] == [15, 60, 720]
    assert d.jobs[0].arguments == {"--exchanges": ",".join(CONNECTORS), "--unify-every-minutes": "180"}
    assert d.jobs[0].unify_every_minutes == 180
    assert [d.job_name(j) for j in d.jobs] == [
        "schemahub-pipeline",
        "schemahub-maintenance",
        "schemahub-backfill",
    ]
    assert d.warehouse == "s3://my-schemahub-lake/schemahub/warehouse"
    assert d.artifacts_prefix == "schemahub/artifacts/"


def _broken(edit) -> str:
    data = copy.deepcopy(deployment_data())
    edit(data)
    with pytest.raises(ConfigError) as info:
        parse_deployment(data, "deploy.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(regoin="x"), "deploy.yaml: regoin: unknown key"),
        (lambda d: d.pop("bucket"), "deploy.yaml: bucket: missing"),
        (
            lambda d: d.update(bucket="Bad_Bucket"),
            "deploy.yaml: bucket: expected an S3 bucket name, got 'Bad_Bucket'",
        ),
        (
            lambda d: d.update(role_arn="schemahub-role"),
            "deploy.yaml: role_arn: expected arn:aws:iam::<account>",
        ),
        (lambda d: d["schedule"].update(ingest="every 30 minutes"), "deploy.yaml: schedule.ingest: schedule"),
        (
            lambda d: d["schedule"].update(ingest="cron(0/30 * * *)"),
            "expected cron(minutes hours day-of-month",
        ),
        (
            lambda d: d["jobs"]["pipeline"].update(stage="merge"),
            "deploy.yaml: jobs.pipeline.stage: expected one of",
        ),
        (
            lambda d: d["jobs"]["pipeline"].update(worker_type="G.025X"),
            "jobs.pipeline.worker_type: expected one of",
        ),
        (
            lambda d: d["jobs"]["pipeline"].update(number_of_workers=1),
            "jobs.pipeline.number_of_workers: expected an",
        ),
        (
            lambda d: d["jobs"]["pipeline"].update(script="/etc/x.py"),
            "jobs.pipeline.script: expected a .py path",
        ),
        (
            lambda d: d["jobs"]["pipeline"]["arguments"].update(exchanges="x"),
            "Glue argument names start with '--'",
        ),
        (
            lambda d: d["jobs"]["pipeline"].update(execution_class="SPOT"),
            "jobs.pipeline.execution_class: expected one of STANDARD, FLEX, got 'SPOT'",
        ),
        (
            lambda d: d["jobs"]["pipeline"].update(worker_type="G.4X"),
            "jobs.pipeline.execution_class: Glue runs FLEX only on G.1X, G.2X workers, got worker_type",
        ),
        (
            lambda d: d["jobs"]["pipeline"]["arguments"].update({"--unify-every-minutes": "soon"}),
            "arguments.--unify-every-minutes: expected a positive number of minutes, at most 4320 (3 days: "
            "the unify alarm's two periods must fit CloudWatch's 7-day limit), got 'soon'",
        ),
        (
            lambda d: d["jobs"]["pipeline"]["arguments"].update({"--unify-every-minutes": "4321"}),
            "arguments.--unify-every-minutes: expected a positive number of minutes, at most 4320",
        ),
        (
            lambda d: d["jobs"]["maintenance"].update(expected_unify_minutes=1),
            "jobs.maintenance: expected_unify_minutes and --unify-every-minutes are for the pipeline stage",
        ),
        (
            lambda d: d["jobs"].update(pipeline2=dict(d["jobs"]["pipeline"])),
            "stage pipeline, found 2",
        ),
        (
            lambda d: d["jobs"].update(unify={"stage": "unify", "script": "jobs/unify_job.py"}),
            "jobs: needs no job with stage unify (the pipeline job ingests and unifies), found 1",
        ),
        (
            lambda d: split_layout(d)["jobs"].pop("unify"),
            "jobs: needs exactly one job with stage unify, found 0",
        ),
        (
            lambda d: split_layout(d)["jobs"].update(unify2=dict(split_layout(d)["jobs"]["unify"])),
            "stage unify, found 2",
        ),
        (
            lambda d: d["jobs"]["pipeline"]["arguments"].pop("--exchanges"),
            "jobs.pipeline.arguments.--exchanges: expected a comma-separated list of exchanges such as "
            "coinbase,kraken (the lag alarms are per exchange; `unified` and `maintenance` name the unify "
            "and maintenance alarms), got none",
        ),
        (
            lambda d: d["jobs"]["pipeline"]["arguments"].update({"--exchanges": "coinbase,Kraken!"}),
            "name the unify and maintenance alarms), got 'Kraken!'",
        ),
        (
            lambda d: d["jobs"]["pipeline"]["arguments"].update({"--exchanges": "coinbase,unified"}),
            "name the unify and maintenance alarms), got 'unified'",
        ),
        (
            lambda d: d["jobs"]["pipeline"]["arguments"].update({"--exchanges": "maintenance,okx"}),
            "name the unify and maintenance alarms), got 'maintenance'",
        ),
        (lambda d: d.update(alarms={"email": "x@y"}), "deploy.yaml: alarms.email: unknown key"),
        (
            lambda d: d.update(alarms={"lag_minutes": 0}),
            "deploy.yaml: alarms.lag_minutes: expected a positive number, got 0",
        ),
        (
            lambda d: d.update(alarms={"actions": "arn:aws:sns:us-east-1:123456789012:t"}),
            "deploy.yaml: alarms.actions: expected a list, each an SNS topic ARN, got 'arn:aws:sns:",
        ),
        (
            lambda d: d.update(alarms={"actions": ["me@example.com"]}),
            "deploy.yaml: alarms.actions[0]: expected an SNS topic ARN, got 'me@example.com'",
        ),
        (lambda d: d.update(glue_version="4.0"), "glue_version: SchemaHub targets Glue 5.1"),
        (lambda d: d.update(database="other"), "database: SchemaHub's Glue database is 'schemahub'"),
    ],
)
def test_mistakes_name_the_key(edit, message):
    assert message in _broken(edit)


def test_defaults_apply_unless_a_job_overrides():
    data = deployment_data()
    data["defaults"] = {"worker_type": "G.2X", "number_of_workers": 3}
    data["jobs"]["pipeline"]["number_of_workers"] = 10
    data["jobs"]["backfill"]["execution_class"] = "STANDARD"
    d = parse_deployment(data)
    assert [(j.key, j.worker_type, j.number_of_workers, j.execution_class) for j in d.jobs] == [
        ("pipeline", "G.2X", 10, "STANDARD"),
        ("maintenance", "G.2X", 3, "STANDARD"),
        ("backfill", "G.2X", 3, "STANDARD"),
    ]


def test_several_ingest_jobs_are_allowed():
    data = split_layout(deployment_data())
    ingest = data["jobs"].pop("ingest")
    data["jobs"] = {
        "ingest-coinbase": {**ingest, "arguments": {"--exchanges": "coinbase"}},
        "ingest-binance": {**ingest, "arguments": {"--exchanges": "binance"}},
        **data["jobs"],
    }
    d = parse_deployment(data)
    assert [d.job_name(j) for j in d.stage_jobs("ingest")] == [
        "schemahub-ingest-coinbase",
        "schemahub-ingest-binance",
    ]


def test_alarm_settings_and_the_exchanges_they_cover():
    shipped = parse_deployment(deployment_data())
    assert (shipped.alarm_lag_minutes, shipped.alarm_actions) == (None, ())
    assert shipped.exchanges == ("binance", "bitfinex", "coinbase", "kraken", "okx")
    assert shipped.lag_alarm("okx") == "schemahub-lag-okx"
    data = deployment_data()
    topic = "arn:aws:sns:eu-west-1:123456789012:schemahub-alerts"
    data["alarms"] = {"lag_minutes": 45, "actions": [topic]}
    d = parse_deployment(data)
    assert (d.alarm_lag_minutes, d.alarm_actions) == (45.0, (topic,))
