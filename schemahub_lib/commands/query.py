"""`schemahub query "SQL"`: one SELECT over the lakehouse tables on DuckDB, no JVM.

    schemahub query "SELECT exchange, symbol, count(*) FROM trades_unified GROUP BY ALL"
    schemahub query "SELECT * FROM trades_unified WHERE trade_ts >= now() - INTERVAL 15 MINUTES" \\
        --format csv --out last15m.csv
    schemahub query --as-of 2026-11-30T12:00:00Z "SELECT count(*) FROM trades_unified"
    echo "SELECT * FROM schemahub_watermarks" | schemahub query -

Tables go by their plain names (trades_unified, raw_binance_trades, schemahub_coverage, ...).
Only the tables the query names are read, only the columns it uses, and simple WHERE
conditions on a table's columns (=, <, >, IN, BETWEEN against constants) prune its partitions
and files. --as-of takes a snapshot id (digits) or a time (ISO 8601): every table is read as
it was then. Exit 2 on an unknown table, a SQL error or a statement that is not a SELECT.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemahub_lib.errors import ConfigError
from schemahub_lib.read.export import BINARY_FORMATS, FORMATS, write_result
from schemahub_lib.settings import Settings

TERMINAL_MAX_ROWS = 1000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "query",
        help="run a SELECT over the lakehouse tables with DuckDB (no JVM)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sql", metavar="SQL", help="one SELECT statement; - reads it from stdin")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    parser.add_argument("--out", metavar="FILE", help="write the result to FILE instead of stdout")
    parser.add_argument(
        "--as-of", metavar="SNAPSHOT_ID|TIMESTAMP", help="read the tables as of a snapshot id or an ISO time"
    )
    parser.add_argument(
        "--stats",
        action="store_true",
        help="after the result, print per table the files and rows read (stderr)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.read import load_lakehouse

    query = sys.stdin.read() if args.sql == "-" else args.sql
    if not query.strip():
        raise ConfigError("no SQL given; pass one SELECT statement (or - to read it from stdin)")
    to_terminal = args.out is None and sys.stdout.isatty()
    if args.format in BINARY_FORMATS and to_terminal:
        raise ConfigError(f"--format {args.format} is binary: give --out FILE or redirect stdout")
    as_of = int(args.as_of) if args.as_of and args.as_of.strip().isdigit() else args.as_of
    lake = load_lakehouse(settings)
    result = lake.sql(query, as_of=as_of)
    max_rows = TERMINAL_MAX_ROWS if to_terminal else None
    if args.out:
        with Path(args.out).open("wb") as out:
            write_result(result, args.format, out, max_rows)
        print(f"{result.num_rows:,} rows written to {args.out}", file=sys.stderr)
    else:
        write_result(result, args.format, sys.stdout.buffer, max_rows)
        sys.stdout.buffer.flush()
    if args.stats:
        for s in lake.last_scans:
            print(
                f"{s.table}: snapshot {s.snapshot_id}, {s.files_read} files, {s.rows:,} rows, "
                f"{s.seconds * 1000:.0f} ms, filter {s.row_filter}",
                file=sys.stderr,
            )
    return 0
