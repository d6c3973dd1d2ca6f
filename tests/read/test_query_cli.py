"""`schemahub query` on the embedded catalog: output formats, --out, --as-of, exit 2 on bad queries."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from schemahub_lib.cli import main
from schemahub_lib.read import Lakehouse
from tests.read.conftest import DAYS, PER_HOUR

VWAP = (
    "SELECT exchange, symbol, count(*) AS trades, round(sum(price * quantity) / sum(quantity), 2) AS vwap "
    "FROM trades_unified WHERE trade_ts >= '2026-11-02 10:00' AND trade_ts < '2026-11-02 11:00' "
    "GROUP BY ALL ORDER BY ALL"
)


def _query(lakehouse: Lakehouse, *args: str) -> list[str]:
    return ["--warehouse", lakehouse.settings.warehouse, "query", *args]


def test_table_output_is_aligned(shared_lakehouse: Lakehouse, capsys: pytest.CaptureFixture[str]) -> None:
    lakehouse = shared_lakehouse
    assert main(_query(lakehouse, VWAP)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["exchange", "symbol", "trades", "vwap"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) == 2 + 6 + 1 and lines[-1] == "(6 rows)"
    # Every column starts at the same offset on every row; numbers end at the same offset.
    assert lines[2].index("BTC-USD") == lines[0].index("symbol") == lines[3].index("ETH-USD")
    assert {len(line) for line in lines[:8]} == {len(lines[0])}
    want = lakehouse.sql(VWAP)
    assert lines[2].split() == [str(v) for v in want.to_pylist()[0].values()]


def test_csv_json_and_parquet_hold_the_same_rows(
    shared_lakehouse: Lakehouse, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lakehouse = shared_lakehouse
    want = lakehouse.sql(VWAP).to_pylist()

    assert main(_query(lakehouse, VWAP, "--format", "csv")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["exchange"], int(r["trades"]), float(r["vwap"])) for r in rows] == [
        (w["exchange"], w["trades"], w["vwap"]) for w in want
    ]

    out = tmp_path / "vwap.json"
    assert main(_query(lakehouse, VWAP, "--format", "json", "--out", str(out))) == 0
    assert json.loads(out.read_text()) == want
    assert "6 rows written to" in capsys.readouterr().err

    out = tmp_path / "vwap.parquet"
    assert main(_query(lakehouse, VWAP, "--format", "parquet", "--out", str(out))) == 0
    assert pq.read_table(out).to_pylist() == want


def test_json_timestamps_are_iso(shared_lakehouse: Lakehouse, capsys: pytest.CaptureFixture[str]) -> None:
    lakehouse = shared_lakehouse
    sql = "SELECT min(trade_ts) AS first FROM trades_unified"
    first = lakehouse.sql(sql)["first"][0].as_py()
    assert main(_query(lakehouse, sql, "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out) == [{"first": first.isoformat()}]


def test_as_of_reads_an_earlier_snapshot(
    shared_lakehouse: Lakehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    lakehouse = shared_lakehouse
    first = lakehouse.snapshots()[0]
    count = "SELECT count(*) AS n FROM trades_unified"
    assert main(_query(lakehouse, count, "--format", "csv", "--as-of", str(first.snapshot_id))) == 0
    assert capsys.readouterr().out.split() == ['"n"', str(24 * PER_HOUR)]
    assert main(_query(lakehouse, count, "--format", "csv", "--as-of", first.committed_at.isoformat())) == 0
    assert capsys.readouterr().out.split() == ['"n"', str(24 * PER_HOUR)]
    assert main(_query(lakehouse, count, "--format", "csv")) == 0
    assert capsys.readouterr().out.split() == ['"n"', str(DAYS * 24 * PER_HOUR)]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT * FROM trade_unified",
            "unknown table 'trade_unified' in the query; the catalog holds: raw_",
        ),
        ("DROP TABLE trades_unified", "only SELECT queries are allowed, got a DROP statement"),
        ("SELECT price FROM trades_unified WHERE", "SQL error: Parser Error: syntax error at end of input"),
        ("SELECT sum(symbol) FROM trades_unified", "SQL error: Binder Error: No function matches"),
    ],
)
def test_bad_queries_exit_2_with_the_reason(
    shared_lakehouse: Lakehouse, capsys: pytest.CaptureFixture[str], sql: str, message: str
) -> None:
    lakehouse = shared_lakehouse
    assert main(_query(lakehouse, sql)) == 2
    err = capsys.readouterr().err
    assert err.startswith("schemahub query: ") and message in err


def test_an_empty_catalog_says_to_run_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from schemahub_lib.catalog import load_catalog
    from schemahub_lib.settings import load_settings

    load_catalog(load_settings(env={}, warehouse=str(tmp_path)))  # the catalog file, no namespace
    assert main(["--warehouse", str(tmp_path), "query", "SELECT * FROM trades_unified"]) == 2
    assert "the catalog holds: none (run `schemahub init`)" in capsys.readouterr().err


def test_a_missing_warehouse_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--warehouse", str(tmp_path / "nowhere"), "query", "SELECT 1"]) == 2
    assert f"no catalog at {tmp_path / 'nowhere' / 'catalog.db'}" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_the_console_script_end_to_end(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    schemahub = Path(sys.executable).parent / "schemahub"
    done = subprocess.run(
        [str(schemahub), *_query(lakehouse, VWAP, "--stats")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "(6 rows)"
    assert "trades_unified: snapshot" in done.stderr and ", 1 files," in done.stderr
    bad = subprocess.run(
        [str(schemahub), *_query(lakehouse, "SELECT * FROM nope")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown table 'nope'" in bad.stderr


def test_the_console_script_writes_every_row_before_it_exits(
    shared_lakehouse: Lakehouse, tmp_path: Path
) -> None:
    """`schemahub query` ends without the interpreter's teardown (cli.entry, os._exit): what it
    wrote to stdout or --out is all there, to the last row."""
    lakehouse = shared_lakehouse
    schemahub = Path(sys.executable).parent / "schemahub"
    every = "SELECT trade_id FROM trades_unified ORDER BY trade_id"
    rows = DAYS * 24 * PER_HOUR
    done = subprocess.run([str(schemahub), *_query(lakehouse, every, "--format", "csv")], capture_output=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[1:] == [f'"{t}"' for t in lakehouse.sql(every)["trade_id"].to_pylist()]
    assert len(lines) == 1 + rows
    out = tmp_path / "all.parquet"
    args = [*_query(lakehouse, every, "--format", "parquet", "--out", str(out))]
    done = subprocess.run([str(schemahub), *args], capture_output=True, text=True)
    assert done.returncode == 0 and f"{rows:,} rows written to {out}" in done.stderr
    assert pq.read_table(out).num_rows == rows


def test_json_keeps_big_integers_as_numbers(
    shared_lakehouse: Lakehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    lakehouse = shared_lakehouse
    # sum(BIGINT) is a HUGEINT in DuckDB, a decimal(38, 0) in Arrow.
    sql = "SELECT sum(x) AS total, sum(x) / 4 AS quarter, [1, 2] AS pair FROM range(3) r(x)"
    assert main(_query(lakehouse, sql, "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out) == [{"total": 3, "quarter": 0.75, "pair": [1, 2]}]


def test_csv_refuses_nested_columns_by_name(
    shared_lakehouse: Lakehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    lakehouse = shared_lakehouse
    assert main(_query(lakehouse, "SELECT [1, 2] AS pair", "--format", "csv")) == 2
    assert "CSV cannot hold nested columns: pair (list<" in capsys.readouterr().err


def test_a_query_starts_no_jvm(shared_lakehouse: Lakehouse) -> None:
    lakehouse = shared_lakehouse
    script = (
        "import sys\n"
        "from schemahub_lib.cli import main\n"
        f"args = ['--warehouse', {lakehouse.settings.warehouse!r}, 'query', {VWAP!r}, '--format', 'csv']\n"
        "code = main(args)\n"
        "assert code == 0, code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_params_are_bound_by_name(shared_lakehouse: Lakehouse, capsys: pytest.CaptureFixture[str]) -> None:
    lakehouse = shared_lakehouse
    sql = "SELECT count(*) AS n FROM trades_unified WHERE symbol = $sym AND trade_ts >= $start"
    args = ["--param", "sym=ETH-USD", "--param", "start=2026-11-03", "--format", "csv", "--stats"]
    assert main(_query(lakehouse, sql, *args)) == 0
    captured = capsys.readouterr()
    want = lakehouse.sql(sql, {"sym": "ETH-USD", "start": "2026-11-03"})["n"][0].as_py()
    assert captured.out.split() == ['"n"', str(want)] and 0 < want < 24 * PER_HOUR
    assert ", 1 files," in captured.err  # the bound start still prunes to one day
    assert main(_query(lakehouse, sql, "--param", "sym")) == 2
    assert "--param 'sym': expected NAME=VALUE" in capsys.readouterr().err
