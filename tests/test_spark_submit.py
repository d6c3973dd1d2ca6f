"""The unify job under a plain local `spark-submit`, as the README tells a developer to run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import load_settings
from schemahub_lib.spark import find_jars
from schemahub_lib.tables import init_tables
from tests.conftest import REPO
from tests.unify.conftest import Lake, coinbase_rows

PAGE = "coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json"
SPARK_SUBMIT = Path(sys.executable).with_name("spark-submit")


def spark_submit(warehouse: Path, *submit_args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": str(REPO)}
    command = [str(SPARK_SUBMIT), *submit_args, "jobs/unify_job.py", "--warehouse", str(warehouse)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.spark
def test_unify_job_runs_under_spark_submit_with_the_jars(tmp_path: Path) -> None:
    settings = load_settings(env={}, warehouse=str(tmp_path / "warehouse"))
    catalog = load_catalog(settings)
    init_tables(catalog, settings)
    rows = coinbase_rows(PAGE, "BTC-EUR")
    Lake(settings, catalog).append("raw_coinbase_trades", rows)
    jars = ",".join(str(j) for j in find_jars(Path(settings.jars_dir)))

    done = spark_submit(settings.warehouse_path, "--jars", jars)

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"unify: {len(rows)} rows inserted" in done.stdout
    unified = catalog.load_table(settings.table_id("trades_unified")).scan().to_arrow()
    assert sorted(unified.column("trade_id").to_pylist()) == sorted(str(r["trade_id"]) for r in rows)


@pytest.mark.spark
def test_spark_submit_without_the_jars_says_how_to_pass_them(tmp_path: Path) -> None:
    settings = load_settings(env={}, warehouse=str(tmp_path / "warehouse"))
    init_tables(load_catalog(settings), settings)

    done = spark_submit(settings.warehouse_path)

    assert done.returncode != 0
    output = done.stdout + done.stderr  # spark-submit passes the Python process's stderr to stdout
    assert "Spark's driver cannot load Iceberg" in output
    assert "spark-submit --jars " in output
