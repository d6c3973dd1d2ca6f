"""Execute a `Plan`: creates and updates first (artifacts, catalog, jobs, workflows, triggers,
the dashboard, the alarms), then deletes in the reverse order, so nothing ever points at a resource that is
gone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError

from schemahub_lib.deploy.aws import AwsClients, DeployError, aws_call, aws_get
from schemahub_lib.deploy.config import TAG_KEY, Deployment
from schemahub_lib.deploy.packaging import Artifact
from schemahub_lib.deploy.plan import KIND_ORDER, Change, Plan
from schemahub_lib.logs import log_event
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables

_DELETE_ORDER = (
    "cloudwatch alarm",
    "cloudwatch dashboard",
    "glue trigger",
    "glue workflow",
    "glue job",
    "s3 object",
    "iceberg table",
    "glue database",
    "s3 data",
)


def apply_plan(plan: Plan, clients: AwsClients, catalog: Catalog, settings: Settings) -> list[Change]:
    """Carry out every create/update/replace/delete of `plan`; returns the changes made."""
    done: list[Change] = []
    writes = [c for c in plan.changes if c.action in ("create", "update", "replace")]
    writes.sort(key=lambda c: KIND_ORDER.index(c.kind))  # stable: plan order within a kind
    catalog_ready = False
    for change in writes:
        if change.kind in ("glue database", "iceberg table"):
            if not catalog_ready:  # one idempotent init creates the database and every table
                _init_catalog(plan.deployment, catalog, settings)
                catalog_ready = True
        else:
            _WRITERS[change.kind](plan.deployment, clients, change)
        _done(done, change)
    deletes = [c for c in plan.changes if c.action == "delete"]
    deletes.sort(key=lambda c: _DELETE_ORDER.index(c.kind))
    for change in deletes:
        _DELETERS[change.kind](plan.deployment, clients, catalog, change)
        _done(done, change)
    return done


def _done(done: list[Change], change: Change) -> None:
    # One line per change as it happens, so a failure part-way shows what was already applied.
    log_event("deploy.change", action=change.action, kind=change.kind, name=change.name)
    done.append(change)


def _init_catalog(deployment: Deployment, catalog: Catalog, settings: Settings) -> None:
    """Create the Glue database (marked as the deployer's) and the tables from ddl/."""
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(deployment.database, {TAG_KEY: deployment.name})
    init_tables(catalog, settings)


def _put_object(deployment: Deployment, clients: AwsClients, change: Change) -> None:
    artifact: Artifact = change.spec
    aws_call(
        f"PutObject {change.name}",
        clients.s3.put_object,
        Bucket=deployment.bucket,
        Key=artifact.key,
        Body=artifact.path.read_bytes(),
        Metadata={"sha256": artifact.sha256},
    )


def _write_job(deployment: Deployment, clients: AwsClients, change: Change) -> None:
    spec = dict(change.spec)
    if change.action == "create":
        aws_call(f"CreateJob {change.name}", clients.glue.create_job, **spec, Tags=deployment.tags)
        return
    # JobUpdate replaces the whole definition, so it carries every field the deployer owns.
    name = spec.pop("Name")
    aws_call(f"UpdateJob {name}", clients.glue.update_job, JobName=name, JobUpdate=spec)


def _write_workflow(deployment: Deployment, clients: AwsClients, change: Change) -> None:
    spec = change.spec
    if change.action == "create":
        aws_call(f"CreateWorkflow {change.name}", clients.glue.create_workflow, **spec, Tags=deployment.tags)
    else:
        aws_call(f"UpdateWorkflow {change.name}", clients.glue.update_workflow, **spec)


def _write_trigger(deployment: Deployment, clients: AwsClients, change: Change) -> None:
    spec = change.spec
    if spec.get("activate"):
        aws_call(f"StartTrigger {change.name}", clients.glue.start_trigger, Name=change.name)
        return
    if change.action == "replace":
        _delete_trigger(deployment, clients, None, change)
    aws_call(
        f"CreateTrigger {change.name}",
        clients.glue.create_trigger,
        **spec,
        StartOnCreation=True,
        Tags=deployment.tags,
    )


def _put_dashboard(deployment: Deployment, clients: AwsClients, change: Change) -> None:
    response = aws_call(
        f"PutDashboard {change.name}",
        clients.cloudwatch.put_dashboard,
        DashboardName=change.name,
        DashboardBody=change.spec,
    )
    # Errors mean nothing was written; warnings mean widgets that will not render. Both fail.
    messages = response.get("DashboardValidationMessages", [])
    if messages:
        first = messages[0]
        raise DeployError(
            f"PutDashboard {change.name}: CloudWatch reported {len(messages)} validation messages "
            f"for glue_deploy/dashboard.json, e.g. {first.get('DataPath', '')}: {first.get('Message', '')}"
        )


def _put_alarm(deployment: Deployment, clients: AwsClients, change: Change) -> None:
    # PutMetricAlarm replaces the whole alarm; it applies Tags only when it creates one.
    tags = [{"Key": k, "Value": v} for k, v in deployment.tags.items()]
    aws_call(f"PutMetricAlarm {change.name}", clients.cloudwatch.put_metric_alarm, **change.spec, Tags=tags)


_WRITERS: dict[str, Callable[[Deployment, AwsClients, Change], None]] = {
    "s3 object": _put_object,
    "glue job": _write_job,
    "glue workflow": _write_workflow,
    "glue trigger": _write_trigger,
    "cloudwatch dashboard": _put_dashboard,
    "cloudwatch alarm": _put_alarm,
}


def _delete_dashboard(deployment: Deployment, clients: AwsClients, catalog: Any, change: Change) -> None:
    aws_call(
        f"DeleteDashboards {change.name}", clients.cloudwatch.delete_dashboards, DashboardNames=[change.name]
    )


def _delete_alarm(deployment: Deployment, clients: AwsClients, catalog: Any, change: Change) -> None:
    aws_call(f"DeleteAlarms {change.name}", clients.cloudwatch.delete_alarms, AlarmNames=[change.name])


def _delete_trigger(deployment: Deployment, clients: AwsClients, catalog: Any, change: Change) -> None:
    aws_call(f"DeleteTrigger {change.name}", clients.glue.delete_trigger, Name=change.name)


def _delete_workflow(deployment: Deployment, clients: AwsClients, catalog: Any, change: Change) -> None:
    aws_call(f"DeleteWorkflow {change.name}", clients.glue.delete_workflow, Name=change.name)


def _delete_job(deployment: Deployment, clients: AwsClients, catalog: Any, change: Change) -> None:
    aws_call(f"DeleteJob {change.name}", clients.glue.delete_job, JobName=change.name)


def _delete_objects(deployment: Deployment, clients: AwsClients, catalog: Any, change: Change) -> None:
    keys = [change.spec] if isinstance(change.spec, str) else list(change.spec)
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        response = aws_call(
            f"DeleteObjects {change.name}",
            clients.s3.delete_objects,
            Bucket=deployment.bucket,
            Delete={"Objects": batch, "Quiet": True},
        )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            example = f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            raise DeployError(
                f"DeleteObjects {change.name}: {len(errors)} objects not deleted, e.g. {example}"
            )


def _drop_table(deployment: Deployment, clients: AwsClients, catalog: Catalog, change: Change) -> None:
    # The table's files go with the `s3 data` change (the whole warehouse prefix).
    catalog.drop_table(change.spec)


def _delete_database(deployment: Deployment, clients: AwsClients, catalog: Catalog, change: Change) -> None:
    aws_get(f"DeleteDatabase {change.name}", clients.glue.delete_database, Name=change.name)


_DELETERS: dict[str, Callable[[Deployment, AwsClients, Any, Change], None]] = {
    "cloudwatch alarm": _delete_alarm,
    "cloudwatch dashboard": _delete_dashboard,
    "glue trigger": _delete_trigger,
    "glue workflow": _delete_workflow,
    "glue job": _delete_job,
    "s3 object": _delete_objects,
    "s3 data": _delete_objects,
    "iceberg table": _drop_table,
    "glue database": _delete_database,
}
