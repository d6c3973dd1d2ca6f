"""A catalog or table folders this user cannot write: readers work, writers refuse by name.

The commands run as a user that cannot write the files: root ignores permission bits, so as
root they run through `setpriv` without the capabilities that bypass them (CAP_DAC_OVERRIDE and
friends), which makes root's own mode bits bind as they bind any user.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from tests.conftest import REPO
from tests.landing.conftest import ingest
from tests.landing.procs import clean_env, run_cli, write_config

BYPASS_CAPS = "-dac_override,-dac_read_search,-fowner,-linux_immutable"


def as_unprivileged(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "schemahub_lib.cli", "--config", str(config), *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux): permission bits cannot bind")
        command = [setpriv, f"--inh-caps={BYPASS_CAPS}", f"--bounding-set={BYPASS_CAPS}", "--", *command]
    return subprocess.run(command, cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=120)


def modes(paths: list[Path], file_mode: int, dir_mode: int) -> None:
    for path in paths:
        path.chmod(dir_mode if path.is_dir() else file_mode)


@pytest.fixture
def landed(land_settings: Settings, sim: SimServer) -> Iterator[Settings]:
    """Binance landed, every connection closed (the log checkpointed into catalog.db); the
    test's permission changes are undone afterwards."""
    assert ingest(land_settings, sim, "binance", cold_start_minutes=2).exit_code == 0
    gc.collect()
    db = land_settings.catalog_db_path
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    assert not db.with_name(db.name + "-wal").exists()
    everything = [land_settings.warehouse_path, *land_settings.warehouse_path.rglob("*")]
    yield land_settings
    modes(everything, 0o644, 0o755)


def test_read_only_catalog_serves_readers_and_writers_refuse(
    landed: Settings, sim: SimServer, tmp_path: Path
) -> None:
    config = write_config(landed, tmp_path / "config.yaml")
    warehouse = landed.warehouse_path
    modes([p for p in warehouse.iterdir() if p.is_file()], 0o444, 0o555)  # catalog.db and its lock
    warehouse.chmod(0o555)  # nothing can be created beside it either (no -wal, no -shm)

    status = as_unprivileged(config, "status", "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    streams = {(s["exchange"], s["product"]): s for s in json.loads(status.stdout)["streams"]}
    assert streams[("binance", "BTC-USDT")]["watermark_id"] is not None
    assert streams[("binance", "BTC-USDT")]["raw_rows"] > 100

    plan = as_unprivileged(config, "ingest", "binance", "--products", "BTC-USDT", "--dry-run")
    assert plan.returncode == 0, plan.stderr[-2000:]

    as_of = str(sim.clock.now_ns() / 1e9)
    writers = (("ingest", "binance", "--products", "BTC-USDT", "--as-of", as_of), ("init",), ("audit",))
    for command in writers:
        out = as_unprivileged(config, *command)
        assert out.returncode == 2, (command, out.stderr[-2000:])
        assert "Traceback" not in out.stderr
        assert f"the catalog {landed.catalog_db_path} is read-only for this user" in out.stderr
        assert "status" in out.stderr  # what still works
    files = sorted(p.name for p in warehouse.iterdir() if p.is_file())
    assert files == ["catalog.db", "catalog.db.init-lock"]  # no -wal or -shm was left


def test_unwritable_table_folders_refuse_naming_the_folder(
    landed: Settings, sim: SimServer, tmp_path: Path
) -> None:
    config = write_config(landed, tmp_path / "config.yaml")
    tables = landed.warehouse_path / landed.namespace
    modes([tables, *tables.rglob("*")], 0o444, 0o555)  # chmod -R a-w; the catalog stays writable
    sim.clock.advance(60)  # new trades to write

    out = as_unprivileged(config, "ingest", "binance", "--products", "BTC-USDT",
                          "--as-of", str(sim.clock.now_ns() / 1e9))  # fmt: skip
    assert out.returncode == 2, (out.stdout[-2000:], out.stderr[-2000:])
    assert "Traceback" not in out.stderr
    assert f"the table folder {tables / 'raw_binance_trades'} is not writable" in out.stderr
    assert "chmod -R u+w" in out.stderr

    # Only a partition folder the next commit writes into: caught all the same.
    modes([tables, *tables.rglob("*")], 0o644, 0o755)
    partition = max((tables / "raw_binance_trades" / "data").iterdir())
    partition.chmod(0o555)
    out = as_unprivileged(config, "ingest", "binance", "--products", "BTC-USDT",
                          "--as-of", str(sim.clock.now_ns() / 1e9))  # fmt: skip
    assert out.returncode == 2, (out.stdout[-2000:], out.stderr[-2000:])
    assert f"the table folder {partition} is not writable" in out.stderr


@pytest.mark.spark
def test_audit_without_a_record_reads_a_read_only_catalog_through_spark(
    landed: Settings, tmp_path: Path
) -> None:
    config = write_config(landed, tmp_path / "config.yaml")
    warehouse = landed.warehouse_path
    modes([p for p in warehouse.iterdir() if p.is_file()], 0o444, 0o555)
    warehouse.chmod(0o555)
    out = as_unprivileged(config, "audit", "--no-record", "--json", "--exchange", "binance")
    assert out.returncode in (0, 1), out.stderr[-3000:]  # 1: findings, 2: could not audit
    report = json.loads(out.stdout)
    raw = [s for s in report["streams"] if s["layer"] == "raw"]
    assert [(s["exchange"], s["symbol"]) for s in raw] == [("binance", "BTC-USDT")]
    assert raw[0]["last_id"] > raw[0]["first_id"]  # read through Spark's JDBC catalog


def test_immutable_table_folders_refuse_even_for_root(
    landed: Settings, sim: SimServer, tmp_path: Path
) -> None:
    """The issue's own reproduction: `chattr -R +i $WH/schemahub`, which binds root too."""
    chattr = shutil.which("chattr")
    tables = landed.warehouse_path / landed.namespace
    if chattr is None or os.geteuid() != 0:
        pytest.skip("needs root and chattr (e2fsprogs)")
    if subprocess.run([chattr, "-R", "+i", str(tables)], capture_output=True).returncode != 0:
        pytest.skip(f"the filesystem of {tables} has no immutable flag")
    try:
        config = write_config(landed, tmp_path / "config.yaml")
        sim.clock.advance(60)
        out = run_cli(config, "ingest", "binance", "--products", "BTC-USDT",
                      "--as-of", str(sim.clock.now_ns() / 1e9))  # fmt: skip
    finally:
        subprocess.run([chattr, "-R", "-i", str(tables)], check=True)
    assert out.returncode == 2, (out.stdout[-2000:], out.stderr[-2000:])
    assert "Traceback" not in out.stderr
    assert f"the table folder {tables / 'raw_binance_trades'} is not writable" in out.stderr
    assert f"chattr -R -i {tables / 'raw_binance_trades'}" in out.stderr
