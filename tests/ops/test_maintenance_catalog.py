"""Orphan cleanup never deletes the history of a table the catalog does not hold.

An older copy of `catalog.db` put back points each table at an older metadata file; Iceberg's
`remove_orphan_files` would then take every newer commit's data and metadata files for garbage.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from schemahub_lib.errors import CatalogHistoryError
from schemahub_lib.ops import formats
from schemahub_lib.ops.maintenance import MaintainOptions, run_maintenance

pytestmark = pytest.mark.spark

CB = 1_080_000_000
RAW = formats.RAW_TABLES["coinbase"]


def files_under(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()}


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite (the catalog runs in WAL mode: the file alone may lag)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def test_orphan_cleanup_with_an_older_catalog_deletes_nothing(spark, settings, lake, tmp_path):
    for k in range(2):
        lake.raw("coinbase", "BTC-USD", range(CB + 10 * k, CB + 10 * k + 10), CB)
    older = tmp_path / "catalog-copy.db"
    copy_database(settings.catalog_db_path, older)
    # One commit the copy does not know: every writer still opens such a catalog (one ahead is
    # also what a killed commit leaves), so this is maintenance's own guard at work. Two or more
    # ahead, load_catalog already refuses (tests/test_warehouse.py).
    lake.raw("coinbase", "BTC-USD", range(CB + 20, CB + 30), CB)
    tables = settings.warehouse_path / settings.namespace
    five_days_ago = time.time() - 5 * 86400
    for path in tables.rglob("*"):
        os.utime(path, (five_days_ago, five_days_ago))
    before = files_under(tables)
    copy_database(older, settings.catalog_db_path)  # the older copy put back

    # Every file is older than the orphan window, so without the guard the newer commits go.
    options = MaintainOptions(orphan_days=1, retain_days=0)
    with pytest.raises(CatalogHistoryError, match=rf"{RAW}: the catalog points at 0+2-.*init --recover"):
        run_maintenance(settings, spark, options)
    assert files_under(tables) == before
    assert lake.table(RAW).scan().to_arrow().num_rows == 20  # what the older catalog still sees
