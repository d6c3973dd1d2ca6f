"""What every landing run shares: catalog, tables, run id, HTTP session, ban store, products."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from pyiceberg.catalog import Catalog

from schemahub_lib.catalog import load_catalog
from schemahub_lib.connectors import CONNECTORS, load_connector, unknown_exchange
from schemahub_lib.connectors.base import Connector, Product
from schemahub_lib.errors import ConfigError
from schemahub_lib.http import Ban, BanStore, HttpCounters, JsonFileBanStore, RetryPolicy, new_session
from schemahub_lib.landing.commit import Committer
from schemahub_lib.landing.rejects import REJECTS_TABLE
from schemahub_lib.landing.runs import RUNS_TABLE
from schemahub_lib.landing.watermarks import WATERMARKS_TABLE
from schemahub_lib.landing.writer import raw_table_name
from schemahub_lib.seed import load_seed
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables


def new_run_id(kind: str) -> str:
    return f"{kind}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def select_products(
    settings: Settings,
    seed_path: str | None,
    exchanges: Sequence[str],
    products: Sequence[str],
) -> list[Product]:
    """The seed's products of `exchanges` (all seeded exchanges if none), narrowed to `products`
    (canonical BASE-QUOTE or the exchange's own symbol)."""
    unknown = [e for e in exchanges if e not in CONNECTORS]
    if unknown:
        raise unknown_exchange(unknown[0])
    path = seed_path or settings.seed_path
    seed = load_seed(path)
    names = list(exchanges) or list(seed)
    missing = [e for e in names if e not in seed]
    if missing:
        raise ConfigError(
            f"{path}: no products for {', '.join(missing)}; add them with `schemahub update-seed`"
        )
    chosen = [p for e in names for p in seed[e]]
    if products:
        wanted = set(products)
        found = {n for p in chosen for n in (p.symbol, p.exchange_symbol) if n in wanted}
        absent = sorted(wanted - found)
        named = [w for w in absent if w.isalpha() and w.islower()]
        if named:  # spelled like an exchange name (product symbols are never all lower case)
            raise unknown_exchange(named[0])
        if absent:
            valid = ", ".join(sorted({p.symbol for p in chosen}))
            raise ConfigError(
                f"{path}: products {', '.join(absent)} not in the seed for {', '.join(names)}; valid: {valid}"
            )
        chosen = [p for p in chosen if p.symbol in wanted or p.exchange_symbol in wanted]
    return chosen


class S3BanStore:
    """Bans as one JSON object next to an s3:// warehouse (the aws profile's durable store).

    Read once per `CACHE_S` (the HTTP layer checks before every request); written through."""

    CACHE_S = 60.0

    def __init__(self, settings: Settings) -> None:
        import boto3

        bucket, _, prefix = settings.warehouse.removeprefix("s3://").partition("/")
        self.bucket, self.key = bucket, f"{prefix.rstrip('/')}/_state/bans.json".lstrip("/")
        self.client = boto3.client("s3", region_name=settings.aws_region, endpoint_url=settings.s3_endpoint)
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self._read_at = -self.CACHE_S

    def _read(self, fresh: bool = False) -> dict[str, Any]:
        if not fresh and time.monotonic() - self._read_at < self.CACHE_S:
            return self._cache
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
            self._cache = dict(json.loads(body))
        except self.client.exceptions.NoSuchKey:
            self._cache = {}
        except Exception as exc:  # botocore's errors share no useful base class
            raise ConfigError(f"cannot read the ban store s3://{self.bucket}/{self.key}: {exc}") from exc
        self._read_at = time.monotonic()
        return self._cache

    def get(self, key: str) -> Ban | None:
        with self._lock:
            item = self._read().get(key)
        if item is None:
            return None
        return Ban(float(item["until_epoch_s"]), str(item["reason"]), float(item["recorded_at"]))

    def put(self, key: str, ban: Ban) -> None:
        with self._lock:
            now = time.time()
            bans = {k: v for k, v in self._read(fresh=True).items() if float(v["until_epoch_s"]) > now}
            old = bans.get(key)
            if old is None or float(old["until_epoch_s"]) < ban.until_epoch_s:
                bans[key] = {
                    "until_epoch_s": ban.until_epoch_s,
                    "reason": ban.reason,
                    "recorded_at": ban.recorded_at,
                }
            try:
                self.client.put_object(Bucket=self.bucket, Key=self.key, Body=json.dumps(bans).encode())
            except Exception as exc:
                raise ConfigError(f"cannot write the ban store s3://{self.bucket}/{self.key}: {exc}") from exc
            self._cache = bans


def load_ban_store(settings: Settings) -> BanStore:
    """Durable: `<warehouse>/_state/bans.json` locally, the same key in S3 for the aws profile."""
    if settings.is_local:
        return JsonFileBanStore(Path(settings.warehouse_path) / "_state" / "bans.json")
    return S3BanStore(settings)


@dataclass
class LandingContext:
    """One run's shared resources. Thread-safe for the run's worker threads."""

    settings: Settings
    kind: str  # ingest | backfill
    http_timeout_s: float | None = None  # read timeout per request; None: the HTTP layer's default
    catalog: Catalog = field(init=False)
    run_id: str = field(init=False)
    session: requests.Session = field(init=False)
    ban_store: BanStore = field(init=False)
    _committers: dict[str, Committer] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.catalog = load_catalog(self.settings)
        self.run_id = new_run_id(self.kind)
        self.session = new_session()
        self.ban_store = load_ban_store(self.settings)

    def ensure_tables(self, exchanges: Sequence[str]) -> None:
        """Create the landing tables if missing (idempotent, like `schemahub init`)."""
        needed = [raw_table_name(e) for e in exchanges] + [REJECTS_TABLE, WATERMARKS_TABLE, RUNS_TABLE]
        if not all(self.catalog.table_exists(self.settings.table_id(t)) for t in needed):
            init_tables(self.catalog, self.settings)

    def committer(self, exchange: str) -> Committer:
        with self._lock:
            if exchange not in self._committers:
                self._committers[exchange] = Committer(
                    self.catalog, self.settings, exchange, run_id=self.run_id, kind=self.kind
                )
            return self._committers[exchange]

    def connector(self, exchange: str, counters: HttpCounters, page_limit: int | None = None) -> Connector:
        wait = self.settings.max_ban_wait_s
        connector = load_connector(
            exchange,
            self.settings,
            self.session,
            counters=counters,
            ban_store=self.ban_store,
            retry=RetryPolicy(max_retry_after_s=wait),
            max_ban_wait_s=wait,
            page_limit=page_limit,  # 1..the exchange's maximum, else a ConfigError naming both
        )
        if self.http_timeout_s is not None:
            client = getattr(connector, "client", None)
            if client is not None:
                client.timeout = (min(5.0, self.http_timeout_s), self.http_timeout_s)
        return connector


def iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
