"""What one ingest or backfill run does: the frozen options objects the CLI and Glue jobs build.

Their own module so the dry-run planner (plan.py) reads them without importing the runs that
import it (ingest.py, backfill.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestOptions:
    """What one ingest run does. Empty `exchanges`/`products`: everything in the seed."""

    exchanges: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    seed_path: str | None = None
    limit: int | None = None  # trades per request (the exchange's maximum by default)
    before_id: int | None = None  # land only trade ids below this
    after_id: int | None = None  # land only trade ids above this
    skip_checkpoint: bool = False
    dry_run: bool = False
    max_catch_up_minutes: float | None = None
    cold_start_minutes: float | None = None  # default: settings.cold_start_minutes
    workers: int = 4
    flush_trades: int = 100_000
    flush_seconds: float = 60.0
    as_of_ns: int | None = None  # "now" for the cold-start window and lag; default the clock
    http_timeout_s: float | None = None  # per-request read timeout; None: the HTTP layer's default


@dataclass(frozen=True)
class BackfillOptions:
    """What one backfill run does. Empty `exchanges`/`products`: everything in the seed."""

    exchanges: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    seed_path: str | None = None
    limit: int | None = None
    workers: int = 1
    resume: bool = False
    dry_run: bool = False
    since_ns: int | None = None  # oldest trade time to reach; None: the start of history
    until_ns: int | None = None  # newest trade time to land when nothing is landed yet
    flush_trades: int = 100_000
    flush_seconds: float = 120.0
    progress: bool | None = None  # progress bars; None: when stderr is a terminal
    progress_lines: str = "text"  # off a terminal: a "text" line per stream, or "json" events
    http_timeout_s: float | None = None  # per-request read timeout; None: the HTTP layer's default
