"""Glue job: table maintenance (`schemahub maintain`), daily between two pipeline runs.

Arguments: [--dry-run true] [--tables t1,t2] [--steps compact,manifests,expire,orphans]
[--retain-days 7] [--retain-last N] [--orphan-days 3] [--min-input-files 5] plus the settings
arguments (--profile, --warehouse, --aws-region). Retention never expires what unify or
landing resume from (schemahub_lib/ops/retention.py).
"""

import sys

from schemahub_lib.landing.glue import start_job
from schemahub_lib.ops.maintenance import JOB_ARGS, options_from_job_args, run_maintenance

args, settings = start_job(sys.argv, JOB_ARGS)
run_maintenance(settings, options=options_from_job_args(args))
