import dataclasses
import subprocess
import sys

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.errors import ConfigError
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


def _copy(src, dst, skip=()):
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.name not in skip:
            (dst / f.name).write_text(f.read_text())
    return dst


def test_init_refuses_a_raw_table_without_a_mapping_before_creating_anything(settings, tmp_path):
    mappings = _copy(REPO / "mappings", tmp_path / "mappings", skip=("okx_trades.yaml",))
    bad = dataclasses.replace(settings, mappings_dir=str(mappings))
    with pytest.raises(ConfigError) as info:
        init_tables(load_catalog(bad), bad)
    assert str(info.value) == (
        f"{REPO / 'ddl' / 'raw_okx_trades.sql'}: raw table raw_okx_trades has no mapping; "
        f"expected {mappings / 'okx_trades.yaml'}"
    )
    assert load_catalog(bad).list_namespaces() == []  # nothing was created


def test_init_refuses_a_mapping_without_a_connector(settings, tmp_path):
    mappings = _copy(REPO / "mappings", tmp_path / "mappings")
    (mappings / "ftx_trades.yaml").write_text((REPO / "mappings" / "coinbase_trades.yaml").read_text())
    bad = dataclasses.replace(settings, mappings_dir=str(mappings))
    with pytest.raises(ConfigError) as info:
        init_tables(load_catalog(bad), bad)
    known = ", ".join(sorted(CONNECTORS))
    assert str(info.value) == (
        f"{mappings / 'ftx_trades.yaml'}: a mapping for exchange 'ftx', which has no connector; "
        f"known: {known}"
    )
    ddl = _copy(REPO / "ddl", tmp_path / "ddl")
    (ddl / "raw_ftx_trades.sql").write_text(
        (REPO / "ddl" / "raw_okx_trades.sql").read_text().replace("raw_okx_trades", "raw_ftx_trades")
    )
    bad = dataclasses.replace(settings, ddl_dir=str(ddl))
    with pytest.raises(
        ConfigError,
        match=r"raw_ftx_trades.sql: raw table raw_ftx_trades has no connector \(exchange 'ftx'; known: ",
    ):
        init_tables(load_catalog(bad), bad)
    assert load_catalog(bad).list_namespaces() == []


def test_init_sets_the_properties_ddl_added_since_a_table_was_created(settings, tmp_path):
    """Tables created by the ddl/ of before (no row-group limit on raw tables, no dictionary size)
    get them from the next init: one metadata commit each, no snapshot."""
    added = ("write.parquet.row-group-limit", "write.parquet.dict-size-bytes")
    old_ddl = tmp_path / "old_ddl"
    old_ddl.mkdir()
    for f in (REPO / "ddl").glob("*.sql"):
        lines = f.read_text().splitlines(keepends=True)
        (old_ddl / f.name).write_text("".join(line for line in lines if not any(k in line for k in added)))
    catalog = load_catalog(settings)
    table_defs = load_table_defs(REPO / "ddl")
    init_tables(catalog, dataclasses.replace(settings, ddl_dir=str(old_ddl)))
    for name in EXPECTED_TABLES:
        assert not set(added) & set(catalog.load_table(settings.table_id(name)).properties), name
    kraken = catalog.load_table(settings.table_id("raw_kraken_trades"))
    with kraken.transaction() as tx:  # a value set by hand is corrected too
        tx.set_properties({"write.parquet.row-group-limit": "1048576"})
    state = _metadata_state(catalog, settings)

    results = {r.table: r.status for r in init_tables(catalog, settings)}
    raw = {n for n in EXPECTED_TABLES if n.startswith("raw_")}
    for name in raw:
        assert results[name] == (
            "exists, set write.parquet.row-group-limit=131072, write.parquet.dict-size-bytes=65536"
        ), name
    assert results["trades_unified"] == "exists, set write.parquet.dict-size-bytes=65536"
    changed = raw | {"trades_unified"}
    assert {n for n, status in results.items() if status == "exists"} == EXPECTED_TABLES - changed
    after = _metadata_state(catalog, settings)
    for name in EXPECTED_TABLES:
        table = catalog.load_table(settings.table_id(name))
        assert table.current_snapshot() is None, name  # a metadata change, no snapshot
        assert (after[name] != state[name]) == (name in changed), name
        by_hand = 1 if name == "raw_kraken_trades" else 0
        assert len(table.metadata.metadata_log) == by_hand + (name in changed), name  # one commit
        wanted = {k: v for k, v in table_defs[name].properties.items() if k in added}
        assert {k: table.properties.get(k) for k in wanted} == wanted, name
    assert {r.status for r in init_tables(catalog, settings)} == {"exists"}  # idempotent
    assert _metadata_state(catalog, settings) == after


def test_init_removes_retired_and_sets_upgraded_properties_in_one_commit(settings):
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    table = catalog.load_table(settings.table_id("raw_okx_trades"))
    with table.transaction() as tx:
        tx.set_properties({"read.parquet.vectorization.enabled": "false"})
        tx.remove_properties("write.parquet.row-group-limit")
    logged = len(catalog.load_table(settings.table_id("raw_okx_trades")).metadata.metadata_log)
    results = {r.table: r.status for r in init_tables(catalog, settings)}
    assert results["raw_okx_trades"] == (
        "exists, removed read.parquet.vectorization.enabled=false, set write.parquet.row-group-limit=131072"
    )
    table = catalog.load_table(settings.table_id("raw_okx_trades"))
    assert len(table.metadata.metadata_log) == logged + 1
    assert "read.parquet.vectorization.enabled" not in table.properties


def test_init_makes_an_existing_trades_unified_merge_its_manifests(settings, tmp_path):
    """trades_unified created when ddl/ said min-count-to-merge 50 gets 2 from the next init (its
    appends then keep one manifest); the raw tables keep 50 (landing reads them by append)."""
    old_ddl = tmp_path / "old_ddl"
    old_ddl.mkdir()
    for f in (REPO / "ddl").glob("*.sql"):
        text = f.read_text()
        if f.name == "trades_unified.sql":
            text = text.replace(
                "'commit.manifest.min-count-to-merge' = '2'", "'commit.manifest.min-count-to-merge' = '50'"
            )
        (old_ddl / f.name).write_text(text)
    catalog = load_catalog(settings)
    init_tables(catalog, dataclasses.replace(settings, ddl_dir=str(old_ddl)))
    unified = settings.table_id("trades_unified")
    assert catalog.load_table(unified).properties["commit.manifest.min-count-to-merge"] == "50"

    results = {r.table: r.status for r in init_tables(catalog, settings)}
    assert results["trades_unified"] == "exists, set commit.manifest.min-count-to-merge=2"
    assert {status for name, status in results.items() if name != "trades_unified"} == {"exists"}
    table = catalog.load_table(unified)
    assert table.properties["commit.manifest.min-count-to-merge"] == "2"
    assert len(table.metadata.metadata_log) == 1 and table.current_snapshot() is None
    raw = catalog.load_table(settings.table_id("raw_coinbase_trades"))
    assert raw.properties["commit.manifest.min-count-to-merge"] == "50"
