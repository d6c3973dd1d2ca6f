-- Quarantine: records that failed validation, kept with their reason and exact payload.
CREATE TABLE IF NOT EXISTS schemahub.schemahub.schemahub_rejects (
  exchange     STRING    NOT NULL COMMENT 'coinbase, binance, kraken',
  product      STRING    NOT NULL COMMENT 'product requested',
  trade_id     STRING             COMMENT 'trade id if one could be read',
  reason       STRING    NOT NULL COMMENT 'what failed validation',
  raw_payload  STRING    NOT NULL COMMENT 'exact JSON of the record',
  url          STRING             COMMENT 'request that returned it',
  run_id       STRING    NOT NULL COMMENT 'run that saw it',
  rejected_at  TIMESTAMP NOT NULL COMMENT 'when'
)
USING iceberg
PARTITIONED BY (days(rejected_at))
TBLPROPERTIES (
  'format-version' = '2',
  'write.parquet.compression-codec' = 'zstd',
  'write.metadata.delete-after-commit.enabled' = 'true',
  'write.metadata.previous-versions-max' = '50'
);
