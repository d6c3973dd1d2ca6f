"""Glue job arguments for the landing jobs (jobs/ingest_job.py, jobs/backfill_job.py).

Glue passes `--name value` pairs; `awsglue.utils.getResolvedOptions` reads them inside Glue
and refuses absent names, so only the names present are asked for. Outside Glue (local runs,
tests) argparse reads the same pairs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from schemahub_lib.settings import Settings, load_settings

SETTINGS_ARGS = ("profile", "warehouse", "aws-region", "seed-path", "cold-start-minutes")


def glue_arguments(argv: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """The `--name value` arguments among `names` that are present, keyed with underscores."""
    wanted = [n for n in (*SETTINGS_ARGS, *names) if f"--{n}" in argv]
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        parser = argparse.ArgumentParser(add_help=False)
        for name in wanted:
            parser.add_argument(f"--{name}")
        known, _ = parser.parse_known_args(list(argv[1:]))
        return {k: v for k, v in vars(known).items() if v is not None}
    return {k.replace("-", "_"): v for k, v in getResolvedOptions(list(argv), wanted).items()}


def glue_settings(args: dict[str, str]) -> Settings:
    """Settings from the job's arguments (names as Settings fields), the environment and defaults."""
    fields = ("profile", "warehouse", "aws_region", "seed_path", "cold_start_minutes")
    flags: dict[str, Any] = {f: args.get(f) for f in fields}
    return load_settings(None, None, in_glue=True, **flags)


def start_job(argv: Sequence[str], names: Sequence[str]) -> tuple[dict[str, str], Settings]:
    """A job's arguments and settings, with log lines going to stderr (CloudWatch in Glue)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = glue_arguments(argv, names)
    return args, glue_settings(args)


def words(value: str | None) -> tuple[str, ...]:
    """`a,b c` -> ("a", "b", "c")."""
    return tuple(w for w in (value or "").replace(",", " ").split() if w)
