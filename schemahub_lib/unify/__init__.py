"""Unify: raw tables -> trades_unified with Spark, one Iceberg commit per run.

The only package that knows Spark and MERGE. Entry point: `run_unify(settings, spark=None)`.
Importing it needs pyspark; `schemahub_lib.mapping` (parse and validate) does not.
"""

from schemahub_lib.unify.run import SourceReport, UnifyReport, run_unify

__all__ = ["SourceReport", "UnifyReport", "run_unify"]
