"""Glue job: unify what the raw tables gained into trades_unified, in one Iceberg commit.

Arguments: the settings arguments (--profile, --warehouse, --aws-region, --seed-path) and
[--mappings-dir DIR]. Inside Glue 5.1 the Spark session and its `schemahub` catalog come from
the job's --conf; elsewhere (`spark-submit jobs/unify_job.py --warehouse ./warehouse`) the
session is built from the settings like `schemahub unify` does.
"""

import dataclasses
import importlib.util
import logging
import sys

from schemahub_lib.landing.glue import glue_arguments, glue_settings
from schemahub_lib.unify import run_unify

logging.basicConfig(level=logging.INFO, format="%(message)s")  # log_event's JSON summary line
args = glue_arguments(sys.argv, ["mappings-dir"])
settings = glue_settings(args)
if importlib.util.find_spec("awsglue") is None:  # local spark-submit: configure the catalog here
    settings = dataclasses.replace(settings, in_glue=False)
if "mappings_dir" in args:
    settings = dataclasses.replace(settings, mappings_dir=args["mappings_dir"])
report = run_unify(settings)
print(f"unify: {report.rows_inserted} rows inserted, snapshot {report.snapshot_id}")
