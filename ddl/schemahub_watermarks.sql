-- Where every (exchange, product) stream stands, one row per committed advance.
-- The authoritative watermark commits atomically with the data, in the raw table's snapshot
-- summary; this table is its queryable history (latest row per stream = current position).
CREATE TABLE IF NOT EXISTS schemahub.schemahub.schemahub_watermarks (
  exchange        STRING    NOT NULL COMMENT 'coinbase, binance, kraken',
  product         STRING    NOT NULL COMMENT 'canonical BASE-QUOTE',
  last_trade_id   BIGINT             COMMENT 'highest trade id landed',
  last_trade_ts   TIMESTAMP          COMMENT 'time of that trade',
  cursor          STRING             COMMENT 'exact exchange cursor to resume from',
  raw_snapshot_id BIGINT             COMMENT 'raw table snapshot that committed the advance',
  run_id          STRING    NOT NULL COMMENT 'run that advanced it',
  updated_at      TIMESTAMP NOT NULL COMMENT 'when',
  first_trade_id  BIGINT             COMMENT 'lowest trade id of the contiguous landed range (backfill low-water mark)',
  first_trade_ts  TIMESTAMP          COMMENT 'time of that trade',
  state           STRING             COMMENT 'the full stream state JSON as the raw snapshot carries it'
)
USING iceberg
TBLPROPERTIES (
  'format-version' = '2',
  'write.parquet.compression-codec' = 'zstd',
  'write.metadata.delete-after-commit.enabled' = 'true',
  'write.metadata.previous-versions-max' = '50'
);
