"""Glue job: history for the seed's products (`schemahub backfill --resume`), run on demand.

Arguments: [--exchanges ...] [--products ...] [--since TIME] [--workers N] plus the settings
arguments (--profile, --warehouse, --aws-region). Always resumes an interrupted backfill.
"""

import sys

from schemahub_lib.landing.backfill import BackfillOptions, run_backfill
from schemahub_lib.landing.glue import start_job, words
from schemahub_lib.timespec import parse_time_ns

args, settings = start_job(sys.argv, ["exchanges", "products", "since", "until", "workers"])
options = BackfillOptions(
    exchanges=words(args.get("exchanges")),
    products=words(args.get("products")),
    since_ns=parse_time_ns(args["since"], flag="--since") if "since" in args else None,
    until_ns=parse_time_ns(args["until"], flag="--until") if "until" in args else None,
    workers=int(args.get("workers", 4)),
    resume=True,
    progress=False,
)
sys.exit(run_backfill(settings, options).exit_code)
