"""The requests the deployer sends: Glue 5.1 Spark jobs with Iceberg, workflow triggers, the dashboard."""

from __future__ import annotations

import json

import pytest

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.deploy import parse_deployment
from schemahub_lib.deploy.resources import (
    dashboard_owner,
    desired_state,
    glue_settings,
    ingest_interval_seconds,
    maintenance_alarm,
    ops_dashboard_body,
    spark_conf_argument,
    unify_alarm,
)
from schemahub_lib.errors import ConfigError
from schemahub_lib.ops.dashboard import dashboard_body
from schemahub_lib.settings import Settings
from schemahub_lib.spark import EXTENSIONS, catalog_conf
from tests.deploy.conftest import deployment_data, split_layout

WHEEL_KEY = "schemahub/artifacts/python/schemahub-0.1.0-py3-none-any.whl"


def _conf_pairs(value: str) -> dict[str, str]:
    """Split a Glue `--conf` value the way Glue hands it to spark-submit."""
    pairs = [p.strip() for p in value.split(" --conf ")]
    return dict(p.split("=", 1) for p in pairs)


def test_jobs_are_glue_5_spark_jobs_with_iceberg(deployment):
    jobs = desired_state(deployment, WHEEL_KEY).jobs
    assert list(jobs) == ["schemahub-pipeline", "schemahub-maintenance", "schemahub-backfill"]
    assert {j["ExecutionClass"] for j in jobs.values()} == {"FLEX"}
    assert jobs["schemahub-pipeline"]["Timeout"] == 15
    for name, script in [
        ("schemahub-pipeline", "pipeline_job.py"),
        ("schemahub-maintenance", "maintenance_job.py"),
    ]:
        job = jobs[name]
        assert job["Command"] == {
            "Name": "glueetl",
            "ScriptLocation": f"s3://schemahub-deploy-test/schemahub/artifacts/jobs/{script}",
            "PythonVersion": "3",
        }
        assert (job["GlueVersion"], job["WorkerType"], job["NumberOfWorkers"]) == ("5.1", "G.1X", 2)
        assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
        assert job["Role"] == "arn:aws:iam::123456789012:role/schemahub-glue-jobs"
        args = job["DefaultArguments"]
        assert args["--datalake-formats"] == "iceberg"
        assert args["--additional-python-modules"] == f"s3://schemahub-deploy-test/{WHEEL_KEY}"
        assert args["--TempDir"] == "s3://schemahub-deploy-test/schemahub/tmp/"
        assert (args["--profile"], args["--warehouse"], args["--aws-region"]) == (
            "aws",
            "s3://schemahub-deploy-test/schemahub/warehouse",
            "us-east-1",
        )
    assert jobs["schemahub-pipeline"]["DefaultArguments"]["--exchanges"] == ",".join(CONNECTORS)
    assert jobs["schemahub-pipeline"]["DefaultArguments"]["--unify-every-minutes"] == "180"
    assert "--exchanges" not in jobs["schemahub-maintenance"]["DefaultArguments"]
    assert jobs["schemahub-maintenance"]["Timeout"] == 60


def test_conf_is_rendered_by_the_same_function_as_the_local_session(deployment):
    job = desired_state(deployment, WHEEL_KEY).jobs["schemahub-pipeline"]
    conf = _conf_pairs(job["DefaultArguments"]["--conf"])
    settings = glue_settings(deployment)
    assert conf == {
        "spark.sql.extensions": EXTENSIONS,
        "spark.sql.session.timeZone": "UTC",
        **catalog_conf(settings),
    }
    assert conf["spark.sql.catalog.schemahub"] == "org.apache.iceberg.spark.SparkCatalog"
    assert conf["spark.sql.catalog.schemahub.catalog-impl"] == "org.apache.iceberg.aws.glue.GlueCatalog"
    assert conf["spark.sql.catalog.schemahub.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf["spark.sql.catalog.schemahub.warehouse"] == "s3://schemahub-deploy-test/schemahub/warehouse/"
    assert conf["spark.sql.catalog.schemahub.client.region"] == "us-east-1"
    # On a real account nothing is overridden: no emulator endpoints leak into Glue.
    assert not [k for k in conf if k.endswith((".glue.endpoint", ".s3.endpoint", ".s3.path-style-access"))]


def test_local_and_glue_catalog_settings_differ_only_by_endpoints(deployment):
    """The emulator settings the integration tests use = the Glue settings + endpoint overrides."""
    glue = glue_settings(deployment)
    emulated = Settings(
        profile="aws",
        warehouse=glue.warehouse,
        aws_region=glue.aws_region,
        glue_endpoint="http://127.0.0.1:1",
        s3_endpoint="http://127.0.0.1:1",
        s3_path_style=True,
    )
    extra = set(catalog_conf(emulated).items()) - set(catalog_conf(glue).items())
    assert {k.removeprefix("spark.sql.catalog.schemahub.") for k, _ in extra} == {
        "glue.endpoint",
        "s3.endpoint",
        "s3.path-style-access",
    }
    assert set(catalog_conf(glue).items()) <= set(catalog_conf(emulated).items())
    assert "spark.sql.catalog.schemahub.warehouse" in spark_conf_argument(glue)


def test_the_schedule_starts_the_pipeline_job_alone(deployment):
    state = desired_state(deployment, WHEEL_KEY)
    schedule, maintenance = state.triggers.values()
    assert (schedule["Name"], schedule["Type"], schedule["Schedule"], schedule["WorkflowName"]) == (
        "schemahub-ingest-schedule",
        "SCHEDULED",
        "cron(0/30 * * * ? *)",
        "schemahub-pipeline",
    )
    assert schedule["Actions"] == [{"JobName": "schemahub-pipeline"}]
    assert maintenance["Actions"] == [{"JobName": "schemahub-maintenance"}]


def test_workflow_triggers_of_separate_ingest_and_unify_jobs():
    state = desired_state(parse_deployment(split_layout(deployment_data())), WHEEL_KEY)
    assert {name: w["MaxConcurrentRuns"] for name, w in state.workflows.items()} == {
        "schemahub-pipeline": 1,
        "schemahub-maintenance": 1,
    }
    schedule, unify, maintenance = state.triggers.values()
    assert (schedule["Type"], schedule["Schedule"], schedule["WorkflowName"]) == (
        "SCHEDULED",
        "cron(0/30 * * * ? *)",
        "schemahub-pipeline",
    )
    assert schedule["Actions"] == [{"JobName": "schemahub-ingest"}]
    assert unify["Type"] == "CONDITIONAL"
    assert unify["WorkflowName"] == "schemahub-pipeline"
    assert unify["Predicate"] == {
        "Logical": "AND",
        "Conditions": [{"LogicalOperator": "EQUALS", "JobName": "schemahub-ingest", "State": "SUCCEEDED"}],
    }
    assert unify["Actions"] == [{"JobName": "schemahub-unify"}]
    assert (maintenance["Type"], maintenance["Schedule"], maintenance["WorkflowName"]) == (
        "SCHEDULED",
        "cron(15 3 * * ? *)",
        "schemahub-maintenance",
    )
    assert maintenance["Actions"] == [{"JobName": "schemahub-maintenance"}]


def test_on_demand_jobs_get_no_trigger_and_no_scheduled_cost():
    from schemahub_lib.deploy import parse_deployment
    from schemahub_lib.deploy.cost import monthly_glue_cost
    from tests.deploy.conftest import deployment_data

    data = deployment_data()
    data["jobs"]["replay"] = {"stage": "on-demand", "script": "jobs/ingest_job.py", "number_of_workers": 4}
    d = parse_deployment(data)
    state = desired_state(d, WHEEL_KEY)
    assert state.jobs["schemahub-replay"]["NumberOfWorkers"] == 4
    assert state.jobs["schemahub-backfill"]["Command"]["ScriptLocation"].endswith("/jobs/backfill_job.py")
    started = {a["JobName"] for t in state.triggers.values() for a in t["Actions"]}
    assert started == {"schemahub-pipeline", "schemahub-maintenance"}
    costed = {r.job for r in monthly_glue_cost(d)}
    assert costed == {"schemahub-pipeline", "schemahub-maintenance"}


def test_dashboard_body_is_marked_with_the_deployment_and_its_region():
    data = deployment_data()
    data.update(name="lake-b", region="eu-west-1")
    body = ops_dashboard_body(parse_deployment(data))
    assert dashboard_owner(body) == ("lake-b", "eu-west-1")
    widgets = json.loads(body)["widgets"]
    assert {w["properties"]["region"] for w in widgets if w["type"] == "metric"} == {"eu-west-1"}
    # Everything but the marker is glue_deploy/dashboard.json for that region.
    unmarked = json.loads(dashboard_body("eu-west-1"))["widgets"]
    assert [w for w in widgets if w["type"] != "text"] == [w for w in unmarked if w["type"] != "text"]


def test_dashboard_owner_reads_only_a_marker_in_a_text_widget(deployment):
    assert dashboard_owner(ops_dashboard_body(deployment)) == ("schemahub", "us-east-1")
    assert dashboard_owner(dashboard_body("us-east-1")) is None  # the shipped file carries no marker
    marker = "Managed by `schemahub deploy`, deployment `schemahub-2` in us-east-1; edits ..."
    text = {"type": "text", "properties": {"markdown": marker}}
    assert dashboard_owner(json.dumps({"widgets": [text]})) == ("schemahub-2", "us-east-1")
    metric = {"type": "metric", "properties": {"title": marker}}
    for body in ("not json", "[]", '{"widgets": 3}', json.dumps({"widgets": [metric]})):
        assert dashboard_owner(body) is None, body


def test_dashboard_without_a_text_widget_is_refused(deployment, tmp_path):
    path = tmp_path / "dashboard.json"
    path.write_text(json.dumps({"widgets": [{"type": "metric", "properties": {"metrics": []}}]}))
    with pytest.raises(ConfigError, match="needs a text widget to carry the deployer's ownership marker"):
        ops_dashboard_body(deployment, path)


def test_the_unify_alarm_watches_unify_runs_at_the_unify_cadence(deployment):
    """trades_unified can go stale while every stream lands (a symbol unify cannot map stops each
    run): one alarm on unify's RunFailed fires after two unify intervals in a row with only failed
    runs or none. Its period is the pipeline's unify cadence (180 min), or the ingest interval when
    a unify job follows every ingest."""
    alarm = unify_alarm(deployment)[deployment.unify_alarm]
    assert deployment.unify_alarm == "schemahub-lag-unified"
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Dimensions"]) == (
        "RunFailed",
        "Minimum",  # one successful run in a period clears it
        [{"Name": "Job", "Value": "unify"}],  # as metrics.run_metrics sends it
    )
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (180 * 60, 2, 2)
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        0.0,
        "GreaterThanThreshold",
        "breaching",  # no unify run at all alarms as well
    )
    assert "no unify run succeeded in 2 unify intervals in a row (180 min each)" in alarm["AlarmDescription"]
    split = parse_deployment(split_layout(deployment_data()), "deploy.yaml")
    assert unify_alarm(split)[split.unify_alarm]["Period"] == ingest_interval_seconds(split) == 30 * 60


def test_the_maintenance_alarm_watches_maintain_runs_at_the_maintenance_schedule(deployment):
    """A maintenance job that fails every night (or stops running) loses nothing but lets small
    files and snapshots pile up until queries and unify slow down: one alarm on maintain's
    RunFailed fires after two maintenance intervals in a row with only failed runs or none."""
    alarm = maintenance_alarm(deployment)[deployment.maintenance_alarm]
    assert deployment.maintenance_alarm == "schemahub-lag-maintenance"
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Dimensions"]) == (
        "RunFailed",
        "Minimum",
        [{"Name": "Job", "Value": "maintain"}],  # as ops.maintenance sends it
    )
    # cron(15 3 * * ? *): once a day
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (86400, 2, 2)
    assert (alarm["Threshold"], alarm["TreatMissingData"]) == (0.0, "breaching")
    assert (
        "no maintenance run succeeded in 2 maintenance intervals in a row (1440 min each)"
        in (alarm["AlarmDescription"])
    )
    twice = deployment_data()
    twice["schedule"]["maintenance"] = "cron(15 3,15 * * ? *)"
    twice_a_day = parse_deployment(twice, "deploy.yaml")
    assert maintenance_alarm(twice_a_day)[twice_a_day.maintenance_alarm]["Period"] == 12 * 3600
    assert set(desired_state(deployment, WHEEL_KEY).alarms) >= {
        deployment.unify_alarm,
        deployment.maintenance_alarm,
    }
