"""Running `python -m schemahub_lib.cli` in subprocesses against the test's simulator and warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from schemahub_lib.settings import Settings
from tests.conftest import REPO


def write_config(settings: Settings, path: Path) -> Path:
    """The test's settings as a config file a subprocess reads with `--config`."""
    path.write_text(
        yaml.safe_dump(
            {
                "warehouse": settings.warehouse,
                "catalog_name": settings.catalog_name,
                "seed_path": settings.seed_path,
                "exchange_urls": dict(settings.exchange_urls),
                "rate_limits": dict(settings.rate_limits),
            }
        )
    )
    return path


def clean_env() -> dict[str, str]:
    """The environment without SCHEMAHUB_* variables (they would override the config file)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SCHEMAHUB_")}


def start_cli(config: Path, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "schemahub_lib.cli", "--config", str(config), *args],
            cwd=REPO,
            env=clean_env(),
            stdout=out,
            stderr=out,
        )
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def run_cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schemahub_lib.cli", "--config", str(config), *args],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
