-- Trade-id coverage: what each audit found, and the id ranges repair proved the exchange never
-- issued. Written by `schemahub audit` and `schemahub repair`, queryable, append-only.
-- One table, three kinds of row, describing an inclusive id range [first_id, last_id]
-- (a count gap has none):
--   stream      one per (layer, exchange, symbol) per audit: ids seen, expected, open gaps.
--   gap         one per missing id range an audit found: open (lost inside a range landing
--               claims complete), skipped (left out by a capped catch-up), pending (not yet
--               reached by a landing walk) or unfillable (a repair mark covers it),
--               first_ts/last_ts are the times of the trades either side of it. A head or
--               tail gap (detail {"edge": "head"|"tail"}) is ids landing's state promises at
--               either end of a stream that raw does not hold. A count gap (detail
--               {"count": "short"|"over"}, no id range, status open or over) is raw holding
--               fewer (more) rows for the stream than landing's state says it committed.
--               Stream statuses also include unproven_count (state from before counts were
--               kept) and the findings count_short and count_over.
--   unfillable  a range the exchange answered around without those ids (never issued).
--               Later audits subtract these ranges, so they stop alarming.
CREATE TABLE IF NOT EXISTS schemahub.schemahub.schemahub_coverage (
  audit_id      STRING    NOT NULL COMMENT 'run id of the audit or repair that wrote the row',
  recorded_at   TIMESTAMP NOT NULL COMMENT 'when the row was written',
  kind          STRING    NOT NULL COMMENT 'stream, gap or unfillable',
  layer         STRING    NOT NULL COMMENT 'raw or unified; exchange for unfillable marks',
  exchange      STRING    NOT NULL COMMENT 'coinbase, binance, kraken',
  symbol        STRING    NOT NULL COMMENT 'canonical BASE-QUOTE',
  source_symbol STRING             COMMENT 'the symbol as the exchange spells it, as in raw',
  window_start  TIMESTAMP          COMMENT 'audit window on trade time, inclusive; null = unbounded',
  window_end    TIMESTAMP          COMMENT 'audit window on trade time, exclusive; null = unbounded',
  first_id      BIGINT             COMMENT 'stream: lowest id seen; gap/unfillable: first id of the range',
  last_id       BIGINT             COMMENT 'stream: highest id seen; gap/unfillable: last id of the range',
  first_ts      TIMESTAMP          COMMENT 'stream: time of first_id; gap: time of the trade before the range',
  last_ts       TIMESTAMP          COMMENT 'stream: time of last_id; gap: time of the trade after the range',
  expected      BIGINT             COMMENT 'ids in [first_id, last_id] less unfillable ones',
  seen          BIGINT             COMMENT 'distinct ids present',
  duplicates    BIGINT             COMMENT 'rows beyond one per key',
  gap_ranges    STRING             COMMENT 'stream: JSON [[first, last], ...] of open gaps',
  status        STRING    NOT NULL COMMENT 'stream: complete, pending, unproven_start, empty, or findings joined by commas (gaps, duplicates, unparseable_ids, unreconciled); gap: open, skipped, pending, unfillable',
  detail        STRING             COMMENT 'JSON: stream: counts and the start evidence (start, proof, first_id, before_id); gap: edge; unfillable: how it was proven'
)
USING iceberg
PARTITIONED BY (days(recorded_at))
TBLPROPERTIES (
  'format-version' = '2',
  'write.parquet.compression-codec' = 'zstd',
  'write.metadata.delete-after-commit.enabled' = 'true',
  'write.metadata.previous-versions-max' = '50'
);
