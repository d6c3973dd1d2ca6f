"""Compare the desired deployment with what AWS holds, using read-only calls only.

Ownership is explicit: every job, workflow and trigger the deployer creates carries the tag
`schemahub:deployment=<name>`; the Glue database it creates carries that key as a parameter;
the CloudWatch dashboard's text widget says "Managed by `schemahub deploy`, deployment `<name>`
in <region>" (resources.ops_dashboard_body); the CloudWatch alarms carry the tag as well. A
same-named resource without the tag or marker is never changed or deleted: the plan fails
instead.
Objects under `<prefix>/artifacts/` belong to the deployer.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg.catalog import Catalog

from schemahub_lib.ddl import load_table_defs
from schemahub_lib.deploy.aws import AwsClients, DeployError, aws_call, aws_get, error_code, paginate
from schemahub_lib.deploy.config import TAG_KEY, Deployment
from schemahub_lib.deploy.packaging import Artifact, wheel_artifact
from schemahub_lib.deploy.plan import Change, Plan
from schemahub_lib.deploy.resources import (
    ALARM_FIELDS,
    JOB_FIELDS,
    WORKFLOW_FIELDS,
    dashboard_owner,
    desired_state,
    normalize_alarm,
    normalize_trigger,
)
from schemahub_lib.settings import Settings
from schemahub_lib.tables import describe_drift, property_changes


def build_plan(
    deployment: Deployment,
    clients: AwsClients,
    catalog: Catalog,
    settings: Settings,
    artifacts: list[Artifact],
) -> Plan:
    """What `schemahub deploy` would do; reads AWS, writes nothing."""
    _check_bucket(deployment, clients)
    wheel = wheel_artifact(artifacts)
    desired = desired_state(deployment, wheel.key)
    changes = _artifact_changes(deployment, clients, {a.key: a for a in artifacts})
    changes += _catalog_changes(deployment, clients, catalog, settings)
    changes += _job_changes(deployment, clients, desired.jobs)
    changes += _workflow_changes(deployment, clients, desired.workflows)
    changes += _trigger_changes(deployment, clients, desired.triggers)
    changes += _dashboard_changes(deployment, clients, desired.dashboards)
    changes += _alarm_changes(deployment, clients, desired.alarms)
    return Plan(deployment, tuple(changes))


def build_teardown_plan(
    deployment: Deployment, clients: AwsClients, catalog: Catalog, settings: Settings, delete_data: bool
) -> Plan:
    """Delete what the deployer created; data (tables, warehouse) only with `delete_data`."""
    _check_bucket(deployment, clients)
    changes = _alarm_changes(deployment, clients, {})
    changes += _dashboard_changes(deployment, clients, {})
    changes += _trigger_changes(deployment, clients, {})
    changes += _workflow_changes(deployment, clients, {})
    changes += _job_changes(deployment, clients, {})
    changes += _artifact_changes(deployment, clients, {})
    changes += _data_changes(deployment, clients, catalog, settings, delete_data)
    return Plan(deployment, tuple(changes), teardown=True)


def _check_bucket(deployment: Deployment, clients: AwsClients) -> None:
    # A prefix listing, not HeadBucket: it needs only the prefix-scoped s3:ListBucket grant.
    try:
        clients.s3.list_objects_v2(Bucket=deployment.bucket, Prefix=deployment.key(""), MaxKeys=1)
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            raise DeployError(
                f"{deployment.source}: bucket {deployment.bucket!r} does not exist; create it in "
                f"{deployment.region} first (glue_deploy/README.md, Prerequisites)"
            ) from exc
        raise DeployError(f"ListObjectsV2 s3://{deployment.bucket}/{deployment.prefix}/: {exc}") from exc
    except BotoCoreError as exc:
        raise DeployError(f"cannot reach S3 for bucket {deployment.bucket!r}: {exc}") from exc


def _artifact_changes(
    deployment: Deployment, clients: AwsClients, desired: dict[str, Artifact]
) -> list[Change]:
    live = {
        o["Key"]
        for o in paginate(
            clients.s3,
            "list_objects_v2",
            "Contents",
            Bucket=deployment.bucket,
            Prefix=deployment.artifacts_prefix,
        )
    }
    changes = []
    for key, artifact in desired.items():
        uri = f"s3://{deployment.bucket}/{key}"
        if key not in live:
            changes.append(Change("create", "s3 object", uri, spec=artifact))
            continue
        head = aws_call(f"HeadObject {uri}", clients.s3.head_object, Bucket=deployment.bucket, Key=key)
        if head.get("Metadata", {}).get("sha256") == artifact.sha256:
            changes.append(Change("unchanged", "s3 object", uri))
        else:
            changes.append(Change("update", "s3 object", uri, ("content changed",), spec=artifact))
    for key in sorted(live - set(desired)):
        changes.append(Change("delete", "s3 object", f"s3://{deployment.bucket}/{key}", spec=key))
    return changes


def _get_database(deployment: Deployment, clients: AwsClients) -> dict[str, Any] | None:
    response = aws_get(
        f"GetDatabase {deployment.database}", clients.glue.get_database, Name=deployment.database
    )
    return None if response is None else dict(response["Database"])


def _catalog_changes(
    deployment: Deployment, clients: AwsClients, catalog: Catalog, settings: Settings
) -> list[Change]:
    database = _get_database(deployment, clients)
    changes = [Change("unchanged" if database else "create", "glue database", deployment.database)]
    for name, table_def in load_table_defs(settings.ddl_dir).items():
        identifier = f"{deployment.database}.{name}"
        if database is None or not catalog.table_exists(identifier):
            changes.append(Change("create", "iceberg table", identifier, spec=name))
            continue
        table = catalog.load_table(identifier)
        drift = describe_drift(table, table_def)
        details = (f"differs from DDL, not migrated by deploy: {drift}",) if drift else ()
        retired, upgraded = property_changes(table, table_def)
        if retired or upgraded:  # apply's init_tables removes and sets them
            edits = [f"remove {k}={v}" for k, v in retired.items()] + [
                f"set {k}={v}" for k, v in upgraded.items()
            ]
            changes.append(Change("update", "iceberg table", identifier, (*edits, *details)))
            continue
        changes.append(Change("unchanged", "iceberg table", identifier, details))
    return changes


def _data_changes(
    deployment: Deployment, clients: AwsClients, catalog: Catalog, settings: Settings, delete_data: bool
) -> list[Change]:
    action = "delete" if delete_data else "keep"
    changes = []
    database = _get_database(deployment, clients)
    if database is not None:
        for name in load_table_defs(settings.ddl_dir):
            identifier = f"{deployment.database}.{name}"
            if catalog.table_exists(identifier):
                changes.append(Change(action, "iceberg table", identifier, spec=identifier))
        owned = database.get("Parameters", {}).get(TAG_KEY) == deployment.name
        if owned:
            changes.append(Change(action, "glue database", deployment.database, spec=deployment.database))
    for part in ("warehouse", "tmp"):
        prefix = deployment.key(part) + "/"
        listed = paginate(clients.s3, "list_objects_v2", "Contents", Bucket=deployment.bucket, Prefix=prefix)
        keys = [o["Key"] for o in listed]
        if keys:
            uri = f"s3://{deployment.bucket}/{prefix}"
            changes.append(Change(action, "s3 data", uri, (f"{len(keys)} objects",), spec=keys))
    return changes


def _owned(deployment: Deployment, clients: AwsClients, kind: str, name: str) -> bool:
    arn = deployment.glue_arn(kind, name)
    tags = aws_call(f"GetTags {arn}", clients.glue.get_tags, ResourceArn=arn).get("Tags", {})
    return bool(tags.get(TAG_KEY) == deployment.name)


def _conflict(deployment: Deployment, kind: str, name: str) -> DeployError:
    return DeployError(
        f"{kind} {name} exists but is not tagged {TAG_KEY}={deployment.name}; the deployer will not "
        "change or delete it. Rename the deployment (`name` in the deployment file) or remove it."
    )


def _field_diffs(live: dict[str, Any], want: dict[str, Any], fields: tuple[str, ...]) -> tuple[str, ...]:
    diffs = []
    for name in fields:
        have, wanted = live.get(name), want.get(name)
        if isinstance(wanted, dict) and isinstance(have, dict) and name in ("DefaultArguments", "Command"):
            for key in sorted(set(have) | set(wanted)):
                if have.get(key) != wanted.get(key):
                    diffs.append(f"{name}.{key}: {_short(have.get(key))} -> {_short(wanted.get(key))}")
        elif have != wanted:
            diffs.append(f"{name}: {_short(have)} -> {_short(wanted)}")
    return tuple(diffs)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _job_changes(
    deployment: Deployment, clients: AwsClients, desired: dict[str, dict[str, Any]]
) -> list[Change]:
    managed = set(paginate(clients.glue, "list_jobs", "JobNames", Tags=deployment.tags))
    changes = []
    for name, want in desired.items():
        found = aws_get(f"GetJob {name}", clients.glue.get_job, JobName=name)
        if found is None:
            changes.append(Change("create", "glue job", name, spec=want))
            continue
        live = found["Job"]
        if name not in managed:
            raise _conflict(deployment, "Glue job", name)
        diffs = _field_diffs(live, want, JOB_FIELDS)
        changes.append(Change("update" if diffs else "unchanged", "glue job", name, diffs, spec=want))
    changes += [Change("delete", "glue job", name, spec=name) for name in sorted(managed - set(desired))]
    return changes


def _workflow_changes(
    deployment: Deployment, clients: AwsClients, desired: dict[str, dict[str, Any]]
) -> list[Change]:
    changes = []
    for name in (deployment.pipeline_workflow, deployment.maintenance_workflow):
        want = desired.get(name)
        found = aws_get(f"GetWorkflow {name}", clients.glue.get_workflow, Name=name)
        if found is None:
            if want is not None:
                changes.append(Change("create", "glue workflow", name, spec=want))
            continue
        live = found["Workflow"]
        if not _owned(deployment, clients, "workflow", name):
            raise _conflict(deployment, "Glue workflow", name)
        if want is None:
            changes.append(Change("delete", "glue workflow", name, spec=name))
            continue
        diffs = _field_diffs(live, want, WORKFLOW_FIELDS)
        changes.append(Change("update" if diffs else "unchanged", "glue workflow", name, diffs, spec=want))
    return changes


def _trigger_changes(
    deployment: Deployment, clients: AwsClients, desired: dict[str, dict[str, Any]]
) -> list[Change]:
    managed = set(paginate(clients.glue, "list_triggers", "TriggerNames", Tags=deployment.tags))
    changes = []
    for name, want in desired.items():
        found = aws_get(f"GetTrigger {name}", clients.glue.get_trigger, Name=name)
        if found is None:
            changes.append(Change("create", "glue trigger", name, spec=want))
            continue
        live = found["Trigger"]
        if name not in managed:
            raise _conflict(deployment, "Glue trigger", name)
        have, wanted = normalize_trigger(live), normalize_trigger(want)
        diffs = _field_diffs(have, wanted, tuple(sorted(set(have) | set(wanted))))
        if diffs:
            # UpdateTrigger cannot change Type or WorkflowName; delete + create handles every field.
            changes.append(Change("replace", "glue trigger", name, diffs, spec=want))
        elif live.get("State") not in ("ACTIVATED", "ACTIVATING"):
            state = f"State: {live.get('State')} -> ACTIVATED"
            changes.append(
                Change("update", "glue trigger", name, (state,), spec={"Name": name, "activate": True})
            )
        else:
            changes.append(Change("unchanged", "glue trigger", name))
    changes += [Change("delete", "glue trigger", name, spec=name) for name in sorted(managed - set(desired))]
    return changes


def _dashboard_changes(deployment: Deployment, clients: AwsClients, desired: dict[str, str]) -> list[Change]:
    name = deployment.ops_dashboard
    want = desired.get(name)
    found = aws_get(f"GetDashboard {name}", clients.cloudwatch.get_dashboard, DashboardName=name)
    if found is None:
        return [Change("create", "cloudwatch dashboard", name, spec=want)] if want is not None else []
    owner = dashboard_owner(found["DashboardBody"])
    if owner != (deployment.name, deployment.region):
        marked = f"marked for deployment {owner[0]} in {owner[1]}" if owner else "not marked as managed"
        raise DeployError(
            f"CloudWatch dashboard {name} exists but is {marked}, not deployment {deployment.name} in "
            f"{deployment.region} (dashboards are global); the deployer will not change or delete it. "
            "Rename the deployment (`name` in the deployment file) or remove it."
        )
    if want is None:
        return [Change("delete", "cloudwatch dashboard", name, spec=name)]
    diffs = _dashboard_diffs(json.loads(found["DashboardBody"]), json.loads(want))
    return [Change("update" if diffs else "unchanged", "cloudwatch dashboard", name, diffs, spec=want)]


def _dashboard_diffs(live: dict[str, Any], want: dict[str, Any]) -> tuple[str, ...]:
    diffs = [
        f"{key}: {_short(live.get(key))} -> {_short(want.get(key))}"
        for key in sorted(set(live) | set(want))
        if key != "widgets" and live.get(key) != want.get(key)
    ]
    have, wanted = live.get("widgets", []), want.get("widgets", [])
    if len(have) != len(wanted):
        diffs.append(f"widgets: {len(have)} -> {len(wanted)}")
    else:
        changed = [w for h, w in zip(have, wanted, strict=True) if h != w]
        if changed:
            first = changed[0].get("properties", {}).get("title") or changed[0].get("type")
            diffs.append(f"widgets: {len(changed)} of {len(wanted)} differ, e.g. {_short(first, 40)}")
    return tuple(diffs)


def _alarm_changes(
    deployment: Deployment, clients: AwsClients, desired: dict[str, dict[str, Any]]
) -> list[Change]:
    """The alarms (lag and unify): every live alarm named `<name>-lag-*` is read; those tagged as this
    deployment's and no longer wanted are deleted, an untagged one that is wanted stops the plan."""
    live = {
        a["AlarmName"]: a
        for a in paginate(
            clients.cloudwatch,
            "describe_alarms",
            "MetricAlarms",
            AlarmNamePrefix=deployment.alarm_prefix,
            AlarmTypes=["MetricAlarm"],
        )
    }
    owned = {name for name, alarm in live.items() if _alarm_owned(deployment, clients, alarm)}
    changes = []
    for name, want in desired.items():
        found = live.get(name)
        if found is None:
            changes.append(Change("create", "cloudwatch alarm", name, spec=want))
            continue
        if name not in owned:
            raise _conflict(deployment, "CloudWatch alarm", name)
        diffs = _field_diffs(normalize_alarm(found), normalize_alarm(want), ALARM_FIELDS)
        changes.append(Change("update" if diffs else "unchanged", "cloudwatch alarm", name, diffs, spec=want))
    changes += [
        Change("delete", "cloudwatch alarm", name, spec=name) for name in sorted(owned - set(desired))
    ]
    return changes


def _alarm_owned(deployment: Deployment, clients: AwsClients, alarm: dict[str, Any]) -> bool:
    arn = alarm["AlarmArn"]
    listed = aws_call(
        f"ListTagsForResource {arn}", clients.cloudwatch.list_tags_for_resource, ResourceARN=arn
    )
    return any(t["Key"] == TAG_KEY and t["Value"] == deployment.name for t in listed.get("Tags", []))
