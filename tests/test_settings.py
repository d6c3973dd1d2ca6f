from pathlib import Path

import pytest

from schemahub_lib.connectors import CONNECTORS, base_url
from schemahub_lib.errors import ConfigError
from schemahub_lib.settings import load_settings


def test_defaults_need_no_configuration():
    s = load_settings(env={})
    assert s.profile == "local"
    assert s.catalog_name == "schemahub" and s.namespace == "schemahub"
    assert s.warehouse == "./warehouse"
    assert s.catalog_db_path == Path("./warehouse").resolve() / "catalog.db"
    assert dict(s.exchange_urls) == {}  # every exchange at its connector's default URL
    assert {name: base_url(name, s) for name in CONNECTORS} == {
        name: cls.default_base_url for name, cls in CONNECTORS.items()
    }
    assert s.cold_start_minutes == 90


def test_precedence_defaults_file_env_flags(tmp_path):
    config = tmp_path / "schemahub.yaml"
    config.write_text(
        "warehouse: /from/file\ncold_start_minutes: 30\nspark_master: local[1]\n"
        "exchange_urls: {kraken: http://file-kraken}\n"
    )
    env = {
        "SCHEMAHUB_CONFIG": str(config),
        "SCHEMAHUB_COLD_START_MINUTES": "45",
        "SCHEMAHUB_BINANCE_URL": "http://env-binance",
        "SCHEMAHUB_KRAKEN_URL": "http://env-kraken",
    }
    s = load_settings(env=env, cold_start_minutes=None, exchange_urls={"binance": "http://flag-binance"})
    assert s.warehouse == "/from/file"  # file beats default
    assert s.spark_master == "local[1]"
    assert s.cold_start_minutes == 45  # env beats file; a None flag is ignored
    assert base_url("kraken", s) == "http://env-kraken"  # env beats file
    assert base_url("binance", s) == "http://flag-binance"  # flag beats env
    assert base_url("coinbase", s) == CONNECTORS["coinbase"].default_base_url


def test_settings_are_frozen():
    s = load_settings(env={})
    with pytest.raises(AttributeError):
        s.warehouse = "/elsewhere"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("warehous: /x\n", "unknown settings warehous"),
        ("- a\n- b\n", "expected a mapping of settings"),
        ("cold_start_minutes: soon\n", "cold_start_minutes must be int, got 'soon'"),
        ("warehouse: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_file_names_file_and_key(tmp_path, content, message):
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={})
    assert str(config) in str(err.value)
    assert message in str(err.value)


def test_bad_environment_value_names_variable():
    with pytest.raises(ConfigError, match="SCHEMAHUB_S3_PATH_STYLE: s3_path_style must be bool"):
        load_settings(env={"SCHEMAHUB_S3_PATH_STYLE": "maybe"})


def test_aws_profile_needs_s3_warehouse():
    with pytest.raises(ConfigError, match="needs an s3:// warehouse"):
        load_settings(env={"SCHEMAHUB_PROFILE": "aws"})
    s = load_settings(env={"SCHEMAHUB_PROFILE": "aws", "SCHEMAHUB_WAREHOUSE": "s3://b/wh"})
    assert s.profile == "aws" and not s.is_local


def test_unknown_exchange_lists_the_known_ones():
    known = ", ".join(sorted(CONNECTORS))
    with pytest.raises(ConfigError, match=f"unknown exchange 'ftx'; known: {known}$"):
        base_url("ftx", load_settings(env={}))
    # Every registered exchange has its variable; a typo'd one is named, not ignored.
    assert base_url("okx", load_settings(env={"SCHEMAHUB_OKX_URL": "http://okx.test/"})) == "http://okx.test"
    typo = load_settings(env={"SCHEMAHUB_KRAKN_URL": "http://k"})
    with pytest.raises(ConfigError, match=f"exchange_urls: unknown exchange 'krakn'; known: {known}$"):
        base_url("kraken", typo)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"exchange_urls": {"binance": "localhost:9"}}, {}, "binance URL 'localhost:9': expected http(s)://"),
        ({}, {"SCHEMAHUB_KRAKEN_URL": "ftp://x"}, "kraken URL 'ftp://x'"),
        ({}, {"SCHEMAHUB_COLD_START_MINUTES": "0"}, "cold_start_minutes must be above 0, got 0"),
        ({}, {"SCHEMAHUB_SHUFFLE_PARTITIONS": "0"}, "spark_shuffle_partitions must be 1 or more"),
    ],
)
def test_values_that_would_fail_later_fail_at_once(flags, env, message):
    with pytest.raises(ConfigError) as info:
        load_settings(env=env, **flags)
    assert message in str(info.value)


def test_rate_limits_from_the_config_file_are_checked(tmp_path):
    config = tmp_path / "schemahub.yaml"
    config.write_text("rate_limits: {binance: fast}\n")
    with pytest.raises(ConfigError, match=r"rate_limits\.binance must be requests per second >= 0"):
        load_settings(config, env={})


def test_a_bad_url_flag_exits_2_before_any_request(capsys):
    from schemahub_lib.cli import main

    assert main(["--binance-url", "localhost:9", "ingest", "binance", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "schemahub ingest: binance URL 'localhost:9': expected http(s)://host" in err
    assert "--binance-url, SCHEMAHUB_BINANCE_URL" in err
