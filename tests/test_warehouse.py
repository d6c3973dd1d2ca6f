"""Table folders against the catalog: lost, garbage, ambiguous and killed-commit cases.

Real tables on a real SQLite catalog under tmp_path; the CLI in-process through `main`.
"""

from __future__ import annotations

import dataclasses
import gc
import shutil
import sqlite3
from contextlib import closing

import pytest
import sqlalchemy.exc

from schemahub_lib.catalog import load_catalog
from schemahub_lib.cli import main
from schemahub_lib.errors import CatalogHistoryError
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables
from schemahub_lib.warehouse import CatalogPointers, check_catalog_current, read_pointers, table_folders

TABLE = "schemahub_rejects"


@pytest.fixture
def tables(settings: Settings) -> Settings:
    init_tables(load_catalog(settings), settings)
    gc.collect()  # close the test's connections, as a finished command does
    with closing(sqlite3.connect(settings.catalog_db_path)) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    return settings


def cli(settings: Settings, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--warehouse", settings.warehouse, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def commit(settings: Settings) -> None:
    """One commit (a property change writes the next metadata file like any commit)."""
    table = load_catalog(settings).load_table(settings.table_id(TABLE))
    table.transaction().set_properties(touched="1").commit_transaction()


def test_catalog_states_and_folders(tables: Settings) -> None:
    db = tables.catalog_db_path
    folders = table_folders(tables.warehouse_path)
    assert {f.identifier for f in folders} == set(read_pointers(db, tables.catalog_name).pointers)
    assert len(folders) >= 8 and all(f.namespace == "schemahub" for f in folders)
    assert read_pointers(db, "another_catalog") == CatalogPointers("ok", {})
    db.write_bytes(b"not a database" * 100)
    assert read_pointers(db, tables.catalog_name).state.startswith("unreadable")
    db.write_bytes(b"")
    assert read_pointers(db, tables.catalog_name).state == "empty"
    db.unlink()
    assert read_pointers(db, tables.catalog_name).state == "missing"


def test_a_garbage_catalog_file_is_refused_and_recovered_once_moved(
    tables: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tables.catalog_db_path
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogHistoryError, match=r"not a usable SQLite database.*schemahub/schemahub_runs"):
        load_catalog(tables)
    code, _, err = cli(tables, capsys, "init", "--recover")
    assert code == 2 and "move the file out of the way (keep it)" in err, err
    db.rename(db.with_name("catalog.db.garbage"))
    code, out, err = cli(tables, capsys, "init", "--recover", "--quiet")
    assert code == 0, err
    assert out.count("registered from metadata version 0") == len(table_folders(tables.warehouse_path))


def test_two_newest_metadata_files_are_named_not_guessed(
    tables: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tables.warehouse_path / "schemahub" / TABLE / "metadata"
    (newest,) = folder.glob("00000-*.metadata.json")
    twin = folder / "00000-00000000-0000-0000-0000-000000000000.metadata.json"
    shutil.copy(newest, twin)  # a commit that lost a race left its file at the same version
    tables.catalog_db_path.unlink()
    code, _, err = cli(tables, capsys, "init", "--recover")
    assert code == 2 and newest.name in err and twin.name in err, err
    assert "schemahub.schemahub_rejects: 2 metadata files share the newest version 0" in err


def test_a_killed_commit_blocks_orphan_cleanup_only_until_the_next_commit(tables: Settings) -> None:
    folder = tables.warehouse_path / "schemahub" / TABLE / "metadata"
    (current,) = folder.glob("00000-*.metadata.json")
    pointer = {TABLE: current.as_uri()}
    leftover = folder / "00001-11111111-1111-1111-1111-111111111111.metadata.json"
    shutil.copy(current, leftover)  # written, then killed before the catalog was updated
    load_catalog(tables)  # writers go on: one ahead is what a killed commit leaves
    with pytest.raises(CatalogHistoryError, match=rf"{TABLE}: the catalog points at 00000-.*{leftover.name}"):
        check_catalog_current(tables, pointer)
    commit(tables)  # the next commit takes version 1 itself
    table = load_catalog(tables).load_table(tables.table_id(TABLE))
    check_catalog_current(tables, {TABLE: table.metadata_location})

    shutil.copy(current, folder / "00003-33333333-3333-3333-3333-333333333333.metadata.json")
    with pytest.raises(
        CatalogHistoryError, match=r"older than the table folders.*catalog at metadata version 1"
    ):
        load_catalog(tables)  # two ahead: an older copy of the catalog, writers refuse


def test_read_only_open_never_writes(tables: Settings) -> None:
    catalog = load_catalog(tables, read_only=True)
    assert catalog.table_exists(tables.table_id(TABLE))
    with pytest.raises(sqlalchemy.exc.OperationalError, match="readonly database"):
        catalog.create_namespace("another")


def test_a_reader_on_an_empty_warehouse_creates_the_catalog_as_before(settings: Settings) -> None:
    catalog = load_catalog(settings, read_only=True)
    assert catalog.list_namespaces() == [] and settings.catalog_db_path.exists()


def test_folders_are_compared_per_catalog_name(tables: Settings) -> None:
    other = dataclasses.replace(tables, catalog_name="someone_else")
    with pytest.raises(CatalogHistoryError, match="does not hold these tables"):
        load_catalog(other)


def test_spark_sessions_refuse_a_lost_catalog_before_the_jvm_starts(tables: Settings) -> None:
    """Spark's JdbcCatalog gets its settings from catalog_conf, which opens the catalog first."""
    from schemahub_lib.spark import catalog_conf

    assert catalog_conf(tables)[f"spark.sql.catalog.{tables.catalog_name}.uri"].startswith("jdbc:sqlite:/")
    tables.catalog_db_path.write_bytes(b"")
    with pytest.raises(CatalogHistoryError, match="is empty"):
        catalog_conf(tables)
    with pytest.raises(CatalogHistoryError, match="is empty"):
        catalog_conf(tables, read_only=True)
