"""Raw landing: what the connectors fetch, into raw_<exchange>_trades, each trade exactly once.

Entry points: `landing.ingest.run_ingest(settings, IngestOptions) -> IngestReport` (the
scheduled micro-batch) and `landing.backfill.run_backfill(settings, BackfillOptions) ->
BackfillReport` (history). Where things are:

* state.py: a stream's landed id ranges (the watermark and more), as snapshot-summary JSON.
* watermarks.py: reading that state back; the queryable `schemahub_watermarks` log.
* commit.py: one snapshot = data + positions; conflicts with other runs; retries.
* writer.py: records -> Arrow -> Parquet files -> snapshot. rejects.py, runs.py: the
  `schemahub_rejects` and `schemahub_runs` tables.
* stream.py (plumbing), forward.py, backward.py: the fetch algorithms per exchange.
* execute.py, context.py, plan.py (dry runs), progress.py, glue.py (job arguments),
  cli.py (CLI flags shared by commands/ingest.py, commands/backfill.py and pipeline).
"""
