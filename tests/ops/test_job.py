"""jobs/maintenance_job.py: Glue arguments become MaintainOptions; bad values fail clearly."""

from __future__ import annotations

import py_compile

import pytest

from schemahub_lib.errors import ConfigError
from schemahub_lib.landing.glue import glue_arguments
from schemahub_lib.ops.maintenance import JOB_ARGS, MaintainOptions, options_from_job_args
from tests.conftest import REPO


def test_job_arguments_become_options():
    argv = [
        "maintenance_job.py",
        "--dry-run",
        "true",
        "--tables",
        "raw_coinbase_trades,trades_unified",
        "--steps",
        "compact expire",
        "--retain-days",
        "10",
        "--orphan-days",
        "4",
        "--warehouse",
        "s3://b/p",
    ]
    options = options_from_job_args(glue_arguments(argv, JOB_ARGS))
    assert options == MaintainOptions(
        dry_run=True,
        tables=("raw_coinbase_trades", "trades_unified"),
        steps=("compact", "expire"),
        retain_days=10.0,
        orphan_days=4.0,
    )
    assert options_from_job_args({}) == MaintainOptions()


@pytest.mark.parametrize(
    ("args", "message"),
    [({"dry_run": "yes"}, "--dry-run must be true or false"), ({"retain_days": "a week"}, "not a number")],
)
def test_bad_job_arguments_are_named(args, message):
    with pytest.raises(ConfigError, match=message):
        options_from_job_args(args)


def test_job_script_compiles():
    py_compile.compile(str(REPO / "jobs" / "maintenance_job.py"), doraise=True)
