"""Kill points: unset they do nothing; set, the process dies by SIGKILL at that point only."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from schemahub_lib.errors import ConfigError
from schemahub_lib.killpoints import KILL_POINTS, reached
from schemahub_lib.settings import load_settings
from tests.conftest import REPO

PROGRAM = """
import sys
from schemahub_lib.killpoints import reached
kill_at = sys.argv[1]
for point in ("unify.branch_created", "unify.branch_written", "unify.published"):
    print("at", point, flush=True)
    reached(kill_at, point)
print("finished", flush=True)
"""


def run_to(kill_at: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, kill_at], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_the_process_dies_by_sigkill_at_the_named_point_and_not_before() -> None:
    done = run_to("unify.branch_written")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.splitlines() == ["at unify.branch_created", "at unify.branch_written"]
    assert run_to("none of them").stdout.splitlines()[-1] == "finished"


def test_an_unknown_point_is_a_programming_error() -> None:
    with pytest.raises(ValueError) as err:
        reached(None, "unify.nowhere")
    assert str(err.value) == f"unknown kill point 'unify.nowhere'; known: {', '.join(KILL_POINTS)}"


def test_settings_accept_only_known_kill_points(tmp_path) -> None:
    assert load_settings(env={}).kill_at is None
    assert load_settings(env={"SCHEMAHUB_KILL_AT": "unify.published"}).kill_at == "unify.published"
    config = tmp_path / "config.yaml"
    config.write_text("kill_at: unify.branch_written\n")
    assert load_settings(config, env={}).kill_at == "unify.branch_written"
    with pytest.raises(ConfigError) as err:
        load_settings(env={"SCHEMAHUB_KILL_AT": "unify.brnach_written"})
    assert str(err.value) == f"kill_at must be one of {', '.join(KILL_POINTS)}, got 'unify.brnach_written'"
