-- Cross-venue spread per second: for each symbol and second in which at least two exchanges
-- traded it, the highest minus the lowest per-exchange VWAP of that second, in price and in
-- basis points, and which venues were high and low. Symbols are canonical BASE-QUOTE, so
-- BTC-USD (Coinbase, Kraken) and BTC-USDT (Binance) are different markets and never compared.
-- Runs unchanged in Athena (database `schemahub`) and Spark SQL (after `USE schemahub.schemahub`).
WITH per_venue AS (
  SELECT
    symbol,
    exchange,
    date_trunc('second', trade_ts) AS second_start,
    SUM(price * quantity) / SUM(quantity) AS vwap
  FROM trades_unified
  WHERE trade_ts >= TIMESTAMP '2024-03-01 00:00:00 UTC'
    AND trade_ts < TIMESTAMP '2024-03-02 00:00:00 UTC'
  GROUP BY symbol, exchange, date_trunc('second', trade_ts)
)
SELECT
  symbol,
  second_start,
  COUNT(*) AS venues,
  MAX(vwap) - MIN(vwap) AS spread,
  (MAX(vwap) - MIN(vwap)) / MIN(vwap) * 10000 AS spread_bps,
  max_by(exchange, vwap) AS high_venue,
  min_by(exchange, vwap) AS low_venue
FROM per_venue
GROUP BY symbol, second_start
HAVING COUNT(*) >= 2
ORDER BY symbol, second_start
