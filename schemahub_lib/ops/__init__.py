"""Operations: status, audit, repair, maintenance and metrics over the lakehouse tables.

Engines: `status` is PyIceberg only (snapshot summaries, metadata, column scans), so it needs
no JVM. `audit` is Spark SQL for both raw and trades_unified: set-based (window LAG over
distinct ids per stream and id bucket, anti-join reconciliation), one definition of a gap for
both layers, and Spark is what a Glue job has anyway. `repair` fetches over HTTP through the
connectors, commits through landing's committer, then runs unify and audit in Spark.
`maintain` calls Iceberg's Spark procedures, so it runs through either catalog.

Modules: status, audit (+ auditreport, continuity, coverage), repair (+ refetch), maintenance
(+ retention, listing, tablestats), metrics (+ dashboard), formats (what other jobs write),
sparkutil (session settings ops relies on), text (CLI formatting).
"""
