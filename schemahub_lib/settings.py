"""One frozen settings object, resolved once: defaults < config file < environment < flags.

This is the only module that reads the environment. Library code receives a `Settings`.
The embedded default needs no configuration: a SQLite catalog file and a warehouse folder
under `SCHEMAHUB_WAREHOUSE` (default `./warehouse`). The `aws` profile uses the Glue Data
Catalog and an S3 warehouse, with every endpoint overridable for a local AWS emulator.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemahub_lib.errors import ConfigError
from schemahub_lib.killpoints import KILL_POINTS

CATALOG_NAME = "schemahub"
NAMESPACE = "schemahub"
PROFILES = ("local", "aws")

REPO_ROOT = Path(__file__).resolve().parent.parent

# Environment variable -> settings field. Everything the environment can set is listed here.
ENV_FIELDS: Mapping[str, str] = {
    "SCHEMAHUB_PROFILE": "profile",
    "SCHEMAHUB_WAREHOUSE": "warehouse",
    "SCHEMAHUB_SEED_PATH": "seed_path",
    "SCHEMAHUB_MAPPINGS_DIR": "mappings_dir",
    "SCHEMAHUB_DDL_DIR": "ddl_dir",
    "SCHEMAHUB_JARS_DIR": "jars_dir",
    "SCHEMAHUB_SPARK_MASTER": "spark_master",
    "SCHEMAHUB_SPARK_DRIVER_MEMORY": "spark_driver_memory",
    "SCHEMAHUB_SHUFFLE_PARTITIONS": "spark_shuffle_partitions",
    "SCHEMAHUB_COLD_START_MINUTES": "cold_start_minutes",
    "SCHEMAHUB_AWS_REGION": "aws_region",
    "SCHEMAHUB_GLUE_ENDPOINT": "glue_endpoint",
    "SCHEMAHUB_S3_ENDPOINT": "s3_endpoint",
    "SCHEMAHUB_S3_PATH_STYLE": "s3_path_style",
    "SCHEMAHUB_CLOUDWATCH_ENDPOINT": "cloudwatch_endpoint",
    "SCHEMAHUB_KILL_AT": "kill_at",
    "SCHEMAHUB_MAX_BAN_WAIT_S": "max_ban_wait_s",
}
# SCHEMAHUB_<EXCHANGE>_URL overrides an exchange's base URL; each connector has its default.
EXCHANGE_URL_VAR = re.compile(r"SCHEMAHUB_([A-Z0-9]+)_URL")


@dataclass(frozen=True)
class Settings:
    """Everything a job needs to know about where things are. Immutable once resolved."""

    profile: str = "local"
    warehouse: str = "./warehouse"  # local: a folder; aws: s3://bucket/prefix
    catalog_name: str = CATALOG_NAME
    namespace: str = NAMESPACE
    seed_path: str = str(REPO_ROOT / "mappings" / "product_ids_seed.yaml")
    mappings_dir: str = str(REPO_ROOT / "mappings")
    ddl_dir: str = str(REPO_ROOT / "ddl")
    jars_dir: str = str(REPO_ROOT / ".jars")
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"  # local sessions only; Glue sizes its own workers
    spark_shuffle_partitions: int = 4  # small: local batches are millions of rows, not billions
    cold_start_minutes: int = 90
    # A 429/418 asking to wait at most this long is waited out within the run; a longer one
    # is recorded as a ban and stops that exchange's streams until it ends.
    max_ban_wait_s: float = 180.0
    # Base URL overrides per exchange; an exchange not here uses its connector's default.
    exchange_urls: Mapping[str, str] = field(default_factory=dict)
    # Requests per second per exchange; empty means each connector's documented limit.
    rate_limits: Mapping[str, float] = field(default_factory=dict)
    aws_region: str = "us-east-1"
    glue_endpoint: str | None = None
    s3_endpoint: str | None = None
    s3_path_style: bool = False
    cloudwatch_endpoint: str | None = None
    in_glue: bool = False  # inside a Glue job: use the Spark session Glue configured
    kill_at: str | None = None  # crash-safety tests only: SIGKILL at this point (killpoints.py)

    @property
    def is_local(self) -> bool:
        return self.profile == "local"

    @property
    def warehouse_path(self) -> Path:
        """The local warehouse folder, absolute (local profile only)."""
        return Path(self.warehouse).expanduser().resolve()

    @property
    def catalog_db_path(self) -> Path:
        """The embedded SQLite catalog file shared by PyIceberg and Spark."""
        return self.warehouse_path / "catalog.db"

    def table_id(self, table: str) -> str:
        """`namespace.table`, the identifier PyIceberg uses."""
        return f"{self.namespace}.{table}"

    def spark_table(self, table: str) -> str:
        """`catalog.namespace.table`, the identifier Spark SQL uses."""
        return f"{self.catalog_name}.{self.namespace}.{table}"


_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any, where: str) -> Any:
    kind = str(_FIELD_TYPES[name])
    if value is None:
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
    except ValueError:
        raise ConfigError(f"{where}: {name} must be {kind}, got {value!r}") from None
    return value


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Resolve settings: defaults < config file < environment < flags (None flags are ignored).

    The config file is YAML with the `Settings` field names as keys (`exchange_urls` and
    `rate_limits` are mappings). It is `config_path`, else `$SCHEMAHUB_CONFIG`, else none.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}

    path = config_path or env.get("SCHEMAHUB_CONFIG")
    if path:
        values.update(_read_config_file(Path(path)))

    for var, name in ENV_FIELDS.items():
        if env.get(var):
            values[name] = _coerce(name, env[var], f"environment {var}")
    urls = dict(values.pop("exchange_urls", {}) or {})
    for var, value in env.items():
        match = EXCHANGE_URL_VAR.fullmatch(var)
        if match and value:
            urls[match.group(1).lower()] = value

    for name, value in flags.items():
        if value is None:
            continue
        if name == "exchange_urls":
            urls.update(value)
            continue
        if name not in _FIELD_TYPES:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, f"flag --{name.replace('_', '-')}")
    values["exchange_urls"] = urls

    settings = Settings(**values)
    if settings.profile not in PROFILES:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, got {settings.profile!r}")
    if settings.kill_at is not None and settings.kill_at not in KILL_POINTS:
        raise ConfigError(f"kill_at must be one of {', '.join(KILL_POINTS)}, got {settings.kill_at!r}")
    if settings.profile == "aws" and not settings.warehouse.startswith("s3://"):
        raise ConfigError(
            f"the aws profile needs an s3:// warehouse (SCHEMAHUB_WAREHOUSE), got {settings.warehouse!r}"
        )
    _check_values(settings)
    return settings


def _check_values(settings: Settings) -> None:
    """Values that would otherwise fail later, per request or per stream, fail here at once."""
    for exchange, url in settings.exchange_urls.items():
        parts = urllib.parse.urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            source = f"--{exchange}-url, SCHEMAHUB_{exchange.upper()}_URL"
            raise ConfigError(
                f"{exchange} URL {url!r}: expected http(s)://host[:port][/path] "
                f"(set by {source} or exchange_urls in the config file)"
            )
    if settings.cold_start_minutes <= 0:
        raise ConfigError(
            f"cold_start_minutes must be above 0, got {settings.cold_start_minutes} "
            "(SCHEMAHUB_COLD_START_MINUTES or the config file)"
        )
    if settings.spark_shuffle_partitions < 1:
        raise ConfigError(
            f"spark_shuffle_partitions must be 1 or more, got {settings.spark_shuffle_partitions} "
            "(SCHEMAHUB_SHUFFLE_PARTITIONS or the config file)"
        )
    for exchange, rate in settings.rate_limits.items():
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate < 0:
            raise ConfigError(
                f"rate_limits.{exchange} must be requests per second >= 0 (0: unpaced), got {rate!r}"
            )


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_FIELD_TYPES))
    if unknown:
        valid = ", ".join(sorted(_FIELD_TYPES))
        raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}; valid: {valid}")
    return {k: _coerce(k, v, str(path)) for k, v in data.items()}
