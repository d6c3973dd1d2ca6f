"""One moto server per test module, aws-profile Settings pointing at it, and the shared Spark
session on that catalog."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from schemahub_lib.settings import Settings
from tests.aws.emulator import aws_settings, client, moto_server, reset

_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str) -> Settings:
    """Settings for a fresh bucket on an emptied server, with a unique Spark catalog name.

    The Glue database is always `schemahub`, so the server is reset first; a new catalog name
    keeps Spark from reusing a catalog instance that cached the previous test's tables.
    """
    reset(moto_endpoint)
    n = next(_numbers)
    bucket = f"schemahub-aws-{n}"
    client("s3", moto_endpoint).create_bucket(Bucket=bucket)
    return aws_settings(moto_endpoint, bucket, catalog_name=f"schemahub_aws{n}")


@pytest.fixture
def glue_spark(spark_session, aws: Settings):  # type: ignore[no-untyped-def]
    """The shared session with this test's Glue catalog, checked to run with the Glue jobs'
    session settings (`SESSION_CONF`, which load_spark sets too), so these tests read and write
    the way the jobs do."""
    from schemahub_lib.deploy.resources import SESSION_CONF
    from schemahub_lib.spark import register_catalog

    for key, value in SESSION_CONF.items():
        assert spark_session.conf.get(key) == value, key
    register_catalog(spark_session, aws)
    return spark_session
