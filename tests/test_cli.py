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
