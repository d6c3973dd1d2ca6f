"""A trades_unified (and the other tables) on the embedded catalog, made by `init_tables`
and filled with synthetic trades through PyIceberg."""

from __future__ import annotations

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.read import Lakehouse, load_lakehouse
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables
from tests.read.synthetic import append_days

DAYS = 3
PER_HOUR = 400


@pytest.fixture
def lakehouse(settings: Settings) -> Lakehouse:
    """Three days of trades, one append (one file) per day."""
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    append_days(catalog.load_table(settings.table_id("trades_unified")), DAYS, PER_HOUR)
    return load_lakehouse(settings)
