import pytest

from schemahub_lib.cli import _rewrite_run_alias, build_parser, main
from schemahub_lib.connectors import CONNECTORS


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "ingest", "binance", "coinbase"], ["ingest", "binance", "coinbase"]),
        (["run", "unify", "trades_unified"], ["unify"]),
        (["--warehouse", "/w", "run", "pipeline", "trades_unified"], ["--warehouse", "/w", "pipeline"]),
        (["ingest", "kraken"], ["ingest", "kraken"]),
        (["sim", "run"], ["sim", "run"]),  # not the alias: left alone
    ],
)
def test_seed_spelling_run_alias(argv, expected):
    assert _rewrite_run_alias(argv) == expected


def test_init_is_registered_and_unknown_commands_fail(capsys):
    parser = build_parser()
    assert parser.parse_args(["init", "--quiet"]).quiet is True
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--warehouse", "/w", "--profile", "local", "-v", "status"],
        ["status", "--warehouse", "/w", "--profile", "local", "-v"],
        ["--profile", "local", "status", "--warehouse", "/w", "--verbose"],
    ],
)
def test_settings_flags_work_before_or_after_the_command(argv):
    args = build_parser().parse_args(argv)
    assert (args.warehouse, args.profile, args.verbose) == ("/w", "local", True)


def test_a_command_flag_after_the_command_does_not_hide_one_before_it():
    args = build_parser().parse_args(["--warehouse", "/w", "--kraken-url", "http://k", "status"])
    assert (args.warehouse, args.kraken_url, args.config, args.verbose) == ("/w", "http://k", None, False)


def test_deploy_keeps_its_own_config_flag():
    args = build_parser().parse_args(["--config", "settings.yaml", "deploy", "--config", "d.yaml"])
    assert (args.config, args.deployment) == ("settings.yaml", "d.yaml")


@pytest.mark.parametrize(
    "argv",
    [["ingest", "ftx"], ["backfill", "ftx"], ["update-seed", "ftx"], ["audit", "--exchange", "ftx"]],
    ids=lambda argv: argv[0],
)
def test_an_unregistered_exchange_is_named_the_same_way_everywhere(argv, tmp_path, capsys):
    warehouse = tmp_path / "wh"
    code = main([*argv, "--warehouse", str(warehouse)] if argv[0] != "update-seed" else argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"unknown exchange 'ftx'; known: {', '.join(sorted(CONNECTORS))}" in err
    assert not warehouse.exists()  # refused before anything was created
