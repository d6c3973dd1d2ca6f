-- VWAP per minute, per exchange and symbol.
-- Runs unchanged in Athena (engine v3; database `schemahub` selected) and in Spark SQL
-- (after `USE schemahub.schemahub`). Edit the time range: the predicate on trade_ts lets both
-- engines prune the table's day partitions, which is most of what Athena bills for.
SELECT
  exchange,
  symbol,
  date_trunc('minute', trade_ts) AS minute_start,
  SUM(price * quantity) / SUM(quantity) AS vwap,
  SUM(quantity) AS volume,
  COUNT(*) AS trades
FROM trades_unified
WHERE trade_ts >= TIMESTAMP '2024-03-01 00:00:00 UTC'
  AND trade_ts < TIMESTAMP '2024-03-02 00:00:00 UTC'
GROUP BY exchange, symbol, date_trunc('minute', trade_ts)
ORDER BY symbol, minute_start, exchange
