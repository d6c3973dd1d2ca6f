"""`schemahub deploy` against a moto server: create, no-op second run, update, prune, dry run,
teardown; the jobs, workflows, triggers, dashboard and lag alarms it leaves behind have the
documented properties.

moto's Glue stores what it is told and never runs a job, so these tests check configuration,
not executions. moto has no UpdateTrigger; the deployer replaces changed triggers anyway.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from schemahub_lib.cli import main
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.deploy import parse_deployment, run_deploy
from schemahub_lib.deploy.aws import DeployError
from schemahub_lib.deploy.packaging import wheel_artifact
from schemahub_lib.deploy.policy import deployer_policy, job_role_policy
from schemahub_lib.deploy.resources import ops_dashboard_body
from schemahub_lib.metrics import CloudWatchSink, StreamFigures, landing_metrics, run_metrics
from schemahub_lib.ops.dashboard import dashboard_body
from schemahub_lib.settings import REPO_ROOT
from tests.aws.emulator import client
from tests.deploy.conftest import BUCKET, DEPLOYMENT_FILE, deployment_data, split_layout
from tests.deploy.test_policy import allows

pytestmark = pytest.mark.aws

TABLES = sorted(load_table_defs(REPO_ROOT / "ddl"))
JOBS = ["schemahub-backfill", "schemahub-maintenance", "schemahub-pipeline"]
TRIGGERS = ["schemahub-ingest-schedule", "schemahub-maintenance-daily"]
EXCHANGES = ["binance", "bitfinex", "coinbase", "kraken", "okx"]  # the pipeline job's --exchanges
LAG_ALARMS = [f"schemahub-lag-{e}" for e in EXCHANGES]
UNIFY_ALARM = "schemahub-lag-unified"
MAINTENANCE_ALARM = "schemahub-lag-maintenance"
ALARMS = sorted([*LAG_ALARMS, UNIFY_ALARM, MAINTENANCE_ALARM])
# 4 objects (wheel, 3 job scripts), the database, 7 Glue resources (3 jobs, 2 workflows, 2
# triggers), the dashboard, 7 alarms (5 lag, 1 unify, 1 maintenance)
RESOURCES = 20
WORKFLOWS = ["schemahub-maintenance", "schemahub-pipeline"]
DASHBOARD = "schemahub-ops"
ALARM_SETTINGS = (
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
)


def inventory(endpoint: str) -> dict[str, Any]:
    """Everything the emulator holds, with what changes on a write (versions, modification times)."""
    s3, glue, cw = client("s3", endpoint), client("glue", endpoint), client("cloudwatch", endpoint)
    versions = s3.list_object_versions(Bucket=BUCKET)
    databases = sorted(d["Name"] for d in glue.get_databases()["DatabaseList"])
    return {
        "objects": sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])),
        "versions": sorted((v["Key"], v["VersionId"]) for v in versions.get("Versions", [])),
        "jobs": {n: glue.get_job(JobName=n)["Job"]["LastModifiedOn"] for n in glue.list_jobs()["JobNames"]},
        "triggers": {n: glue.get_trigger(Name=n)["Trigger"] for n in glue.list_triggers()["TriggerNames"]},
        "workflows": {n: glue.get_workflow(Name=n)["Workflow"] for n in glue.list_workflows()["Workflows"]},
        "databases": databases,
        "dashboards": {
            e["DashboardName"]: cw.get_dashboard(DashboardName=e["DashboardName"])["DashboardBody"]
            for e in cw.list_dashboards()["DashboardEntries"]
        },
        "tables": {
            t["Name"]: t["Parameters"]["metadata_location"]
            for db in databases
            for t in glue.get_tables(DatabaseName=db)["TableList"]
        },
        "alarms": {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]},
    }


def test_dry_run_writes_nothing(endpoint, deploy_settings, deployment, built):
    before = inventory(endpoint)
    result = run_deploy(deploy_settings, deployment, dry_run=True, artifacts=built)
    assert result.applied == ()
    assert inventory(endpoint) == before
    assert before["objects"] == [] and before["jobs"] == {} and before["databases"] == []
    assert before["dashboards"] == {} and before["alarms"] == {}
    creates = {(c.kind, c.name) for c in result.plan.changes if c.action == "create"}
    assert creates == {
        *{("s3 object", f"s3://{BUCKET}/{a.key}") for a in built},
        ("glue database", "schemahub"),
        *{("iceberg table", f"schemahub.{t}") for t in TABLES},
        *{("glue job", j) for j in JOBS},
        *{("glue workflow", w) for w in WORKFLOWS},
        *{("glue trigger", t) for t in TRIGGERS},
        ("cloudwatch dashboard", DASHBOARD),
        *{("cloudwatch alarm", a) for a in ALARMS},
    }
    assert result.plan.counts()["create"] == len(result.plan.changes)
    assert "  + create    cloudwatch alarm      schemahub-lag-coinbase" in result.plan.render()


def test_second_deploy_changes_nothing(endpoint, deploy_settings, deployment, built):
    client("s3", endpoint).put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = run_deploy(deploy_settings, deployment, artifacts=built)
    assert len(first.applied) == len(first.plan.changes)
    after_first = inventory(endpoint)
    assert sorted(after_first["jobs"]) == JOBS
    assert sorted(after_first["triggers"]) == TRIGGERS
    assert sorted(after_first["workflows"]) == WORKFLOWS
    assert sorted(after_first["tables"]) == TABLES
    assert list(after_first["dashboards"]) == [DASHBOARD]
    assert sorted(after_first["alarms"]) == ALARMS

    second = run_deploy(deploy_settings, deployment, artifacts=built)
    assert second.applied == ()
    assert not second.plan.writes
    assert {c.action for c in second.plan.changes} == {"unchanged"}
    assert not [c for c in second.plan.changes if c.details]  # no drift notes either
    assert "  = unchanged glue trigger          schemahub-ingest-schedule" in second.plan.render()
    assert "  = unchanged cloudwatch dashboard  schemahub-ops" in second.plan.render()
    assert "  = unchanged cloudwatch alarm      schemahub-lag-okx" in second.plan.render()
    assert second.plan.render().endswith(f"0 to delete, {len(TABLES) + RESOURCES} unchanged, 0 kept.")
    # same object versions, job times, table pointers, dashboard body, alarm update times
    assert inventory(endpoint) == after_first


def test_deployed_resources(endpoint, deploy_settings, deployment, built):
    run_deploy(deploy_settings, deployment, artifacts=built)
    s3, glue = client("s3", endpoint), client("glue", endpoint)
    for artifact in built:  # the uploaded bytes are the built wheel and the repository's scripts
        body = s3.get_object(Bucket=BUCKET, Key=artifact.key)["Body"].read()
        assert body == artifact.path.read_bytes(), artifact.key
    wheel = wheel_artifact(built)
    assert wheel.key == "schemahub/artifacts/python/schemahub-0.1.0-py3-none-any.whl"

    for name, script in [
        ("schemahub-pipeline", "pipeline_job.py"),
        ("schemahub-maintenance", "maintenance_job.py"),
        ("schemahub-backfill", "backfill_job.py"),
    ]:
        job = glue.get_job(JobName=name)["Job"]
        assert job["Command"] == {
            "Name": "glueetl",
            "ScriptLocation": f"s3://{BUCKET}/schemahub/artifacts/jobs/{script}",
            "PythonVersion": "3",
        }
        assert (job["GlueVersion"], job["WorkerType"], job["NumberOfWorkers"]) == ("5.1", "G.1X", 2)
        assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
        assert job["ExecutionClass"] == "FLEX"
        assert job["Role"] == deployment.role_arn
        args = job["DefaultArguments"]
        assert args["--datalake-formats"] == "iceberg"
        assert args["--additional-python-modules"] == f"s3://{BUCKET}/{wheel.key}"
        assert (
            "spark.sql.catalog.schemahub.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog"
            in args["--conf"]
        )
        assert "endpoint" not in args["--conf"]
        tags = glue.get_tags(ResourceArn=deployment.glue_arn("job", name))["Tags"]
        assert tags == {"schemahub:deployment": "schemahub"}

    schedule = glue.get_trigger(Name="schemahub-ingest-schedule")["Trigger"]
    assert (schedule["Type"], schedule["Schedule"], schedule["State"], schedule["WorkflowName"]) == (
        "SCHEDULED",
        "cron(0/30 * * * ? *)",
        "ACTIVATED",
        "schemahub-pipeline",
    )
    assert schedule["Actions"] == [{"JobName": "schemahub-pipeline"}]
    daily = glue.get_trigger(Name="schemahub-maintenance-daily")["Trigger"]
    assert (daily["Type"], daily["Schedule"], daily["WorkflowName"]) == (
        "SCHEDULED",
        "cron(15 3 * * ? *)",
        "schemahub-maintenance",
    )
    assert daily["Actions"] == [{"JobName": "schemahub-maintenance"}]
    for name in WORKFLOWS:
        assert glue.get_workflow(Name=name)["Workflow"]["MaxConcurrentRuns"] == 1

    database = glue.get_database(Name="schemahub")["Database"]
    assert database["Parameters"]["schemahub:deployment"] == "schemahub"
    for name in TABLES:
        table = glue.get_table(DatabaseName="schemahub", Name=name)["Table"]
        location = table["Parameters"]["metadata_location"]
        assert table["Parameters"]["table_type"] == "ICEBERG"
        assert location.startswith(f"s3://{BUCKET}/schemahub/warehouse/schemahub.db/{name}/metadata/")
        s3.head_object(Bucket=BUCKET, Key=location.removeprefix(f"s3://{BUCKET}/"))


def test_policies_cover_what_deploy_and_init_wrote(endpoint, deploy_settings, deployment, built):
    """Every object and table that exists after a deploy is reachable under the rendered policies."""
    run_deploy(deploy_settings, deployment, artifacts=built)
    job, deployer = job_role_policy(deployment), deployer_policy(deployment)
    state = inventory(endpoint)
    for key in state["objects"]:
        arn = f"arn:aws:s3:::{BUCKET}/{key}"
        if key.startswith("schemahub/artifacts/"):
            assert allows(job, "s3:GetObject", arn) and not allows(job, "s3:PutObject", arn), key
        else:
            assert allows(job, "s3:PutObject", arn) and allows(job, "s3:DeleteObject", arn), key
        assert allows(deployer, "s3:PutObject", arn), key
    for name in state["tables"]:
        arn = f"arn:aws:glue:us-east-1:123456789012:table/schemahub/{name}"
        assert allows(job, "glue:UpdateTable", arn) and allows(deployer, "glue:DeleteTable", arn), name
    for name in state["jobs"]:
        assert allows(deployer, "glue:UpdateJob", deployment.glue_arn("job", name)), name
    assert list(state["dashboards"]) == [DASHBOARD]
    cw = client("cloudwatch", endpoint)
    for name in state["dashboards"]:
        arn = cw.get_dashboard(DashboardName=name)["DashboardArn"]  # the emulator's own ARN for it
        for action in ("cloudwatch:GetDashboard", "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"):
            assert allows(deployer, action, arn), (action, arn)
        assert not allows(job, "cloudwatch:PutDashboard", arn)
    assert sorted(state["alarms"]) == ALARMS
    for alarm in state["alarms"].values():
        arn = alarm["AlarmArn"]  # the emulator's own ARN for it
        for action in (
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:DeleteAlarms",
            "cloudwatch:TagResource",
            "cloudwatch:ListTagsForResource",
            "cloudwatch:DescribeAlarms",
        ):
            assert allows(deployer, action, arn), (action, arn)
            assert not allows(job, action, arn) and not allows(job, action, "*"), action


ALARM_CADENCE_DIFFS = (
    "Period: 1800 -> 900",
    "Threshold: 5400.0 -> 2700.0",
)


def test_changed_description_changes_only_what_differs(endpoint, deploy_settings, built):
    run_deploy(deploy_settings, parse_deployment(deployment_data()), artifacts=built)
    data = deployment_data()
    data["jobs"]["pipeline"]["number_of_workers"] = 4
    data["jobs"]["pipeline"]["execution_class"] = "STANDARD"
    data["schedule"]["ingest"] = "cron(0/15 * * * ? *)"
    changed = parse_deployment(data)

    plan = run_deploy(deploy_settings, changed, dry_run=True, artifacts=built).plan
    writes = {(c.action, c.kind, c.name): c.details for c in plan.changes if c.action != "unchanged"}
    assert writes == {
        ("update", "glue job", "schemahub-pipeline"): (
            "NumberOfWorkers: 2 -> 4",
            "ExecutionClass: FLEX -> STANDARD",
        ),
        ("replace", "glue trigger", "schemahub-ingest-schedule"): (
            "Schedule: cron(0/30 * * * ? *) -> cron(0/15 * * * ? *)",
        ),
        # The lag alarms follow the cadence: a 15-minute period, 3 x 15 minutes of lag. The
        # unify alarm follows the unify cadence, still 180 minutes.
        **{("update", "cloudwatch alarm", name): ALARM_CADENCE_DIFFS for name in LAG_ALARMS},
    }
    result = run_deploy(deploy_settings, changed, artifacts=built)
    assert len(result.applied) == 2 + len(LAG_ALARMS)
    alarms = inventory(endpoint)["alarms"]
    for name in LAG_ALARMS:
        alarm = alarms[name]
        assert (alarm["Period"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (900, 2700.0, 2)
    assert (alarms[UNIFY_ALARM]["Period"], alarms[UNIFY_ALARM]["Threshold"]) == (10800, 0.0)
    glue = client("glue", endpoint)
    job = glue.get_job(JobName="schemahub-pipeline")["Job"]
    assert (job["NumberOfWorkers"], job["ExecutionClass"]) == (4, "STANDARD")
    assert job["DefaultArguments"]["--datalake-formats"] == "iceberg"  # UpdateJob carried every field
    assert job["Command"]["ScriptLocation"].endswith("/artifacts/jobs/pipeline_job.py")
    assert glue.get_trigger(Name="schemahub-ingest-schedule")["Trigger"]["Schedule"] == "cron(0/15 * * * ? *)"
    assert run_deploy(deploy_settings, changed, artifacts=built).applied == ()


def test_jobs_removed_from_the_description_are_deleted(endpoint, deploy_settings, built):
    data = split_layout(deployment_data())
    ingest = data["jobs"].pop("ingest")
    data["jobs"] = {
        "ingest-coinbase": {**ingest, "arguments": {"--exchanges": "coinbase"}},
        "ingest-kraken": {**ingest, "arguments": {"--exchanges": "kraken"}},
        **data["jobs"],
    }
    run_deploy(deploy_settings, parse_deployment(data), artifacts=built)
    glue = client("glue", endpoint)
    unify = glue.get_trigger(Name="schemahub-unify-after-ingest")["Trigger"]
    assert sorted(c["JobName"] for c in unify["Predicate"]["Conditions"]) == [
        "schemahub-ingest-coinbase",
        "schemahub-ingest-kraken",
    ]
    assert unify["Predicate"]["Logical"] == "AND"

    result = run_deploy(deploy_settings, parse_deployment(split_layout(deployment_data())), artifacts=built)
    done = {(c.action, c.kind, c.name) for c in result.applied}
    assert done == {
        ("create", "glue job", "schemahub-ingest"),
        ("delete", "glue job", "schemahub-ingest-coinbase"),
        ("delete", "glue job", "schemahub-ingest-kraken"),
        ("replace", "glue trigger", "schemahub-ingest-schedule"),
        ("replace", "glue trigger", "schemahub-unify-after-ingest"),
        # the one ingest job names every exchange again: their lag alarms come back
        *{("create", "cloudwatch alarm", f"schemahub-lag-{e}") for e in ("binance", "bitfinex", "okx")},
    }
    conditions = glue.get_trigger(Name="schemahub-unify-after-ingest")["Trigger"]["Predicate"]["Conditions"]
    assert [c["JobName"] for c in conditions] == ["schemahub-ingest"]


def test_two_job_layout_moves_to_the_pipeline_job(endpoint, deploy_settings, built):
    """A deployment made with separate ingest and unify jobs becomes the one pipeline job."""
    run_deploy(deploy_settings, parse_deployment(split_layout(deployment_data())), artifacts=built)
    result = run_deploy(deploy_settings, parse_deployment(deployment_data()), artifacts=built)
    done = {(c.action, c.kind, c.name) for c in result.applied if c.kind in ("glue job", "glue trigger")}
    assert done == {
        ("create", "glue job", "schemahub-pipeline"),
        ("delete", "glue job", "schemahub-ingest"),
        ("delete", "glue job", "schemahub-unify"),
        ("update", "glue job", "schemahub-maintenance"),  # STANDARD -> FLEX
        ("update", "glue job", "schemahub-backfill"),
        ("replace", "glue trigger", "schemahub-ingest-schedule"),
        ("delete", "glue trigger", "schemahub-unify-after-ingest"),
    }
    # trades_unified is now updated every 180 minutes, not after every ingest: so is its alarm
    assert inventory(endpoint)["alarms"][UNIFY_ALARM]["Period"] == 10800
    glue = client("glue", endpoint)
    assert sorted(glue.list_jobs()["JobNames"]) == JOBS
    assert sorted(glue.list_triggers()["TriggerNames"]) == TRIGGERS
    trigger = glue.get_trigger(Name="schemahub-ingest-schedule")["Trigger"]
    assert trigger["Actions"] == [{"JobName": "schemahub-pipeline"}]
    assert run_deploy(deploy_settings, parse_deployment(deployment_data()), artifacts=built).applied == ()


def test_deploy_turns_vectorized_reads_back_on(endpoint, deploy_settings, deployment, built):
    """Tables created under Glue 5.0 carry read.parquet.vectorization.enabled=false; deploy removes it,
    and sets the row-group limit ddl/ added since."""
    from schemahub_lib.catalog import load_catalog
    from schemahub_lib.deploy.resources import glue_settings

    run_deploy(deploy_settings, deployment, artifacts=built)
    emulated = dataclasses.replace(
        glue_settings(deployment),
        glue_endpoint=deploy_settings.glue_endpoint,
        s3_endpoint=deploy_settings.s3_endpoint,
        s3_path_style=True,
        in_glue=False,
    )
    catalog = load_catalog(emulated)
    table = catalog.load_table("schemahub.raw_kraken_trades")
    with table.transaction() as tx:
        tx.set_properties({"read.parquet.vectorization.enabled": "false"})
        tx.remove_properties("write.parquet.row-group-limit")  # as ddl/ made it before the limit
    plan = run_deploy(deploy_settings, deployment, dry_run=True, artifacts=built).plan
    tables = [
        (c.action, c.name, c.details)
        for c in plan.changes
        if c.kind == "iceberg table" and c.action != "unchanged"
    ]
    assert tables == [
        (
            "update",
            "schemahub.raw_kraken_trades",
            ("remove read.parquet.vectorization.enabled=false", "set write.parquet.row-group-limit=131072"),
        )
    ]
    run_deploy(deploy_settings, deployment, artifacts=built)
    assert (
        "read.parquet.vectorization.enabled"
        not in catalog.load_table("schemahub.raw_kraken_trades").properties
    )
    assert (
        catalog.load_table("schemahub.raw_kraken_trades").properties["write.parquet.row-group-limit"]
        == "131072"
    )
    assert not run_deploy(deploy_settings, deployment, artifacts=built).plan.writes


def test_paused_trigger_is_started_again(endpoint, deploy_settings, deployment, built):
    run_deploy(deploy_settings, deployment, artifacts=built)
    glue = client("glue", endpoint)
    glue.stop_trigger(Name="schemahub-ingest-schedule")
    result = run_deploy(deploy_settings, deployment, artifacts=built)
    assert [(c.action, c.name, c.details) for c in result.applied] == [
        ("update", "schemahub-ingest-schedule", ("State: DEACTIVATED -> ACTIVATED",))
    ]
    assert glue.get_trigger(Name="schemahub-ingest-schedule")["Trigger"]["State"] == "ACTIVATED"


def test_same_named_resource_of_someone_else_stops_the_deploy(endpoint, deploy_settings, deployment, built):
    glue = client("glue", endpoint)
    glue.create_job(
        Name="schemahub-pipeline", Role="arn:aws:iam::123456789012:role/x", Command={"Name": "glueetl"}
    )
    before = inventory(endpoint)
    with pytest.raises(
        DeployError, match="Glue job schemahub-pipeline exists but is not tagged schemahub:deployment"
    ):
        run_deploy(deploy_settings, deployment, artifacts=built)
    assert inventory(endpoint) == before  # the plan failed before anything was written


def test_dashboard_is_deployed_in_the_deployments_region(endpoint, deploy_settings, built):
    data = deployment_data()
    data["region"] = "eu-west-1"  # dashboard.json itself says us-east-1
    deployment = parse_deployment(data)
    run_deploy(deploy_settings, deployment, artifacts=built)
    cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="eu-west-1")
    live = json.loads(cw.get_dashboard(DashboardName=DASHBOARD)["DashboardBody"])

    metric_widgets = [w for w in live["widgets"] if w["type"] == "metric"]
    assert metric_widgets and {w["properties"]["region"] for w in metric_widgets} == {"eu-west-1"}
    expected = json.loads(dashboard_body("eu-west-1"))  # glue_deploy/dashboard.json, plus the marker:
    text = next(w for w in expected["widgets"] if w["type"] == "text")
    text["properties"]["markdown"] += (
        "\n\nManaged by `schemahub deploy`, deployment `schemahub` in eu-west-1; "
        "edits made in the console are overwritten by the next deploy."
    )
    assert live == expected

    again = run_deploy(deploy_settings, deployment, artifacts=built)
    assert again.applied == ()
    dashboard = [(c.action, c.name) for c in again.plan.changes if c.kind == "cloudwatch dashboard"]
    assert dashboard == [("unchanged", DASHBOARD)]


def test_hand_edited_dashboard_is_put_back(endpoint, deploy_settings, deployment, built):
    run_deploy(deploy_settings, deployment, artifacts=built)
    cw = client("cloudwatch", endpoint)
    deployed = json.loads(cw.get_dashboard(DashboardName=DASHBOARD)["DashboardBody"])
    assert deployed == json.loads(ops_dashboard_body(deployment))

    # The same dashboard serialised differently (the console pretty-prints) is not a change.
    cw.put_dashboard(DashboardName=DASHBOARD, DashboardBody=json.dumps(deployed, indent=2, sort_keys=True))
    same = run_deploy(deploy_settings, deployment, artifacts=built)
    assert same.applied == () and not same.plan.writes

    edited = json.loads(json.dumps(deployed))
    widget = next(w for w in edited["widgets"] if w["type"] == "metric")
    title = widget["properties"]["title"]
    widget["properties"]["title"] = "renamed in the console"
    edited["start"] = "-PT3H"
    cw.put_dashboard(DashboardName=DASHBOARD, DashboardBody=json.dumps(edited))
    plan = run_deploy(deploy_settings, deployment, dry_run=True, artifacts=built).plan
    (change,) = [c for c in plan.changes if c.action != "unchanged"]
    assert (change.action, change.kind, change.name) == ("update", "cloudwatch dashboard", DASHBOARD)
    start, widgets = change.details
    assert start == "start: -PT3H -> None"
    assert widgets.startswith(f"widgets: 1 of {len(deployed['widgets'])} differ, e.g. {title[:30]}")

    result = run_deploy(deploy_settings, deployment, artifacts=built)
    assert [(c.action, c.kind) for c in result.applied] == [("update", "cloudwatch dashboard")]
    assert json.loads(cw.get_dashboard(DashboardName=DASHBOARD)["DashboardBody"]) == deployed
    assert run_deploy(deploy_settings, deployment, artifacts=built).applied == ()


@pytest.mark.parametrize(
    ("marked_for", "message"),
    [
        (None, "not marked as managed"),
        # Dashboards are global: the same deployment name in another region is someone else.
        ("eu-west-1", "marked for deployment schemahub in eu-west-1, not deployment schemahub in us-east-1"),
    ],
    ids=["unmarked", "other-region"],
)
def test_same_named_dashboard_of_someone_else_is_never_touched(
    endpoint, deploy_settings, deployment, built, marked_for, message
):
    if marked_for is None:
        body = dashboard_body("us-east-1")
    else:
        body = ops_dashboard_body(parse_deployment({**deployment_data(), "region": marked_for}))
    client("cloudwatch", endpoint).put_dashboard(DashboardName=DASHBOARD, DashboardBody=body)
    before = inventory(endpoint)
    assert before["dashboards"] == {DASHBOARD: body}
    expected = re.escape(f"CloudWatch dashboard {DASHBOARD} exists but is {message}")
    with pytest.raises(DeployError, match=expected):
        run_deploy(deploy_settings, deployment, artifacts=built)
    with pytest.raises(DeployError, match=expected):
        run_deploy(deploy_settings, deployment, teardown=True)
    assert inventory(endpoint) == before  # the plans failed before anything was written


def test_missing_bucket_is_named(endpoint, deploy_settings, built):
    data = deployment_data()
    data["bucket"] = "no-such-bucket"
    with pytest.raises(DeployError, match="bucket 'no-such-bucket' does not exist"):
        run_deploy(deploy_settings, parse_deployment(data), artifacts=built)


def test_teardown_removes_what_deploy_created(endpoint, deploy_settings, deployment, built):
    s3, glue = client("s3", endpoint), client("glue", endpoint)
    s3.put_object(Bucket=BUCKET, Key="other-team/keep.csv", Body=b"a,b\n")
    glue.create_job(Name="other-job", Role="arn:aws:iam::123456789012:role/x", Command={"Name": "glueetl"})
    cw = client("cloudwatch", endpoint)
    cw.put_dashboard(DashboardName="other-dashboard", DashboardBody=dashboard_body("us-east-1"))
    # someone's alarm under the deployer's name prefix, without the tag: never deleted
    cw.put_metric_alarm(**_foreign_alarm("schemahub-lag-manual"))
    run_deploy(deploy_settings, deployment, artifacts=built)
    assert sorted(inventory(endpoint)["dashboards"]) == ["other-dashboard", DASHBOARD]
    assert sorted(inventory(endpoint)["alarms"]) == sorted([*ALARMS, "schemahub-lag-manual"])

    kept = run_deploy(deploy_settings, deployment, teardown=True)
    assert {(c.action, c.name) for c in kept.applied if c.kind == "cloudwatch alarm"} == {
        ("delete", a) for a in ALARMS
    }
    assert {c.kind for c in kept.applied} == {
        "cloudwatch alarm",
        "cloudwatch dashboard",
        "glue trigger",
        "glue workflow",
        "glue job",
        "s3 object",
    }
    assert ("delete", "cloudwatch dashboard", DASHBOARD) in {(c.action, c.kind, c.name) for c in kept.applied}
    state = inventory(endpoint)
    assert list(state["dashboards"]) == ["other-dashboard"]
    assert list(state["alarms"]) == ["schemahub-lag-manual"]
    assert (state["jobs"].keys(), state["triggers"], state["workflows"]) == ({"other-job"}, {}, {})
    assert not [k for k in state["objects"] if k.startswith("schemahub/artifacts/")]
    assert sorted(state["tables"]) == TABLES  # data stays unless asked
    assert {
        c.action for c in kept.plan.changes if c.kind in ("iceberg table", "glue database", "s3 data")
    } == {"keep"}

    run_deploy(deploy_settings, deployment, teardown=True, delete_data=True)
    state = inventory(endpoint)
    assert state["objects"] == ["other-team/keep.csv"]
    assert (state["databases"], state["tables"], list(state["jobs"])) == ([], {}, ["other-job"])
    again = run_deploy(deploy_settings, deployment, teardown=True, delete_data=True)
    assert again.plan.changes == () and again.applied == ()


def _foreign_alarm(name: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "MetricName": "LagSeconds",
        "Namespace": "SchemaHub",
        "Dimensions": [{"Name": "Exchange", "Value": "coinbase"}],
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }


def test_lag_alarms_watch_each_exchanges_worst_stream(endpoint, deploy_settings, deployment, built):
    """One alarm per exchange on the LagSeconds a landing run sends (its worst stream's lag):
    one stale stream among healthy ones breaches its exchange's alarm; no datum breaches too."""
    run_deploy(deploy_settings, deployment, artifacts=built)
    cw = client("cloudwatch", endpoint)
    alarms = inventory(endpoint)["alarms"]
    assert sorted(alarms) == ALARMS
    for exchange in EXCHANGES:
        alarm = alarms[f"schemahub-lag-{exchange}"]
        assert {k: alarm.get(k) for k in ALARM_SETTINGS} == {
            "Namespace": "SchemaHub",
            "MetricName": "LagSeconds",
            "Dimensions": [{"Name": "Exchange", "Value": exchange}],
            "Statistic": "Maximum",
            "Period": 1800,  # the 30-minute schedule
            "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2,
            "Threshold": 5400.0,  # 3 intervals
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "breaching",  # a pipeline that stops sending alarms as well
            "ActionsEnabled": True,
            "AlarmActions": [],
            "OKActions": [],
        }
        tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
        assert tags == [{"Key": "schemahub:deployment", "Value": "schemahub"}]

    # A landing run: nine fresh coinbase streams and one stuck for four hours; kraken all fresh.
    figures = [StreamFigures("coinbase", f"C{i}-USD", 100, 0, 20.0) for i in range(9)]
    figures += [StreamFigures("coinbase", "STUCK-USD", 0, 0, 4 * 3600.0)]
    figures += [StreamFigures("kraken", f"K{i}-USD", 100, 0, 30.0) for i in range(5)]
    CloudWatchSink(cw).put(landing_metrics(figures))
    sent = cw.list_metrics(Namespace="SchemaHub", MetricName="LagSeconds")["Metrics"]
    assert len(sent) == 2  # per exchange, not per stream
    for metric in sent:
        (dimension,) = metric["Dimensions"]
        alarm = alarms[f"schemahub-lag-{dimension['Value']}"]
        assert (metric["Namespace"], metric["MetricName"], metric["Dimensions"]) == (
            alarm["Namespace"],
            alarm["MetricName"],
            alarm["Dimensions"],
        )
        breached = _statistic(cw, alarm) > alarm["Threshold"]
        assert breached == (dimension["Value"] == "coinbase"), dimension


def test_the_unify_alarm_breaches_on_the_runfailed_a_failed_unify_sends(
    endpoint, deploy_settings, deployment, built
):
    """The unify alarm watches the RunFailed datum unify sends as it ends (run.unify_metrics): a
    failed run's 1 breaches it, a successful run's 0 in the same period clears it."""
    from schemahub_lib.unify.run import UnifyReport, unify_metrics

    run_deploy(deploy_settings, deployment, artifacts=built)
    cw = client("cloudwatch", endpoint)
    alarm = inventory(endpoint)["alarms"][UNIFY_ALARM]
    assert {k: alarm.get(k) for k in ALARM_SETTINGS} == {
        "Namespace": "SchemaHub",
        "MetricName": "RunFailed",
        "Dimensions": [{"Name": "Job", "Value": "unify"}],
        "Statistic": "Minimum",
        "Period": 10800,  # the pipeline job's --unify-every-minutes 180
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "breaching",  # no unify run at all alarms as well
        "ActionsEnabled": True,
        "AlarmActions": [],
        "OKActions": [],
    }

    CloudWatchSink(cw).put(unify_metrics(12.0, None))  # the run raised
    assert _statistic(cw, alarm) > alarm["Threshold"]
    CloudWatchSink(cw).put(unify_metrics(30.0, UnifyReport("r", rows_inserted=10)))
    assert not _statistic(cw, alarm) > alarm["Threshold"]


def test_the_maintenance_alarm_breaches_on_the_runfailed_a_failed_maintain_sends(
    endpoint, deploy_settings, deployment, built
):
    """The maintenance alarm watches the RunFailed datum maintain sends as it ends
    (ops.maintenance, metrics.run_metrics("maintain", ...)): a failed run's 1 breaches it, a
    successful run's 0 in the same period clears it."""
    run_deploy(deploy_settings, deployment, artifacts=built)
    cw = client("cloudwatch", endpoint)
    alarm = inventory(endpoint)["alarms"][MAINTENANCE_ALARM]
    assert {k: alarm.get(k) for k in ALARM_SETTINGS} == {
        "Namespace": "SchemaHub",
        "MetricName": "RunFailed",
        "Dimensions": [{"Name": "Job", "Value": "maintain"}],
        "Statistic": "Minimum",
        "Period": 86400,  # cron(15 3 * * ? *): daily
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "breaching",  # no maintenance run at all alarms as well
        "ActionsEnabled": True,
        "AlarmActions": [],
        "OKActions": [],
    }

    CloudWatchSink(cw).put(run_metrics("maintain", 40.0, ok=False))
    assert _statistic(cw, alarm) > alarm["Threshold"]
    CloudWatchSink(cw).put(run_metrics("maintain", 400.0, ok=True))
    assert not _statistic(cw, alarm) > alarm["Threshold"]


def _statistic(cw: Any, alarm: dict[str, Any]) -> float:
    """The alarm's statistic over the one period around now that holds what a test just sent."""
    now, period = datetime.now(UTC), timedelta(seconds=alarm["Period"])
    (point,) = cw.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm["Dimensions"],
        StartTime=now - period,
        EndTime=now + period,
        Period=alarm["Period"],
        Statistics=[alarm["Statistic"]],
    )["Datapoints"]
    return float(point[alarm["Statistic"]])


def test_lag_alarms_follow_the_deployment_file(endpoint, deploy_settings, built):
    run_deploy(deploy_settings, parse_deployment(deployment_data()), artifacts=built)
    data = deployment_data()
    topic = "arn:aws:sns:us-east-1:123456789012:schemahub-alerts"
    data["alarms"] = {"lag_minutes": 120, "actions": [topic]}
    data["jobs"]["pipeline"]["arguments"]["--exchanges"] = "coinbase,binance,kraken,bitfinex"  # no okx
    changed = parse_deployment(data)

    plan = run_deploy(deploy_settings, changed, dry_run=True, artifacts=built).plan
    alarms = {(c.action, c.name): c.details for c in plan.changes if c.kind == "cloudwatch alarm"}
    assert alarms.pop(("delete", "schemahub-lag-okx")) == ()
    assert sorted(alarms) == [("update", a) for a in ALARMS if a != "schemahub-lag-okx"]
    told = (f'AlarmActions: [] -> ["{topic}"]', f'OKActions: [] -> ["{topic}"]')
    # the unify and maintenance alarms tell the same topics; lag_minutes is not their threshold
    assert alarms.pop(("update", UNIFY_ALARM)) == told
    assert alarms.pop(("update", MAINTENANCE_ALARM)) == told
    for details in alarms.values():
        assert details[1:] == (*told, "Threshold: 5400.0 -> 7200.0")
        assert details[0].startswith("AlarmDescription: ")
    assert "  - delete    cloudwatch alarm      schemahub-lag-okx" in plan.render()

    run_deploy(deploy_settings, changed, artifacts=built)
    live = inventory(endpoint)["alarms"]
    assert sorted(live) == [a for a in ALARMS if a != "schemahub-lag-okx"]
    for name in (UNIFY_ALARM, MAINTENANCE_ALARM):
        runs = live.pop(name)
        assert (runs["Threshold"], runs["AlarmActions"], runs["OKActions"]) == (0.0, [topic], [topic])
    for alarm in live.values():
        assert (alarm["Threshold"], alarm["AlarmActions"], alarm["OKActions"]) == (7200.0, [topic], [topic])
        assert "alarms.lag_minutes in the deployment file" in alarm["AlarmDescription"]
    assert run_deploy(deploy_settings, changed, artifacts=built).applied == ()


def test_same_named_alarm_of_someone_else_stops_the_deploy(endpoint, deploy_settings, deployment, built):
    client("cloudwatch", endpoint).put_metric_alarm(**_foreign_alarm("schemahub-lag-coinbase"))
    before = inventory(endpoint)
    message = "CloudWatch alarm schemahub-lag-coinbase exists but is not tagged schemahub:deployment"
    with pytest.raises(DeployError, match=message):
        run_deploy(deploy_settings, deployment, artifacts=built)
    assert inventory(endpoint) == before


def test_command_line(endpoint, monkeypatch, tmp_path, capsys):
    path = tmp_path / "deployment.yaml"
    path.write_text(DEPLOYMENT_FILE.read_text().replace("my-schemahub-lake", BUCKET))
    monkeypatch.setenv("SCHEMAHUB_GLUE_ENDPOINT", endpoint)
    monkeypatch.setenv("SCHEMAHUB_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("SCHEMAHUB_CLOUDWATCH_ENDPOINT", endpoint)
    monkeypatch.setenv("SCHEMAHUB_S3_PATH_STYLE", "true")

    assert main(["deploy", "--deployment", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+ create    glue job              schemahub-pipeline" in out
    assert "+ create    cloudwatch dashboard  schemahub-ops" in out
    assert "total: $21.46/month" in out
    assert out.rstrip().endswith("Dry run: nothing was written.")
    assert inventory(endpoint)["jobs"] == {} and inventory(endpoint)["dashboards"] == {}

    assert main(["deploy", "--config", str(path)]) == 0
    assert f"Applied {len(TABLES) + RESOURCES} changes." in capsys.readouterr().out
    assert main(["deploy", "--config", str(path), "--json"]) == 0  # the second deploy
    plan = json.loads(capsys.readouterr().out)
    assert plan["counts"]["unchanged"] == len(plan["changes"]) == len(TABLES) + RESOURCES

    assert main(["deploy", "--config", str(path), "--print-policy"]) == 0
    documents = json.loads(capsys.readouterr().out)
    assert set(documents) == {"job_role_policy", "job_role_trust_policy", "deployer_policy"}

    assert main(["deploy", "--config", str(path), "--delete-data"]) == 2
    assert "--delete-data only goes with --teardown" in capsys.readouterr().err
