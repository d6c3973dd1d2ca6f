import pytest

from schemahub_lib.cli import _rewrite_run_alias, build_parser


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
