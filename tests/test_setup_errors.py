"""Missing Java, missing jars or an unusable catalog give one readable paragraph, not a trace."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

LOAD_SPARK = (
    "from schemahub_lib.settings import load_settings\n"
    "from schemahub_lib.spark import load_spark\n"
    "from schemahub_lib.errors import SetupError\n"
    "try:\n"
    "    load_spark(load_settings())\n"
    "except SetupError as exc:\n"
    "    print(exc)\n"
    "    raise SystemExit(3)\n"
)


def _run(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True)


def test_missing_java(tmp_path):
    env = {"PATH": str(tmp_path), "SCHEMAHUB_WAREHOUSE": str(tmp_path / "wh")}  # no java on PATH
    out = _run(LOAD_SPARK, env)
    assert out.returncode == 3, out.stderr
    assert "Java was not found" in out.stdout and "Java 17" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_missing_jars(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "SCHEMAHUB_WAREHOUSE": str(tmp_path / "wh"),
        "SCHEMAHUB_JARS_DIR": str(tmp_path / "nojars"),
    }
    out = _run(LOAD_SPARK, env)
    assert out.returncode == 3, out.stderr
    assert "missing jars" in out.stdout and "iceberg-spark-runtime-3.5_2.12-1.10.0.jar" in out.stdout
    assert "make setup" in out.stdout


@pytest.mark.parametrize("problem", ["not-a-folder", "corrupt-catalog"])
def test_unusable_catalog_path(tmp_path, problem):
    if problem == "not-a-folder":
        blocker = tmp_path / "file"
        blocker.write_text("x")
        warehouse = blocker / "wh"  # a folder cannot live under a file
        expected = "cannot create the warehouse folder"
    else:
        warehouse = tmp_path / "wh"
        warehouse.mkdir()
        (warehouse / "catalog.db").write_bytes(b"this is not sqlite" * 100)
        expected = "is not a usable SQLite database"
    env = {"PATH": "/usr/bin:/bin", "SCHEMAHUB_WAREHOUSE": str(warehouse)}
    out = subprocess.run(
        [sys.executable, "-m", "schemahub_lib.cli", "init"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert expected in out.stderr and "SCHEMAHUB_WAREHOUSE" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1  # one paragraph
