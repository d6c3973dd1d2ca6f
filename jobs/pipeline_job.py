"""Glue job: the scheduled pipeline run (`schemahub pipeline`): ingest, then unify when due.

Arguments: --exchanges coinbase,binance,kraken [--products BTC-USD,...] [--max-catch-up-minutes M]
[--workers N] [--unify-every-minutes M] [--mappings-dir DIR] plus the settings arguments
(--profile, --warehouse, --aws-region, --seed-path). Without --unify-every-minutes every run
unifies. Exits 1 if a stream failed (what landed is still unified).
"""

import dataclasses
import importlib.util
import sys

from schemahub_lib.landing.glue import start_job, words
from schemahub_lib.landing.ingest import IngestOptions
from schemahub_lib.pipeline import PipelineOptions, run_pipeline

names = ["exchanges", "products", "max-catch-up-minutes", "workers", "unify-every-minutes", "mappings-dir"]
args, settings = start_job(sys.argv, names)
if importlib.util.find_spec("awsglue") is None:  # local spark-submit: unify configures the catalog
    settings = dataclasses.replace(settings, in_glue=False)
if "mappings_dir" in args:
    settings = dataclasses.replace(settings, mappings_dir=args["mappings_dir"])
ingest = IngestOptions(
    exchanges=words(args.get("exchanges")),
    products=words(args.get("products")),
    max_catch_up_minutes=float(args["max_catch_up_minutes"]) if "max_catch_up_minutes" in args else None,
    workers=int(args.get("workers", 4)),
)
every = float(args["unify_every_minutes"]) if "unify_every_minutes" in args else None
report = run_pipeline(settings, PipelineOptions(ingest, unify_every_minutes=every))
sys.exit(report.exit_code)
