import subprocess
import sys

from schemahub_lib.catalog import load_catalog
from schemahub_lib.tables import init_tables
from tests.conftest import REPO
from tests.test_ddl import EXPECTED_TABLES


def _metadata_state(catalog, settings):
    return {name: catalog.load_table(settings.table_id(name)).metadata_location for name in EXPECTED_TABLES}


def _metadata_files(settings):
    return sorted(p.name for p in settings.warehouse_path.rglob("*.metadata.json"))


def test_init_creates_every_table_then_changes_nothing(settings):
    catalog = load_catalog(settings)
    first = init_tables(catalog, settings)
    assert {r.table: r.status for r in first} == dict.fromkeys(EXPECTED_TABLES, "created")
    state, files = _metadata_state(catalog, settings), _metadata_files(settings)
    assert len(files) == len(EXPECTED_TABLES)

    second = init_tables(load_catalog(settings), settings)
    assert {r.table: r.status for r in second} == dict.fromkeys(EXPECTED_TABLES, "exists")
    assert _metadata_state(catalog, settings) == state
    assert _metadata_files(settings) == files


def test_init_reports_drift_without_touching_the_table(settings):
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("schemahub_rejects"))
    with table.update_schema() as update:
        update.delete_column("url")
    before = catalog.load_table(settings.table_id("schemahub_rejects")).metadata_location
    results = {r.table: r.status for r in init_tables(catalog, settings)}
    assert results["schemahub_rejects"] == "exists, differs from DDL: missing column url"
    assert catalog.load_table(settings.table_id("schemahub_rejects")).metadata_location == before


def test_init_turns_vectorized_reads_back_on_for_tables_made_under_glue_5_0(settings):
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    retired = {"read.parquet.vectorization.enabled": "false"}
    for name in ("raw_kraken_trades", "trades_unified"):  # as Glue 5.0's ddl/ created them
        table = catalog.load_table(settings.table_id(name))
        with table.transaction() as tx:
            tx.set_properties(retired)
    snapshots = {n: catalog.load_table(settings.table_id(n)).current_snapshot() for n in EXPECTED_TABLES}

    results = {r.table: r.status for r in init_tables(catalog, settings)}
    assert results["raw_kraken_trades"] == "exists, removed read.parquet.vectorization.enabled=false"
    assert results["trades_unified"] == "exists, removed read.parquet.vectorization.enabled=false"
    assert {r for r, status in results.items() if status == "exists"} == EXPECTED_TABLES - {
        "raw_kraken_trades",
        "trades_unified",
    }
    for name in EXPECTED_TABLES:
        table = catalog.load_table(settings.table_id(name))
        assert "read.parquet.vectorization.enabled" not in table.properties, name
        assert table.current_snapshot() == snapshots[name]  # a metadata change, no new snapshot
    state = _metadata_state(catalog, settings)
    assert {r.status for r in init_tables(catalog, settings)} == {"exists"}
    assert _metadata_state(catalog, settings) == state


def test_init_keeps_a_vectorization_setting_it_did_not_make(settings):
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("raw_binance_trades"))
    with table.transaction() as tx:
        tx.set_properties({"read.parquet.vectorization.enabled": "true"})
    assert {r.status for r in init_tables(catalog, settings)} == {"exists"}
    table = catalog.load_table(settings.table_id("raw_binance_trades"))
    assert table.properties["read.parquet.vectorization.enabled"] == "true"


def test_cli_init_twice(tmp_path):
    env = {"SCHEMAHUB_WAREHOUSE": str(tmp_path / "wh"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "schemahub_lib.cli", "init", "--quiet"]
    first = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert first.stdout.count(": created") == len(EXPECTED_TABLES)
    second = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert second.stdout.count(": exists") == len(EXPECTED_TABLES)
    assert "created" not in second.stdout
