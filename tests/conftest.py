"""Shared fixtures: an isolated embedded catalog per test, one Spark session per test run."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemahub_lib.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent

# Tests talk only to loopback emulators. Dummy credentials, set before any JVM starts (the AWS
# SDK in Spark reads the environment once), also keep a developer's real ones out of reach.
for _var, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_var] = _value
os.environ.pop("AWS_PROFILE", None)
_catalog_numbers = itertools.count(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SCHEMAHUB_LIVE") == "1":
        return
    skip_live = pytest.mark.skip(reason="reaches a real exchange; set SCHEMAHUB_LIVE=1 to run")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip_live)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Local-profile settings on a fresh warehouse under tmp_path, with a unique catalog name.

    The unique name lets one Spark session hold every test's catalog side by side.
    """
    return load_settings(
        env={},
        warehouse=str(tmp_path / "warehouse"),
        catalog_name=f"schemahub_t{next(_catalog_numbers)}",
    )


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    from schemahub_lib.spark import load_spark

    base = load_settings(env={}, warehouse=str(REPO / ".pytest_cache" / "spark-boot"))
    spark = load_spark(base, app_name="schemahub-tests")
    yield spark
    spark.stop()


@pytest.fixture
def spark(spark_session: object, settings: Settings) -> object:
    """The shared session with this test's catalog registered under `settings.catalog_name`."""
    from schemahub_lib.spark import register_catalog

    register_catalog(spark_session, settings)  # type: ignore[arg-type]
    return spark_session
