"""Query results as text: NULLs, alignment, and the row cap a terminal gets."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from schemahub_lib.read.export import render_table


def test_nulls_numbers_and_times() -> None:
    result = pa.table(
        {
            "venue": ["BINANCE", None],
            "price": [90000.5, None],
            "at": pa.array([datetime(2026, 11, 2, 10, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
        }
    )
    lines = render_table(result).splitlines()
    assert lines == [
        "venue      price  at",
        "-------  -------  -------------------------",
        "BINANCE  90000.5  2026-11-02 10:00:00+00:00",
        "NULL        NULL  NULL",
        "(2 rows)",
    ]


def test_a_capped_table_says_how_many_rows_it_left_out() -> None:
    lines = render_table(pa.table({"n": list(range(5))}), max_rows=2).splitlines()
    assert lines[2:] == ["0", "1", "(5 rows, 3 not shown: use --format csv or --out FILE for all)"]
    assert render_table(pa.table({"n": [7]})).splitlines()[-1] == "(1 row)"
