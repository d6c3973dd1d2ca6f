"""A trades_unified (and the other tables) on the embedded catalog, made by `init_tables`
and filled with synthetic trades through PyIceberg."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.read import Lakehouse, load_lakehouse
from schemahub_lib.settings import Settings, load_settings
from schemahub_lib.tables import init_tables
from tests.read.synthetic import append_days

DAYS = 3
PER_HOUR = 400


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The default catalog name (no Spark here), so `schemahub --warehouse W query` sees it."""
    return load_settings(env={}, warehouse=str(tmp_path / "warehouse"))


@pytest.fixture
def lakehouse(settings: Settings) -> Lakehouse:
    """Three days of trades, one append (one file) per day."""
    return _filled(settings)


@pytest.fixture(scope="module")
def shared_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """The same, once per module, for tests that only read."""
    return _filled(load_settings(env={}, warehouse=str(tmp_path_factory.mktemp("shared") / "warehouse")))


def _filled(settings: Settings) -> Lakehouse:
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    append_days(catalog.load_table(settings.table_id("trades_unified")), DAYS, PER_HOUR)
    return load_lakehouse(settings)
