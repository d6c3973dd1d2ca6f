-- Cross-venue price discrepancy episodes found by `schemahub explore --live`: one row per
-- episode, written when it ends (or when the detector stops, with the stop time as end).
-- An episode is one market's last price staying more than `threshold_bps` away from the median
-- of the venues it is compared with. Append-only, queryable like any other table.
CREATE TABLE IF NOT EXISTS schemahub.schemahub.schemahub_discrepancies (
  episode_id     STRING    NOT NULL COMMENT 'unique id of the episode',
  recorded_at    TIMESTAMP NOT NULL COMMENT 'when the row was written',
  base_asset     STRING    NOT NULL COMMENT 'BTC in BTC-USD',
  exchange       STRING    NOT NULL COMMENT 'the venue that stood apart, e.g. kraken',
  symbol         STRING    NOT NULL COMMENT 'its canonical market, e.g. BTC-USD',
  venues         STRING    NOT NULL COMMENT 'exchange:symbol of every market in the comparison, comma-separated',
  comparison     STRING    NOT NULL COMMENT 'the quotes compared, e.g. USD vs USD, or USDT vs USD (includes the basis)',
  start_ts       TIMESTAMP NOT NULL COMMENT 'first poll that saw the spread over the threshold',
  end_ts         TIMESTAMP NOT NULL COMMENT 'first poll that saw it back under, or the detector stop',
  peak_bps       DOUBLE    NOT NULL COMMENT 'largest signed distance from the median, in bps',
  threshold_bps  DOUBLE    NOT NULL COMMENT 'the threshold in force'
)
USING iceberg
PARTITIONED BY (days(start_ts))
TBLPROPERTIES (
  'format-version' = '2',
  'write.parquet.compression-codec' = 'zstd',
  'write.metadata.delete-after-commit.enabled' = 'true',
  'write.metadata.previous-versions-max' = '50'
);
