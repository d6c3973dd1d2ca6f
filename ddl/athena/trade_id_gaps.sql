-- Trade-id gaps per stream (exchange, symbol): every range of ids missing between two trades
-- that are present. trades_unified.trade_id is a STRING; ids are compared as numbers.
-- TRY_CAST (both engines) skips an id that is not a number instead of failing the query.
-- Runs unchanged in Athena (database `schemahub`) and Spark SQL (after `USE schemahub.schemahub`).
WITH ordered AS (
  SELECT
    exchange,
    symbol,
    TRY_CAST(trade_id AS BIGINT) AS id,
    LAG(TRY_CAST(trade_id AS BIGINT)) OVER (
      PARTITION BY exchange, symbol ORDER BY TRY_CAST(trade_id AS BIGINT)
    ) AS previous_id
  FROM trades_unified
  WHERE trade_ts >= TIMESTAMP '2024-03-01 00:00:00 UTC'
    AND trade_ts < TIMESTAMP '2024-03-02 00:00:00 UTC'
    AND TRY_CAST(trade_id AS BIGINT) IS NOT NULL
)
SELECT
  exchange,
  symbol,
  previous_id + 1 AS first_missing,
  id - 1 AS last_missing,
  id - previous_id - 1 AS missing
FROM ordered
WHERE id - previous_id > 1
ORDER BY exchange, symbol, first_missing
