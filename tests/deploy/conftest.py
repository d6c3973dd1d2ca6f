"""A moto server for the deployer tests, reset before each test, plus a deployment on it.

moto 5.2 implements CreateJob/GetJob/DeleteJob but not UpdateJob. `_add_update_job` adds it to
the emulator with AWS's documented semantics: JobUpdate *replaces* the job definition, and a
field left out is reset. That is the behaviour the deployer must cope with (it always sends
every field it owns), so a partial update would show up as drift on the next plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemahub_lib.deploy import Deployment, parse_deployment
from schemahub_lib.deploy.packaging import Artifact, build_artifacts
from schemahub_lib.settings import REPO_ROOT, Settings, load_settings
from tests.aws.emulator import client, moto_server, reset

BUCKET = "schemahub-deploy-test"
DEPLOYMENT_FILE = REPO_ROOT / "glue_deploy" / "deployment.yaml"


def _add_update_job() -> None:
    from moto.core.utils import utcnow
    from moto.glue.responses import GlueResponse

    if "update_job" in vars(GlueResponse):
        return

    def update_job(self: Any) -> str:
        name = self._get_param("JobName")
        update = self._get_param("JobUpdate") or {}
        job = self.glue_backend.get_job(name)
        job.description = update.get("Description")
        job.log_uri = update.get("LogUri")
        job.role = update.get("Role")
        job.execution_property = update.get("ExecutionProperty") or {}
        job.command = update.get("Command")
        job.default_arguments = update.get("DefaultArguments") or {}
        job.non_overridable_arguments = update.get("NonOverridableArguments")
        job.connections = update.get("Connections")
        job.max_retries = update.get("MaxRetries")
        job.timeout = update.get("Timeout")
        job.max_capacity = update.get("MaxCapacity")
        job.glue_version = update.get("GlueVersion")
        job.number_of_workers = update.get("NumberOfWorkers")
        job.worker_type = update.get("WorkerType")
        job.execution_class = update.get("ExecutionClass") or "STANDARD"
        job.last_modified_on = utcnow()
        return json.dumps({"JobName": name})

    GlueResponse.update_job = update_job  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def moto_session_endpoint() -> Iterator[str]:
    _add_update_job()
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def endpoint(moto_session_endpoint: str) -> str:
    """An emptied emulator with the deployment's bucket."""
    reset(moto_session_endpoint)
    client("s3", moto_session_endpoint).create_bucket(Bucket=BUCKET)
    return moto_session_endpoint


@pytest.fixture
def deploy_settings(endpoint: str) -> Settings:
    """What `schemahub deploy` resolves with SCHEMAHUB_{GLUE,S3,CLOUDWATCH}_ENDPOINT and path style set."""
    return load_settings(
        env={},
        glue_endpoint=endpoint,
        s3_endpoint=endpoint,
        cloudwatch_endpoint=endpoint,
        s3_path_style=True,
    )


def deployment_data() -> dict[str, Any]:
    """glue_deploy/deployment.yaml as shipped, with the test bucket."""
    data = yaml.safe_load(DEPLOYMENT_FILE.read_text())
    data["bucket"] = BUCKET
    return data


def split_layout(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with an ingest job and a unify job chained by a trigger instead of the pipeline job,
    on STANDARD capacity: the layout the project shipped before the pipeline job (in place)."""
    jobs = data["jobs"]
    if "pipeline" in jobs:
        pipeline = jobs.pop("pipeline")
        arguments = {k: v for k, v in pipeline["arguments"].items() if k != "--unify-every-minutes"}
        data["jobs"] = {
            "ingest": {
                "stage": "ingest",
                "script": "jobs/ingest_job.py",
                "arguments": arguments,
                "expected_minutes": 2,
            },
            "unify": {"stage": "unify", "script": "jobs/unify_job.py", "expected_minutes": 3},
            **jobs,
        }
        data["defaults"]["execution_class"] = "STANDARD"
    return data


@pytest.fixture
def deployment() -> Deployment:
    return parse_deployment(deployment_data(), str(DEPLOYMENT_FILE))


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[Artifact]:
    """The wheel and job scripts, built once per session (the deployer builds per run)."""
    d = parse_deployment(deployment_data(), str(DEPLOYMENT_FILE))
    return build_artifacts(d, REPO_ROOT, Path(tmp_path_factory.mktemp("artifacts")))
