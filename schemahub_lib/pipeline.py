"""`run_pipeline`: one scheduled run that ingests, then unifies, in one process.

On Glue this is one job run per cadence instead of an ingest run and a unify run: one start-up,
one pip install of the wheel and one 1-minute billing minimum instead of two
(glue_deploy/README.md, "Monthly cost"). Unify can keep a slower cadence than ingest
(`unify_every_minutes`): a run unifies only when the last unify commit is old enough, so the raw
tables stay as fresh as the ingest schedule while trades_unified trails by up to that interval.
The decision reads the commit time from trades_unified itself, so a skipped or failed run never
delays unify by more than one ingest interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from schemahub_lib.catalog import load_catalog
from schemahub_lib.errors import ConfigError
from schemahub_lib.landing.ingest import IngestOptions, IngestReport, run_ingest
from schemahub_lib.logs import log_event
from schemahub_lib.mapping import TARGET_TABLE
from schemahub_lib.settings import Settings
from schemahub_lib.unify.reads import CONSUMED_PREFIX

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from schemahub_lib.unify.run import UnifyReport

# Runs start on a fixed schedule but take varying time: a unify due "every 120 minutes" must not
# slip to the next run because the last one committed a minute later than it started.
DUE_FRACTION = 0.9


@dataclass(frozen=True)
class PipelineOptions:
    """Ingest's options, and how often the pipeline also unifies (None: every run)."""

    ingest: IngestOptions = field(default_factory=IngestOptions)
    unify_every_minutes: float | None = None


@dataclass
class PipelineReport:
    ingest: IngestReport
    unify: UnifyReport | None  # None when unify was not due
    unify_reason: str  # why unify ran or not

    @property
    def exit_code(self) -> int:
        return self.ingest.exit_code


def run_pipeline(
    settings: Settings, options: PipelineOptions, spark: SparkSession | None = None
) -> PipelineReport:
    """Ingest (landing/ingest.py), then unify (unify/run.py) when due.

    The mappings are loaded and validated first, so a bad mapping stops the run before anything
    lands. A failed stream does not stop unify: what did land is unified, and the exit code
    (`report.exit_code`) still says a stream failed. A dry run (`options.ingest.dry_run`) lands
    nothing and, when unify is due, unifies as a dry run (reads and maps, writes nothing).
    `schemahub pipeline` and jobs/pipeline_job.py both call this.
    """
    from schemahub_lib.ddl import load_table_defs
    from schemahub_lib.mapping import load_mappings

    every = options.unify_every_minutes
    if every is not None and every <= 0:
        raise ConfigError(f"--unify-every-minutes must be positive minutes, got {every}")
    mappings = load_mappings(settings.mappings_dir, load_table_defs(settings.ddl_dir))
    ingest = run_ingest(settings, options.ingest)
    due, reason = unify_due(settings, every, time.time())
    unify = None
    if due:
        from schemahub_lib.unify import run_unify

        unify = run_unify(settings, spark, mappings=mappings, dry_run=options.ingest.dry_run)
    log_event("pipeline", ingest_exit_code=ingest.exit_code, unified=unify is not None, unify_reason=reason)
    return PipelineReport(ingest, unify, reason)


def unify_due(settings: Settings, every_minutes: float | None, now_s: float) -> tuple[bool, str]:
    """Whether this run unifies: always without a cadence, else when trades_unified's last unify
    commit is at least DUE_FRACTION x `every_minutes` old (or there is none)."""
    if every_minutes is None:
        return True, "unify runs every pipeline run"
    last_ms = last_unify_ms(load_catalog(settings).load_table(settings.table_id(TARGET_TABLE)))
    if last_ms is None:
        return True, "trades_unified has no unify commit yet"
    age_min = (now_s - last_ms / 1000) / 60
    if age_min >= DUE_FRACTION * every_minutes:
        return True, f"last unify commit {age_min:.1f} min ago, cadence {every_minutes:g} min"
    return False, f"last unify commit {age_min:.1f} min ago, next after {every_minutes:g} min"


def last_unify_ms(table: Table) -> int | None:
    """Commit time (epoch ms) of the newest snapshot on main that unify wrote, or None."""
    current = table.current_snapshot()
    if current is None:
        return None
    for snapshot in ancestors_of(current, table.metadata):
        props = snapshot.summary.additional_properties if snapshot.summary is not None else {}
        if any(k.startswith(CONSUMED_PREFIX) for k in props):
            return snapshot.timestamp_ms
    return None
