"""Filters pushed from SQL into the Iceberg scan prune files and never change a result.

Each query runs twice: through the lakehouse (pushdown and column pruning) and on DuckDB over
the whole table as PyIceberg reads it. The results must be equal; the files read show whether
anything was pushed.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemahub_lib.read import Lakehouse
from schemahub_lib.read.engine import connect_duckdb
from tests.read.conftest import DAYS

DAY2 = "2026-11-02"
W_START, W_END = "2026-11-02 10:00:00", "2026-11-02 10:15:00"

# (query, params, data files the lakehouse may read at most; DAYS means nothing was pushed)
CASES: list[tuple[str, Any, int]] = [
    (f"SELECT * FROM trades_unified WHERE trade_ts >= '{W_START}' AND trade_ts < '{W_END}'", None, 1),
    (f"SELECT count(*) FROM trades_unified WHERE trade_ts BETWEEN '{W_START}' AND '{W_END}'", None, 1),
    (
        f"SELECT count(*) FROM trades_unified WHERE TIMESTAMPTZ '{W_START}+00' <= TRADE_TS "
        "AND symbol = 'BTC-USD'",
        None,
        2,
    ),
    ("SELECT count(*) FROM trades_unified WHERE trade_ts >= $1 AND trade_ts < $2", [W_START, W_END], 3),
    (
        "SELECT count(*) FROM trades_unified "
        "WHERE trade_ts >= $s::TIMESTAMPTZ AND trade_ts < $s::TIMESTAMPTZ + INTERVAL 1 HOUR",
        {"s": W_START},
        1,
    ),
    ("SELECT count(*) FROM trades_unified WHERE exchange IN ('binance', 'KRAKEN')", None, DAYS),
    (f"SELECT count(*) FROM trades_unified WHERE trade_ts < '{DAY2}' OR symbol = 'ETH-USD'", None, DAYS),
    (f"SELECT count(*) FROM trades_unified WHERE NOT (trade_ts >= '{DAY2}')", None, DAYS),
    ("SELECT count(*) FROM trades_unified WHERE trade_ts > now() - INTERVAL 3650 DAY", None, DAYS),
    ("SELECT count(*) FROM trades_unified WHERE trade_ts < now() - INTERVAL 3650 DAY", None, DAYS),
    ("SELECT count(*) FROM trades_unified WHERE price > 50000 AND quantity <= 0.05", None, DAYS),
    # A self-join: each side gets its own window, the scan reads the union of both.
    (
        f"""SELECT a.exchange, count(*) FROM trades_unified a JOIN trades_unified b
         ON a.exchange = b.exchange AND a.symbol = b.symbol
        WHERE a.trade_ts >= '{W_START}' AND a.trade_ts < '{W_END}'
          AND b.trade_ts >= '2026-11-03 10:00' AND b.trade_ts < '2026-11-03 10:01'
        GROUP BY ALL""",
        None,
        2,
    ),
    # Unqualified columns in a join could belong to either side: nothing pushed for them.
    (
        f"""SELECT count(*) FROM trades_unified a JOIN schemahub_watermarks w ON true
        WHERE trade_ts >= '{W_START}'""",
        None,
        DAYS,
    ),
    (
        f"""WITH w AS (SELECT * FROM trades_unified WHERE symbol = 'BTC-USD' AND trade_ts < '{DAY2}')
        SELECT exchange, count(*), sum(price) FROM w WHERE trade_ts >= '2026-11-01 12:00' GROUP BY ALL""",
        None,
        1,
    ),
    (
        f"""SELECT * FROM (SELECT * FROM trades_unified WHERE trade_ts >= '{DAY2}') t
        WHERE t.trade_ts < '{W_START}' AND t.symbol = 'ETH-USD'""",
        None,
        2,
    ),
    (
        f"""SELECT count(*) FROM trades_unified WHERE trade_ts < '{DAY2}'
        UNION ALL SELECT count(*) FROM trades_unified WHERE trade_ts >= '2026-11-03'""",
        None,
        2,
    ),
    # Correlated subquery: the inner reference's own constant bound is pushed, the outer's too.
    (
        f"""SELECT count(*) FROM trades_unified a WHERE a.trade_ts >= '2026-11-03'
          AND a.price > (SELECT avg(price) FROM trades_unified b
                         WHERE b.symbol = a.symbol AND b.trade_ts < '{DAY2}')""",
        None,
        2,
    ),
    # ASOF picks the nearest row: filtering b first would change which one, so nothing pushed.
    (
        f"""SELECT count(*), sum(b.price) FROM
          (SELECT * FROM trades_unified
            WHERE exchange = 'BINANCE' AND trade_ts >= '{W_START}' AND trade_ts < '{W_END}') a
          ASOF JOIN trades_unified b ON a.symbol = b.symbol AND a.trade_ts >= b.trade_ts
        WHERE b.exchange = 'KRAKEN' AND b.price > 90000""",
        None,
        DAYS + 1,
    ),
    (
        f"""SELECT v.x, count(t.trade_id) FROM (VALUES ('BTC-USD'), ('XRP-USD')) v(x)
          LEFT JOIN trades_unified t ON t.symbol = v.x
        WHERE t.trade_ts >= '{W_START}' AND t.trade_ts < '{W_END}' GROUP BY ALL""",
        None,
        1,
    ),
    ("SELECT exchange, symbol FROM trades_unified GROUP BY ALL HAVING symbol = 'BTC-USD'", None, DAYS),
    # A reservoir sample of the whole table, then the filter: pushing would sample other rows.
    (
        "SELECT count(*) FROM trades_unified TABLESAMPLE RESERVOIR(20 ROWS) REPEATABLE (7) "
        f"WHERE trade_ts < '{DAY2}'",
        None,
        DAYS,
    ),
    (
        f"SELECT count(*) FROM trades_unified WHERE trade_ts < '{DAY2}' "
        "USING SAMPLE reservoir(20 ROWS) REPEATABLE (7)",
        None,
        DAYS,
    ),
    (
        f"""SELECT exchange, price, row_number() OVER (PARTITION BY exchange ORDER BY trade_ts) AS n
        FROM trades_unified WHERE trade_ts >= '{W_START}' AND trade_ts < '{W_END}' QUALIFY n <= 3""",
        None,
        1,
    ),
]


def _reference(lakehouse: Lakehouse, query: str, params: Any) -> list[tuple[Any, ...]]:
    con = connect_duckdb()
    for name in ("trades_unified", "schemahub_watermarks"):
        con.register(name, lakehouse.table(name).scan().to_arrow())
    return sorted(con.execute(query, params).fetchall(), key=repr)


@pytest.mark.parametrize(("query", "params", "max_files"), CASES, ids=range(len(CASES)))
def test_pushdown_prunes_without_changing_results(
    shared_lakehouse: Lakehouse, query: str, params: Any, max_files: int
) -> None:
    lakehouse = shared_lakehouse
    got = lakehouse.sql(query, params)
    rows = sorted((tuple(r.values()) for r in got.to_pylist()), key=repr)
    assert rows == _reference(lakehouse, query, params)
    files = sum(s.files_read for s in lakehouse.last_scans if s.table == "trades_unified")
    assert files <= max_files
    if max_files < DAYS:
        assert files == max_files  # the pruning happened, not merely a small table
