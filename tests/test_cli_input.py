"""Every command answers a person: bad input exits 2 with what was given and what is accepted,
before any request (checked against the simulator's request counter) or any file is written."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemahub_lib.cli import main
from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.settings import Settings
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.testing import running_sim
from tests.conftest import REPO
from tests.landing.procs import clean_env, write_config

FUTURE = "2099-01-01T00:00:00Z"


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with running_sim() as server:
        yield server


@pytest.fixture
def config(settings: Settings, sim: SimServer, tmp_path: Path) -> Path:
    pointed = dataclasses.replace(settings, exchange_urls=dict(sim.urls))
    return write_config(pointed, tmp_path / "schemahub.yaml")


def _run(config: Path, *argv: str) -> int:
    try:
        return main(["--config", str(config), *argv])
    except SystemExit as exc:  # argparse's own exit
        return int(exc.code or 0)


def _assert_untouched(sim: SimServer, settings: Settings) -> None:
    assert sim.stats.snapshot()["total"] == 0  # no request reached an exchange
    assert not Path(settings.warehouse).exists()  # nothing written


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "--since", "someday"],
        ["repair", "--until", "someday"],
        ["backfill", "--since", "someday"],
        ["ingest", "--as-of", "someday"],
    ],
)
def test_a_bad_time_exits_2_with_the_value_and_the_accepted_forms(
    argv: list[str], config: Path, sim: SimServer, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(config, *argv) == 2
    err = capsys.readouterr().err
    assert f"argument {argv[1]}: 'someday': not a time" in err
    assert "ISO 8601" in err and "epoch seconds or milliseconds" in err and "24h" in err
    assert "Traceback" not in err
    _assert_untouched(sim, settings)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ingest", "--limit", "20000"], "argument --limit: 20000 trades per request: give 1..10000"),
        (["ingest", "--limit", "5000"], "--limit 5000: coinbase pages hold at most 1000 trades"),
        (["ingest", "kraken", "--limit", "5000"], "--limit 5000: kraken pages hold at most 1000 trades"),
        (["backfill", "--limit", "0"], "0 trades per request: give 1..10000"),
        (["ingest", "--http-timeout", "0"], "argument --http-timeout: must be above 0 seconds, got 0"),
        (["backfill", "--workers", "0"], "argument --workers: must be above 0, got 0"),
        (["ingest", "--flush-seconds", "-1"], "argument --flush-seconds: must be above 0 seconds"),
        (["ingest", "bitstamp"], "unknown exchange 'bitstamp'; known: binance, bitfinex, coinbase, kraken"),
        (["backfill", "bitstamp", "kraken"], "unknown exchange 'bitstamp'; known: binance, bitfinex"),
        (["backfill", "--since", FUTURE], f"--since {FUTURE} is in the future"),
        (["backfill", "--since", FUTURE, "--dry-run"], "there is no history after now to backfill"),
        (["ingest", "--as-of", FUTURE], f"--as-of {FUTURE} is in the future"),
        (["ingest", "--as-of", FUTURE, "--dry-run"], "no trade is due yet"),
    ],
)
def test_bad_landing_input_exits_2_before_any_request(
    argv: list[str],
    expected: str,
    config: Path,
    sim: SimServer,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(config, *argv) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert "Traceback" not in err
    _assert_untouched(sim, settings)


def test_the_limit_check_reads_each_connectors_page_limit(
    config: Path, sim: SimServer, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    # A smaller page on one exchange: the check names that exchange and its class attribute.
    monkeypatch.setattr(CONNECTORS["kraken"], "max_page_limit", 500)
    assert _run(config, "ingest", "kraken", "--limit", "800") == 2
    assert "kraken pages hold at most 500 trades (KrakenConnector.max_page_limit)" in capsys.readouterr().err
    _assert_untouched(sim, settings)


def test_the_same_time_syntax_works_for_every_time_flag(
    config: Path, sim: SimServer, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from schemahub_lib.cli import build_parser

    parser = build_parser()
    for argv in (
        ["backfill", "--since", "1h"],
        ["audit", "--since", "1h"],
        ["repair", "--since", "1h"],
        ["ingest", "--as-of", "1h"],
    ):
        value = getattr(parser.parse_args(argv), argv[1].lstrip("-").replace("-", "_"))
        assert abs((datetime.now(UTC) - value).total_seconds() - 3600) < 60, argv


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("run", "`schemahub run VERB ARGS...` is `schemahub VERB ARGS...`"),
        ("init", "Creates the `schemahub` namespace and every table defined in ddl/*.sql"),
        ("repair", "`schemahub repair`: refetch the trade ids an audit found missing"),
        ("audit", "`schemahub audit`: prove trade-id continuity"),
    ],
)
def test_each_command_says_what_it_does(command: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert " ".join(says.split()) in out
    if command == "repair":
        assert "prove trade-id continuity" not in out  # its own text, not audit's


def test_help_shows_the_defaults_that_matter(capsys: pytest.CaptureFixture[str]) -> None:
    from schemahub_lib.landing.backfill import BackfillOptions
    from schemahub_lib.landing.ingest import IngestOptions

    for command, options in (("ingest", IngestOptions()), ("backfill", BackfillOptions())):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert f"streams fetched at once (default: {options.workers})" in out
        assert f"commit every N trades per stream (default: {options.flush_trades:,})" in out
        assert f"commit at least every SECONDS per stream (default: {options.flush_seconds:g})" in out
        assert "trades per request (default: the exchange's maximum: coinbase 1000" in out


def test_the_help_defaults_copied_for_speed_agree_with_the_library() -> None:
    from schemahub_lib.commands import audit, backfill, ingest, maintain
    from schemahub_lib.http import DEFAULT_TIMEOUT
    from schemahub_lib.landing.backfill import BackfillOptions
    from schemahub_lib.landing.cli import DEFAULT_READ_TIMEOUT_S
    from schemahub_lib.landing.ingest import IngestOptions
    from schemahub_lib.ops.audit import LAYERS
    from schemahub_lib.ops.maintenance import STEPS, MaintainOptions

    for copied, options in ((ingest.DEFAULTS, IngestOptions()), (backfill.DEFAULTS, BackfillOptions())):
        assert copied == {k: getattr(options, k) for k in copied}
    assert {k: getattr(MaintainOptions(), k) for k in maintain.DEFAULTS} == maintain.DEFAULTS
    assert maintain.STEPS == STEPS and audit.LAYERS == LAYERS
    assert DEFAULT_TIMEOUT[1] == DEFAULT_READ_TIMEOUT_S


HEAVY = ("pyarrow", "pyiceberg", "pyspark", "boto3", "pandas")
COMMANDS = ("init", "update-seed", "ingest", "backfill", "unify", "pipeline", "status", "audit",
            "repair", "maintain", "sim", "deploy", "run")  # fmt: skip


def test_help_loads_no_heavy_library() -> None:
    """`--help` for the tool and every command builds the parser without pyarrow, pyiceberg,
    pyspark, boto3 or pandas: those load only when a command runs."""
    probe = f"""
import contextlib, io, json, sys
from schemahub_lib.cli import main
loaded = {{}}
for argv in [["--help"]] + [[c, "--help"] for c in {list(COMMANDS)!r}] + [["sim", "serve", "--help"]]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(argv)
    loaded[" ".join(argv)] = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps(loaded))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=clean_env(), capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    assert len(loaded) == len(COMMANDS) + 2
    assert loaded == {argv: [] for argv in loaded}
