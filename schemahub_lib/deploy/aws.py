"""boto3 clients and the PyIceberg catalog for a deployment, endpoints overridable from Settings.

On a real account the endpoint settings are empty and boto3's defaults apply; against a local
emulator (tests) `glue_endpoint`, `s3_endpoint`, `cloudwatch_endpoint` and `s3_path_style` point
everything at it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg.catalog import Catalog

from schemahub_lib.catalog import load_catalog
from schemahub_lib.deploy.config import Deployment
from schemahub_lib.errors import SchemaHubError
from schemahub_lib.settings import Settings


class DeployError(SchemaHubError):
    """An AWS call of the deployer failed, or AWS holds something the deployer must not touch."""


@dataclass(frozen=True)
class AwsClients:
    glue: Any
    s3: Any
    cloudwatch: Any


def load_clients(settings: Settings, deployment: Deployment) -> AwsClients:
    session = boto3.session.Session(region_name=deployment.region)
    s3_config = Config(s3={"addressing_style": "path"}) if settings.s3_path_style else None
    return AwsClients(
        glue=session.client("glue", endpoint_url=settings.glue_endpoint),
        s3=session.client("s3", endpoint_url=settings.s3_endpoint, config=s3_config),
        cloudwatch=session.client("cloudwatch", endpoint_url=settings.cloudwatch_endpoint),
    )


def catalog_settings(settings: Settings, deployment: Deployment) -> Settings:
    """Settings for the deployment's Glue catalog and warehouse, keeping endpoint overrides."""
    return dataclasses.replace(
        settings,
        profile="aws",
        warehouse=deployment.warehouse,
        namespace=deployment.database,
        aws_region=deployment.region,
    )


def load_deploy_catalog(settings: Settings, deployment: Deployment) -> Catalog:
    return load_catalog(catalog_settings(settings, deployment))


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def not_found(exc: BaseException) -> bool:
    # ResourceNotFound: CloudWatch's GetDashboard (DashboardNotFoundError).
    return error_code(exc) in ("EntityNotFoundException", "NoSuchKey", "404", "NotFound", "ResourceNotFound")


def aws_call(what: str, fn: Any, /, **kwargs: Any) -> Any:
    """Call one boto3 operation; failures become a DeployError naming the operation and resource."""
    try:
        return fn(**kwargs)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        raise DeployError(f"{what}: {error_code(exc)}: {message}") from exc
    except BotoCoreError as exc:
        raise DeployError(f"{what}: {exc}") from exc


def aws_get(what: str, fn: Any, /, **kwargs: Any) -> Any | None:
    """Like `aws_call`, but None when the resource does not exist."""
    try:
        return aws_call(what, fn, **kwargs)
    except DeployError as exc:
        if exc.__cause__ is not None and not_found(exc.__cause__):
            return None
        raise


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """All items of a NextToken-paginated Glue/S3 list call."""
    items: list[Any] = []
    # S3 continues with NextContinuationToken -> ContinuationToken, Glue with NextToken.
    token_in, token_out = (
        ("ContinuationToken", "NextContinuationToken") if key == "Contents" else ("NextToken",) * 2
    )
    while True:
        page = aws_call(f"{operation} {kwargs}", getattr(client, operation), **kwargs)
        items.extend(page.get(key, []))
        token = page.get(token_out)
        if not token:
            return items
        kwargs[token_in] = token
