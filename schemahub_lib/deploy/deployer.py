"""`run_deploy`: build the artifacts, plan against AWS, and apply unless it is a dry run."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from schemahub_lib.deploy.apply import apply_plan
from schemahub_lib.deploy.aws import catalog_settings, load_clients, load_deploy_catalog
from schemahub_lib.deploy.config import Deployment
from schemahub_lib.deploy.diff import build_plan, build_teardown_plan
from schemahub_lib.deploy.packaging import Artifact, build_artifacts
from schemahub_lib.deploy.plan import Change, Plan
from schemahub_lib.settings import REPO_ROOT, Settings


@dataclass(frozen=True)
class DeployResult:
    plan: Plan
    applied: tuple[Change, ...]  # empty for a dry run or when nothing differs


def run_deploy(
    settings: Settings,
    deployment: Deployment,
    *,
    dry_run: bool = False,
    teardown: bool = False,
    delete_data: bool = False,
    root: Path = REPO_ROOT,
    artifacts: list[Artifact] | None = None,
) -> DeployResult:
    """Create or update the deployment (or tear it down); a dry run only reads AWS.

    `settings` supplies endpoint overrides (a local emulator) and `ddl_dir`; region, bucket,
    prefix and database come from `deployment`. `artifacts` lets a caller reuse a built wheel.
    """
    clients = load_clients(settings, deployment)
    catalog = load_deploy_catalog(settings, deployment)
    table_settings = catalog_settings(settings, deployment)
    with tempfile.TemporaryDirectory(prefix="schemahub-deploy-") as workdir:
        if teardown:
            plan = build_teardown_plan(deployment, clients, catalog, table_settings, delete_data)
        else:
            built = artifacts if artifacts is not None else build_artifacts(deployment, root, Path(workdir))
            plan = build_plan(deployment, clients, catalog, table_settings, built)
        if dry_run or not plan.writes:
            return DeployResult(plan, ())
        applied = apply_plan(plan, clients, catalog, table_settings)
    return DeployResult(plan, tuple(applied))
