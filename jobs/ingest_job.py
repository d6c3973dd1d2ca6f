"""Glue job: the scheduled ingest micro-batch (`schemahub ingest`), one run per schedule tick.

Arguments: --exchanges coinbase,binance,kraken,okx,bitfinex [--products BTC-USD,...]
[--max-catch-up-minutes M] plus the settings arguments (--profile, --warehouse, --aws-region).
Exits 1 if a stream failed.
"""

import sys

from schemahub_lib.landing.glue import start_job, words
from schemahub_lib.landing.ingest import IngestOptions, run_ingest

args, settings = start_job(sys.argv, ["exchanges", "products", "max-catch-up-minutes", "workers"])
options = IngestOptions(
    exchanges=words(args.get("exchanges")),
    products=words(args.get("products")),
    max_catch_up_minutes=float(args["max_catch_up_minutes"]) if "max_catch_up_minutes" in args else None,
    workers=int(args.get("workers", 4)),
)
sys.exit(run_ingest(settings, options).exit_code)
