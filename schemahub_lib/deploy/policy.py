"""Least-privilege IAM documents for a deployment, rendered from the deployment description.

`job_role_policy`: what the Glue jobs' role may do. Only the deployment's bucket and prefix,
only its Glue database and that database's tables, only Glue's own log groups. No write action
has a `*` resource but one: `cloudwatch:PutMetricData` has no resource-level permissions, so it
is granted on `*` only under a condition that pins the `SchemaHub` metric namespace (the jobs'
own metrics, schemahub_lib.metrics). Deliberately absent: `glue:DeleteTable`/`DeleteDatabase`
(jobs never drop); Glue's `--enable-metrics` is off.

`deployer_policy`: what the person or CI running `schemahub deploy` needs. `glue:ListJobs`,
`glue:ListTriggers` and `glue:GetTags`-by-filter are list calls that IAM only grants on `*`.
The dashboard actions are granted on the one dashboard's ARN, which has no region (dashboards
are global); the alarm writes on the deployment's `<name>-lag-*` alarms only, and
`cloudwatch:DescribeAlarms` (read-only, a list call) on `*`. The job role gets no alarm or
dashboard action: the jobs only send metrics.
"""

from __future__ import annotations

from typing import Any

from schemahub_lib.deploy.config import Deployment
from schemahub_lib.metrics import NAMESPACE as METRICS_NAMESPACE

Statement = dict[str, Any]


def _arns(d: Deployment) -> dict[str, str]:
    partition = d.role_arn.split(":")[1]
    glue = f"arn:{partition}:glue:{d.region}:{d.account_id}"
    return {
        "bucket": f"arn:{partition}:s3:::{d.bucket}",
        "objects": f"arn:{partition}:s3:::{d.bucket}/{d.prefix}",
        "catalog": f"{glue}:catalog",
        "database": f"{glue}:database/{d.database}",
        "tables": f"{glue}:table/{d.database}/*",
        "logs": f"arn:{partition}:logs:{d.region}:{d.account_id}:log-group:/aws-glue/*",
        "dashboard": f"arn:{partition}:cloudwatch::{d.account_id}:dashboard/{d.ops_dashboard}",
        "alarms": f"arn:{partition}:cloudwatch:{d.region}:{d.account_id}:alarm:{d.alarm_prefix}*",
    }


def _list_prefix(d: Deployment, sid: str) -> Statement:
    a = _arns(d)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [a["bucket"]],
        "Condition": {"StringLike": {"s3:prefix": [d.prefix, f"{d.prefix}/*"]}},
    }


def job_role_policy(d: Deployment) -> dict[str, Any]:
    """The inline policy for the role named by `role_arn` (the role the Glue jobs run as)."""
    a = _arns(d)
    return {
        "Version": "2012-10-17",
        "Statement": [
            _list_prefix(d, "ListDeploymentPrefix"),
            {
                "Sid": "BucketLocation",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation"],
                "Resource": [a["bucket"]],
            },
            {
                "Sid": "ReadArtifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{a['objects']}/artifacts/*"],
            },
            {
                # Iceberg writes data and metadata files, and maintenance deletes expired ones.
                "Sid": "ReadWriteWarehouseAndTemp",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": [f"{a['objects']}/warehouse/*", f"{a['objects']}/tmp/*"],
            },
            {
                "Sid": "ReadCatalog",
                "Effect": "Allow",
                "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"],
                "Resource": [a["catalog"], a["database"], a["tables"]],
            },
            {
                # Iceberg commits = CreateTable/UpdateTable; `init` may re-issue CreateDatabase.
                "Sid": "WriteCatalogTables",
                "Effect": "Allow",
                "Action": ["glue:CreateDatabase", "glue:CreateTable", "glue:UpdateTable"],
                "Resource": [a["catalog"], a["database"], a["tables"]],
            },
            {
                "Sid": "GlueJobLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [a["logs"], f"{a['logs']}:log-stream:*"],
            },
            {
                "Sid": "SchemaHubMetrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": ["*"],  # PutMetricData has no resource-level permissions
                "Condition": {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            },
        ],
    }


def trust_policy(d: Deployment) -> dict[str, Any]:
    """Who may assume the job role: the Glue service, on behalf of this account only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "glue.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": d.account_id}},
            }
        ],
    }


def deployer_policy(d: Deployment) -> dict[str, Any]:
    """What `schemahub deploy` (including --teardown --delete-data) calls, on this deployment only."""
    a = _arns(d)
    partition = d.role_arn.split(":")[1]
    glue = f"arn:{partition}:glue:{d.region}:{d.account_id}"
    owned = [f"{glue}:job/{d.name}-*", f"{glue}:trigger/{d.name}-*", f"{glue}:workflow/{d.name}-*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            _list_prefix(d, "ListDeploymentPrefix"),
            {
                "Sid": "Artifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{a['objects']}/*"],
            },
            {
                "Sid": "GlueJobsWorkflowsTriggers",
                "Effect": "Allow",
                "Action": [
                    "glue:CreateJob",
                    "glue:UpdateJob",
                    "glue:DeleteJob",
                    "glue:GetJob",
                    "glue:CreateWorkflow",
                    "glue:UpdateWorkflow",
                    "glue:DeleteWorkflow",
                    "glue:GetWorkflow",
                    "glue:CreateTrigger",
                    "glue:DeleteTrigger",
                    "glue:GetTrigger",
                    "glue:StartTrigger",
                    "glue:TagResource",
                    "glue:GetTags",
                ],
                "Resource": owned,
            },
            {
                "Sid": "ListGlueJobsAndTriggers",
                "Effect": "Allow",
                "Action": ["glue:ListJobs", "glue:ListTriggers"],
                "Resource": ["*"],
            },
            {
                "Sid": "CatalogInitAndTeardown",
                "Effect": "Allow",
                "Action": [
                    "glue:GetDatabase",
                    "glue:CreateDatabase",
                    "glue:DeleteDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:DeleteTable",
                ],
                "Resource": [a["catalog"], a["database"], a["tables"]],
            },
            {
                "Sid": "OpsDashboard",
                "Effect": "Allow",
                "Action": [
                    "cloudwatch:GetDashboard",
                    "cloudwatch:PutDashboard",
                    "cloudwatch:DeleteDashboards",
                ],
                "Resource": [a["dashboard"]],
            },
            {
                "Sid": "LagAlarms",
                "Effect": "Allow",
                "Action": [
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:TagResource",
                    "cloudwatch:ListTagsForResource",
                ],
                "Resource": [a["alarms"]],
            },
            {
                "Sid": "ListAlarms",
                "Effect": "Allow",
                "Action": ["cloudwatch:DescribeAlarms"],
                "Resource": ["*"],
            },
            {
                "Sid": "PassJobRoleToGlue",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [d.role_arn],
                "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}},
            },
        ],
    }
