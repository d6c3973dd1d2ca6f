-- One row per landing run and stream: what `schemahub ingest` and `schemahub backfill` did.
-- A run writes its summary row (exchange = product = '*') with status 'running' before it
-- lands anything, then one row per stream and a final summary row. A run that never wrote its
-- final row was killed; the next landing run appends 'interrupted' rows for it, counted from
-- the raw snapshots it committed. Latest row per (run_id, exchange, product) is current.
CREATE TABLE IF NOT EXISTS schemahub.schemahub.schemahub_runs (
  run_id         STRING    NOT NULL COMMENT 'kind-utcstamp-hex, also raw _run_id',
  kind           STRING    NOT NULL COMMENT 'ingest or backfill',
  exchange       STRING    NOT NULL COMMENT 'coinbase, binance, kraken; * for the run summary',
  product        STRING    NOT NULL COMMENT 'canonical BASE-QUOTE; * for the run summary',
  status         STRING    NOT NULL COMMENT 'running, ok, failed, conflict, interrupted',
  pages          BIGINT             COMMENT 'pages fetched',
  trades         BIGINT             COMMENT 'trades landed in raw',
  rejects        BIGINT             COMMENT 'records written to schemahub_rejects',
  retries        BIGINT             COMMENT 'HTTP retries',
  commits        BIGINT             COMMENT 'raw snapshots committed',
  seconds        DOUBLE             COMMENT 'wall time',
  lag_seconds    DOUBLE             COMMENT 'now minus the time of the newest landed trade',
  first_trade_id BIGINT             COMMENT 'stream low-water mark after the run',
  last_trade_id  BIGINT             COMMENT 'stream watermark after the run',
  error          STRING             COMMENT 'why the stream or run failed',
  started_at     TIMESTAMP NOT NULL COMMENT 'run start',
  finished_at    TIMESTAMP          COMMENT 'null while running',
  host           STRING             COMMENT 'where it ran',
  pid            BIGINT             COMMENT 'process id',
  options        STRING             COMMENT 'the run options as JSON'
)
USING iceberg
PARTITIONED BY (days(started_at))
TBLPROPERTIES (
  'format-version' = '2',
  'write.parquet.compression-codec' = 'zstd',
  'write.metadata.delete-after-commit.enabled' = 'true',
  'write.metadata.previous-versions-max' = '50'
);
