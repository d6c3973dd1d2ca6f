"""The Glue wheel: the library, its requirements minus pyspark, and ddl/ + mappings/ where
Settings looks for them once pip has installed the wheel."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from schemahub_lib.ddl import load_table_defs
from schemahub_lib.deploy.packaging import build_glue_wheel, sha256_file, wheel_requirements
from schemahub_lib.settings import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_glue_wheel(REPO_ROOT, tmp_path_factory.mktemp("wheel"))


def test_requirements_are_the_librarys_minus_pyspark(wheel):
    requirements = wheel_requirements(wheel)
    names = [r.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower() for r in requirements]
    assert "pyspark" not in names
    assert "pyiceberg[glue,pyarrow,sql-sqlite]==0.11.1" in requirements
    assert {"pyiceberg", "pyarrow", "boto3", "pyyaml", "requests"} <= set(names)
    assert not [r for r in requirements if "pytest" in r or "moto" in r]  # test extras stay extras


def test_bundles_ddl_and_mappings_byte_for_byte(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for folder in ("ddl", "mappings"):
            local = [
                p for p in (REPO_ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
            ]
            assert local, folder
            for path in local:
                entry = f"{folder}/{path.relative_to(REPO_ROOT / folder).as_posix()}"
                assert zf.read(entry) == path.read_bytes(), entry
        assert "schemahub_lib/settings.py" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_record_lists_every_file_with_its_hash(wheel):
    with zipfile.ZipFile(wheel) as zf:
        record_name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        rows = [line.split(",") for line in zf.read(record_name).decode().splitlines()]
        listed = {name: (digest, size) for name, digest, size in rows}
        assert set(listed) == set(zf.namelist())
        for name, (digest, size) in listed.items():
            if name == record_name:
                continue
            data = zf.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={expected}", len(data)), name


def test_same_sources_same_bytes(wheel, tmp_path):
    again = build_glue_wheel(REPO_ROOT, tmp_path)
    assert sha256_file(again) == sha256_file(wheel)


def test_installed_wheel_finds_ddl_mappings_and_seed_by_default(wheel, tmp_path):
    """What Glue does: pip-install the wheel, then import the library from site-packages."""
    target = tmp_path / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    probe = (
        "import json, os, schemahub_lib\n"
        "from schemahub_lib.settings import Settings\n"
        "from schemahub_lib.ddl import load_table_defs\n"
        "s = Settings()\n"
        "print(json.dumps({'module': schemahub_lib.__file__, 'tables': sorted(load_table_defs(s.ddl_dir)),\n"
        "  'mappings': sorted(os.listdir(s.mappings_dir)), 'seed': os.path.isfile(s.seed_path)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,  # not the repository, whose schemahub_lib would shadow the installed one
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["module"].startswith(str(target))
    assert found["tables"] == sorted(load_table_defs(REPO_ROOT / "ddl"))
    assert found["mappings"] == sorted(
        p.name for p in (REPO_ROOT / "mappings").iterdir() if p.name != "__pycache__"
    )
    assert found["seed"] is True
