"""`schemahub query` and the read API on the aws profile: Glue catalog and S3 on a moto server."""

from __future__ import annotations

from datetime import timedelta

import pyarrow.compute as pc
import pytest

from schemahub_lib.catalog import load_catalog
from schemahub_lib.cli import main
from schemahub_lib.read import UnknownTableError, load_lakehouse
from schemahub_lib.settings import ENV_FIELDS, Settings
from schemahub_lib.tables import init_tables
from tests.read.synthetic import START, append_days


def test_reads_glue_and_s3_through_pyiceberg(
    aws: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_catalog(aws)
    init_tables(catalog, aws)
    table = catalog.load_table(aws.table_id("trades_unified"))
    rows = append_days(table, days=2, per_hour=100)
    assert table.metadata_location.startswith(aws.warehouse)

    lake = load_lakehouse(aws)
    assert "trades_unified" in lake.tables() and "raw_binance_trades" in lake.tables()
    window = lake.trades(
        exchanges="coinbase", start=START + timedelta(hours=25), end=START + timedelta(hours=26)
    )
    assert lake.files_read == 1
    full = table.scan().to_arrow()
    want = full.filter(
        pc.and_(
            pc.equal(full["exchange"], "COINBASE"),
            pc.and_(
                pc.greater_equal(full["trade_ts"], START + timedelta(hours=25)),
                pc.less(full["trade_ts"], START + timedelta(hours=26)),
            ),
        )
    )
    assert window.num_rows == want.num_rows > 0
    total = lake.sql("SELECT count(*) AS n, sum(quantity) AS q FROM trades_unified")
    assert total["n"][0].as_py() == rows == full.num_rows
    assert total["q"][0].as_py() == pytest.approx(pc.sum(full["quantity"]).as_py())
    first = lake.snapshots()[0].snapshot_id
    assert lake.sql("SELECT count(*) AS n FROM trades_unified", as_of=first)["n"][0].as_py() == 24 * 100
    with pytest.raises(UnknownTableError, match="raw_kraken_trades"):
        lake.sql("SELECT * FROM raw_bitstamp_trades")

    # The command line, configured by the environment as a Glue-side user would.
    env = {
        "profile": "aws",
        "warehouse": aws.warehouse,
        "aws_region": aws.aws_region,
        "glue_endpoint": aws.glue_endpoint,
        "s3_endpoint": aws.s3_endpoint,
        "s3_path_style": "true",
    }
    for var, name in ENV_FIELDS.items():
        if name in env:
            monkeypatch.setenv(var, str(env[name]))
    assert main(["query", "SELECT count(*) AS n FROM trades_unified", "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ['"n"', str(rows)]
    assert main(["query", "SELECT * FROM nope"]) == 2
    assert "unknown table 'nope'" in capsys.readouterr().err
