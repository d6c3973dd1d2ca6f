"""The IAM documents grant what the jobs and the deployer use, on this deployment only.

`allows` evaluates Allow statements the way IAM matches them (action and resource wildcards,
StringEquals/StringLike conditions; a condition on an absent key does not match).
"""

from __future__ import annotations

import dataclasses
import json
from fnmatch import fnmatchcase
from typing import Any

import pytest

from schemahub_lib.deploy.policy import deployer_policy, job_role_policy, trust_policy

READ_PREFIXES = ("Get", "List", "Describe", "Head")
GLUE = "arn:aws:glue:us-east-1:123456789012"
S3 = "arn:aws:s3:::schemahub-deploy-test"
DASHBOARDS = "arn:aws:cloudwatch::123456789012:dashboard"  # dashboards are global: no region
DASHBOARD_ACTIONS = ("cloudwatch:GetDashboard", "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards")
ALARMS = "arn:aws:cloudwatch:us-east-1:123456789012:alarm"
ALARM_WRITES = (
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:TagResource",
    "cloudwatch:ListTagsForResource",
)


def allows(policy: dict[str, Any], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    context = context or {}
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if not any(fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        if not any(fnmatchcase(resource, r) for r in statement["Resource"]):
            continue
        if all(_condition(op, body, context) for op, body in statement.get("Condition", {}).items()):
            return True
    return False


def _condition(operator: str, body: dict[str, Any], context: dict[str, str]) -> bool:
    for key, wanted in body.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if key not in context:
            return False
        match = fnmatchcase if operator == "StringLike" else str.__eq__
        if not any(match(context[key], v) for v in values):
            return False
    return True


def _write_actions(statement: dict[str, Any]) -> list[str]:
    return [a for a in statement["Action"] if not a.split(":")[1].startswith(READ_PREFIXES)]


@pytest.mark.parametrize("render", [job_role_policy, deployer_policy])
def test_no_write_action_on_a_wildcard_resource(deployment, render):
    policy = render(deployment)
    assert len(json.dumps(policy, separators=(",", ":"))) < 6144  # fits a managed policy
    for statement in policy["Statement"]:
        if statement["Action"] == ["cloudwatch:PutMetricData"]:
            # No resource-level permissions exist for it: `*` is allowed only when pinned to
            # our namespace.
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "SchemaHub"}}
            continue
        if _write_actions(statement):
            for resource in statement["Resource"]:
                assert resource != "*", statement["Sid"]
                assert any(
                    name in resource
                    for name in (
                        "schemahub-deploy-test",
                        ":database/schemahub",
                        "/schemahub/",
                        ":catalog",
                        "/schemahub-",
                        ":alarm:schemahub-lag-",
                        "log-group:/aws-glue/",
                        "role/schemahub-glue-jobs",
                    )
                ), (statement["Sid"], resource)
            for action in statement["Action"]:
                assert "*" not in action, statement["Sid"]


def test_job_role_can_do_what_the_jobs_do(deployment):
    policy = job_role_policy(deployment)
    data = f"{S3}/schemahub/warehouse/schemahub.db/trades_unified/data/trade_ts_day=2024-03-01/x.parquet"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
        assert allows(policy, action, data)
    assert allows(policy, "s3:GetObject", f"{S3}/schemahub/artifacts/python/schemahub-0.1.0-py3-none-any.whl")
    assert allows(policy, "s3:PutObject", f"{S3}/schemahub/tmp/spark/part-0")
    listing = {"s3:prefix": "schemahub/warehouse/schemahub.db/trades_unified/metadata/"}
    assert allows(policy, "s3:ListBucket", S3, listing)
    for action in ("glue:GetTable", "glue:CreateTable", "glue:UpdateTable"):
        for resource in (
            f"{GLUE}:catalog",
            f"{GLUE}:database/schemahub",
            f"{GLUE}:table/schemahub/trades_unified",
        ):
            assert allows(policy, action, resource), (action, resource)
    log_stream = "arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/jobs/output:log-stream:jr_1"
    assert allows(policy, "logs:PutLogEvents", log_stream)


def test_job_role_cannot_leave_its_bucket_prefix_and_database(deployment):
    policy = job_role_policy(deployment)
    assert not allows(policy, "s3:PutObject", f"{S3}/other/x")
    assert not allows(policy, "s3:PutObject", "arn:aws:s3:::another-bucket/schemahub/warehouse/x")
    assert not allows(policy, "s3:GetObject", f"{S3}/schemahubx/warehouse/x")
    assert not allows(policy, "s3:ListBucket", S3, {"s3:prefix": "other/"})
    assert not allows(policy, "s3:ListBucket", S3)  # whole-bucket listing
    # The jobs read their code but cannot replace it.
    assert not allows(policy, "s3:PutObject", f"{S3}/schemahub/artifacts/jobs/unify_job.py")
    assert not allows(policy, "glue:UpdateTable", f"{GLUE}:table/otherdb/trades")
    assert not allows(policy, "glue:CreateTable", f"{GLUE}:database/otherdb")
    for action in (
        "glue:DeleteTable",
        "glue:DeleteDatabase",
        "glue:CreateJob",
        "iam:PassRole",
        "s3:DeleteBucket",
    ):
        assert not any(
            allows(policy, action, r) for r in (f"{GLUE}:table/schemahub/trades_unified", S3, "*")
        ), action
    assert not allows(policy, "logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/other")


def test_trust_policy_lets_only_glue_assume_the_role(deployment):
    (statement,) = trust_policy(deployment)["Statement"]
    assert statement["Principal"] == {"Service": "glue.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_deployer_is_limited_to_its_own_resources(deployment):
    policy = deployer_policy(deployment)
    assert allows(policy, "glue:CreateJob", f"{GLUE}:job/schemahub-unify")
    assert allows(policy, "glue:CreateTrigger", f"{GLUE}:trigger/schemahub-ingest-schedule")
    assert allows(policy, "glue:DeleteWorkflow", f"{GLUE}:workflow/schemahub-pipeline")
    assert allows(policy, "s3:PutObject", f"{S3}/schemahub/artifacts/jobs/unify_job.py")
    assert allows(
        policy,
        "iam:PassRole",
        "arn:aws:iam::123456789012:role/schemahub-glue-jobs",
        {"iam:PassedToService": "glue.amazonaws.com"},
    )
    for action in DASHBOARD_ACTIONS:
        assert allows(policy, action, f"{DASHBOARDS}/schemahub-ops"), action
        for other in (f"{DASHBOARDS}/payroll", f"{DASHBOARDS}/schemahub-ops-old", f"{DASHBOARDS}/*"):
            assert not allows(policy, action, other), (action, other)
        # A region in the ARN would be a different (non-existent) resource.
        assert not allows(policy, action, "arn:aws:cloudwatch:us-east-1:123456789012:dashboard/schemahub-ops")
    assert not allows(policy, "glue:CreateJob", f"{GLUE}:job/payroll-export")
    assert not allows(policy, "glue:DeleteTrigger", f"{GLUE}:trigger/other-trigger")
    assert not allows(policy, "s3:PutObject", "arn:aws:s3:::another-bucket/x")
    assert not allows(
        policy,
        "iam:PassRole",
        "arn:aws:iam::123456789012:role/admin",
        {"iam:PassedToService": "glue.amazonaws.com"},
    )
    assert not allows(
        policy,
        "iam:PassRole",
        "arn:aws:iam::123456789012:role/schemahub-glue-jobs",
        {"iam:PassedToService": "ec2.amazonaws.com"},
    )


def test_dashboard_grant_follows_the_deployment_name(deployment):
    renamed = dataclasses.replace(deployment, name="lake-b")
    policy = deployer_policy(renamed)
    assert allows(policy, "cloudwatch:PutDashboard", f"{DASHBOARDS}/lake-b-ops")
    assert not allows(policy, "cloudwatch:PutDashboard", f"{DASHBOARDS}/schemahub-ops")


def test_job_role_cannot_touch_dashboards(deployment):
    policy = job_role_policy(deployment)
    for action in DASHBOARD_ACTIONS:
        assert not allows(policy, action, f"{DASHBOARDS}/schemahub-ops"), action


def test_job_role_puts_metrics_only_in_the_schemahub_namespace(deployment):
    policy = job_role_policy(deployment)
    assert allows(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "SchemaHub"})
    assert not allows(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/EC2"})
    assert not allows(policy, "cloudwatch:PutMetricData", "*")


def test_deployer_writes_only_its_own_lag_alarms(deployment):
    policy = deployer_policy(deployment)
    for action in ALARM_WRITES:
        assert allows(policy, action, f"{ALARMS}:schemahub-lag-coinbase"), action
        for other in (f"{ALARMS}:billing-alarm", f"{ALARMS}:schemahub-ops", f"{ALARMS}:*"):
            assert not allows(policy, action, other), (action, other)
        other_region = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:schemahub-lag-coinbase"
        assert not allows(policy, action, other_region), action
    assert allows(policy, "cloudwatch:DescribeAlarms", "*")  # read-only listing by name prefix


def test_job_role_cannot_touch_alarms(deployment):
    policy = job_role_policy(deployment)
    for action in (*ALARM_WRITES, "cloudwatch:DescribeAlarms", "cloudwatch:SetAlarmState"):
        for resource in (f"{ALARMS}:schemahub-lag-coinbase", "*"):
            assert not allows(policy, action, resource, {"cloudwatch:namespace": "SchemaHub"}), action
