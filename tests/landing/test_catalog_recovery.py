"""A lost catalog never forks history: writers refuse, `init --recover` brings every row back.

Real landing against the simulator, then `catalog.db` truncated to 0 bytes or deleted (what a
person does), then the real CLI in subprocesses. Ground truth is the simulator's.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.cli import main
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.landing.conftest import NS_PER_MIN, STREAMS, assert_exact, ingest, window_start
from tests.landing.procs import write_config

EXCHANGES = ("binance", "kraken")
LOSSES = ("truncated", "deleted")


def lose_catalog(settings: Settings, how: str) -> None:
    """What a person does with no command running: the test's own connections are closed first
    (SQLite would otherwise write its log back into a truncated file when the last one closes),
    and the last close checkpoints the log into the file, as a command's last close does."""
    gc.collect()
    db = settings.catalog_db_path
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    assert not db.with_name(db.name + "-wal").exists()
    if how == "truncated":
        db.write_bytes(b"")
    else:
        db.unlink()


def every_row(settings: Settings) -> dict[str, list[str]]:
    """Each table's rows, as sorted JSON lines: equal means the same rows, nothing more."""
    catalog = load_catalog(settings, read_only=True)
    out = {}
    for _, name in catalog.list_tables(settings.namespace):
        rows = catalog.load_table(settings.table_id(name)).scan().to_arrow().to_pylist()
        out[name] = sorted(json.dumps(r, default=str, sort_keys=True) for r in rows)
    return out


def cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    """The real CLI, in-process (an uncaught error fails the test): exit code, stdout, stderr."""
    code = main(["--config", str(config), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def files_under(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()}


@pytest.fixture
def landed(land_settings: Settings, sim: SimServer) -> int:
    """Both test streams landed by a cold-start ingest; returns the window's start."""
    start = window_start(sim, 3)
    report = ingest(land_settings, sim, *EXCHANGES, cold_start_minutes=3, flush_trades=400)
    assert report.exit_code == 0
    for exchange in EXCHANGES:
        assert assert_exact(land_settings, sim, exchange, start_ns=start) > 100
    return start


@pytest.mark.parametrize("how", LOSSES)
def test_every_writer_refuses_naming_the_folders_when_the_catalog_is_lost(
    land_settings: Settings,
    sim: SimServer,
    landed: int,
    tmp_path: Path,
    how: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(land_settings, tmp_path / "config.yaml")
    lose_catalog(land_settings, how)
    tables = land_settings.warehouse_path / land_settings.namespace
    before = files_under(tables)
    as_of = str(sim.clock.now_ns() / 1e9)
    since = str((sim.clock.now_ns() - 10 * NS_PER_MIN) // 10**9)
    commands: list[tuple[str, ...]] = [
        ("init",),
        ("ingest", "binance", "--products", "BTC-USDT", "--as-of", as_of),
        ("backfill", "kraken", "--products", "BTC-USD", "--since", since),
        ("unify",),
        ("maintain",),
        ("audit",),
        ("status",),  # reads only, and says why it cannot tell the truth
        ("ingest", "binance", "--products", "BTC-USDT", "--dry-run"),  # a plan would be a cold start
    ]
    for command in commands:
        code, _, err = cli(capsys, config, *command)
        assert code == 2, (command, err[-2000:])
        for exchange in EXCHANGES:
            assert f"schemahub/raw_{exchange}_trades" in err, (command, err)
        assert "schemahub init --recover" in err
        assert ("is empty" if how == "truncated" else "does not exist") in err
    # Nothing was written: no new table history, and the catalog file is as it was left.
    assert files_under(tables) == before
    db = land_settings.catalog_db_path
    assert (db.stat().st_size == 0) if how == "truncated" else not db.exists()


@pytest.mark.parametrize("how", LOSSES)
def test_init_recover_brings_every_row_back_and_ingest_resumes_from_the_watermark(
    land_settings: Settings,
    sim: SimServer,
    landed: int,
    tmp_path: Path,
    how: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(land_settings, tmp_path / "config.yaml")
    rows_before = every_row(land_settings)
    newest = {
        name: max(
            (land_settings.warehouse_path / "schemahub" / name / "metadata").glob("*.metadata.json")
        ).name
        for name in rows_before
    }
    lose_catalog(land_settings, how)

    code, out, err = cli(capsys, config, "init", "--recover", "--quiet")
    assert code == 0, err[-2000:]
    for name, metadata in newest.items():
        line = next(x for x in out.splitlines() if f"schemahub.{name}:" in x and "metadata" in x)
        assert "registered from metadata version" in line and metadata in line, out
    assert every_row(land_settings) == rows_before

    code, out, err = cli(capsys, config, "init", "--recover", "--quiet")  # idempotent
    assert code == 0, err[-2000:]
    assert out.count("already registered") == len(rows_before), out
    assert every_row(land_settings) == rows_before

    # The watermarks came back with the tables: a cold start now would leave a gap, since the
    # clock moves on by more than the cold-start window.
    sim.clock.advance(5 * 60)
    report = ingest(land_settings, sim, *EXCHANGES, cold_start_minutes=3)
    assert report.exit_code == 0 and all(s.status == "ok" for s in report.streams)
    for exchange in EXCHANGES:
        compared = assert_exact(land_settings, sim, exchange, start_ns=landed)
        assert compared == len(sim.truth(exchange, STREAMS[exchange][1], start_ns=landed).records())


def test_init_recover_never_overwrites_a_table_the_catalog_holds_elsewhere(
    land_settings: Settings, sim: SimServer, landed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A catalog that holds a table at an older metadata file (a copy put back) is left alone."""
    config = write_config(land_settings, tmp_path / "config.yaml")
    catalog = load_catalog(land_settings)
    table = catalog.load_table(land_settings.table_id("raw_binance_trades"))
    older = table.metadata.metadata_log[-1].metadata_file
    with catalog.engine.begin() as conn:  # what restoring an older copy of catalog.db amounts to
        conn.exec_driver_sql(
            "UPDATE iceberg_tables SET metadata_location = ? WHERE table_name = 'raw_binance_trades'",
            (older,),
        )
    code, out, err = cli(capsys, config, "init", "--recover")
    assert code == 2, out
    assert "raw_binance_trades: the catalog points at" in err and older in err
    assert "Nothing was registered" in err
    assert (
        load_catalog(land_settings).load_table(land_settings.table_id("raw_binance_trades")).metadata_location
        == older
    )


def test_a_second_table_history_is_refused_not_started(
    land_settings: Settings, sim: SimServer, landed: int
) -> None:
    """In-process writers (the library, not only the CLI) refuse too, and say which folders."""
    from schemahub_lib.errors import CatalogHistoryError

    lose_catalog(land_settings, "deleted")
    with pytest.raises(CatalogHistoryError, match=r"schemahub/raw_binance_trades.*init --recover"):
        ingest(land_settings, sim, "binance", cold_start_minutes=3)
    with pytest.raises(CatalogHistoryError, match="does not exist"):
        load_catalog(land_settings)
    assert not land_settings.catalog_db_path.exists()


def test_an_older_catalog_copy_put_back_is_refused_then_recovered(
    land_settings: Settings,
    sim: SimServer,
    landed: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(land_settings, tmp_path / "config.yaml")
    db = land_settings.catalog_db_path
    older = tmp_path / "catalog-copy.db"
    copy_database(db, older)
    sim.clock.advance(60)
    assert ingest(land_settings, sim, *EXCHANGES, cold_start_minutes=3, flush_trades=100).exit_code == 0
    rows_newer = every_row(land_settings)
    copy_database(older, db)  # the older copy put back: it points at older metadata files

    as_of = str(sim.clock.now_ns() / 1e9)
    code, _, err = cli(capsys, config, "ingest", "binance", "--products", "BTC-USDT", "--as-of", as_of)
    assert code == 2, err[-2000:]
    assert "is older than the table folders it points into" in err and "raw_binance_trades" in err
    code, _, err = cli(capsys, config, "init", "--recover")  # never overwrites what it holds
    assert code == 2 and "Nothing was registered" in err, err[-2000:]

    lose_catalog(land_settings, "deleted")  # the fix the messages give: set the copy aside
    code, _, err = cli(capsys, config, "init", "--recover", "--quiet")
    assert code == 0, err[-2000:]
    assert every_row(land_settings) == rows_newer


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite (in WAL mode the file alone can lag its log)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
