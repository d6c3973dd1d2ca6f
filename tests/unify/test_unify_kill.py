"""`schemahub unify` SIGKILLed mid-run, then re-run, converges to the table a never-killed run
writes: every key once, every value exact, what was consumed recorded.

Each run is a separate process (`python -m schemahub_lib.cli unify`, its own JVM). Round one
kills a run at each publish step, through the `kill_at` setting (schemahub_lib/killpoints.py):
after its branch is created, after its rows are written to the branch, after main was
fast-forwarded. Round two kills runs (Python and its JVM at once, as their process group) a
random 0-2 s after their branch appears, mostly while they write, then lets one finish.
Throughout, a poller watches main: it only ever points at the previous head or at a complete
new snapshot. The branches dead runs leave are checked to be harmless, then to be recognised
as unify's and dropped once stale.

The random delays come from a seeded generator; the seed is printed (pytest -s shows it) and
`SCHEMAHUB_KILL_SEED=<n>` replays a run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import Settings, load_settings
from schemahub_lib.tables import init_tables
from schemahub_lib.unify import commit, run_unify
from schemahub_lib.unify.reads import target_state
from tests.conftest import REPO
from tests.landing.procs import clean_env
from tests.unify.conftest import LANDED, Lake, binance_rows, coinbase_rows, kraken_rows

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SEED = """
coinbase:
  product_ids: [BTC-EUR]
binance:
  product_ids: [BTC-USDT]
  symbols:
    BTC-USDT: {exchange_symbol: BTCUSDT}
kraken:
  product_ids: [BTC-USD]
  symbols:
    BTC-USD: {exchange_symbol: XBTUSD, aliases: [XXBTZUSD]}
"""
COINBASE = coinbase_rows("coinbase/trades_BTC-EUR_2020-02-17_limit100_bennycode.json", "BTC-EUR")
BINANCE = binance_rows("binance/historicalTrades_BTCUSDT_2021-10-22_nautilus.json", "BTCUSDT")
KRAKEN = kraken_rows("kraken/trades_XXBTZUSD_DOCS-EXAMPLE_2023-07_krakenfx-api-specs.json")
# Round two: Binance trades of the next day (new ids, a new partition).
BINANCE_NEXT = [{**r, "id": r["id"] + 100, "time": r["time"] + 86_400_000_000} for r in BINANCE]

# ---- the expected table, from the raw rows and the mappings' documented semantics ----------

Row = tuple[str, str, str, str, float, float, int, str, str]  # trades_unified minus ingest_ts

ROW_COLUMNS = (
    "exchange",
    "symbol",
    "trade_id",
    "side",
    "price",
    "quantity",
    "trade_ts",
    "base_asset",
    "quote_asset",
)


def coinbase_expected(t: dict[str, Any]) -> Row:
    taker = {"buy": "SELL", "sell": "BUY"}[t["side"]]  # Coinbase's side is the maker's
    return ("COINBASE", "BTC-EUR", str(t["trade_id"]), taker, t["price"], t["size"], t["time"], "BTC", "EUR")


def binance_expected(t: dict[str, Any]) -> Row:
    taker = "SELL" if t["is_buyer_maker"] else "BUY"
    return ("BINANCE", "BTC-USDT", str(t["id"]), taker, t["price"], t["qty"], t["time"], "BTC", "USDT")


def kraken_expected(t: dict[str, Any]) -> Row:
    taker = {"b": "BUY", "s": "SELL"}[t["side"]]
    micros = t["time_ns"] // 1000
    return ("KRAKEN", "BTC-USD", str(t["trade_id"]), taker, t["price"], t["volume"], micros, "BTC", "USD")


ROUND_ONE = sorted(
    [coinbase_expected(t) for t in COINBASE[:60]]
    + [binance_expected(t) for t in BINANCE]
    + [kraken_expected(t) for t in KRAKEN]
)
ROUND_TWO = sorted(
    ROUND_ONE + [coinbase_expected(t) for t in COINBASE[60:]] + [binance_expected(t) for t in BINANCE_NEXT]
)


def land_round_one(lake: Lake) -> None:
    lake.append("raw_coinbase_trades", COINBASE[:60])
    lake.append("raw_binance_trades", BINANCE)
    lake.append("raw_kraken_trades", KRAKEN)


def land_round_two(lake: Lake) -> None:
    """40 new Coinbase trades plus 5 re-landed; a day of Binance trades, the first of them
    landed again later with another price (dedup keeps the copy that landed first)."""
    lake.append("raw_coinbase_trades", COINBASE[55:], ingest=LANDED + timedelta(hours=1))
    lake.append("raw_binance_trades", BINANCE_NEXT, ingest=LANDED + timedelta(hours=1))
    relanded = {**BINANCE_NEXT[0], "price": BINANCE_NEXT[0]["price"] + 1.0}
    lake.append("raw_binance_trades", [relanded], ingest=LANDED + timedelta(hours=2))


# ---- reading trades_unified with PyIceberg (no Spark: what any reader of the catalog sees) ---


def unified(settings: Settings) -> Any:
    return load_catalog(settings).load_table(settings.table_id("trades_unified"))


def main_head(settings: Settings) -> int | None:
    ref = unified(settings).metadata.refs.get("main")
    return None if ref is None else ref.snapshot_id


def branches(settings: Settings) -> dict[str, int]:
    """Every branch but main -> its snapshot id."""
    refs = unified(settings).metadata.refs
    return {name: ref.snapshot_id for name, ref in refs.items() if name != "main"}


def rows(settings: Settings, snapshot_id: int | None = None) -> list[Row]:
    """trades_unified as of `snapshot_id` (default main), sorted; asserts each key once."""
    table = unified(settings)
    snapshot_id = snapshot_id if snapshot_id is not None else main_head(settings)
    if snapshot_id is None:
        return []
    arrow = table.scan(snapshot_id=snapshot_id).to_arrow()
    assert arrow.column("ingest_ts").null_count == 0
    columns = [
        arrow.column(c).cast(pa.int64()).to_pylist() if c == "trade_ts" else arrow.column(c).to_pylist()
        for c in ROW_COLUMNS
    ]
    out = sorted(tuple(values) for values in zip(*columns, strict=True))
    keys = [r[:3] for r in out]
    assert len(keys) == len(set(keys)), "a key appears twice in trades_unified"
    return out


# ---- the unify process ------------------------------------------------------------------------


def kill_seed() -> int:
    seed = int(os.environ.get("SCHEMAHUB_KILL_SEED") or random.SystemRandom().randrange(1 << 30))
    print(f"kill seed: {seed} (replay with SCHEMAHUB_KILL_SEED={seed})")
    return seed


class MainWatcher:
    """Polls main's head from another thread while a unify process runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen: set[int | None] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        catalog = load_catalog(self.settings)
        name = self.settings.table_id("trades_unified")
        while not self._stop.is_set():
            ref = catalog.load_table(name).metadata.refs.get("main")
            self.seen.add(None if ref is None else ref.snapshot_id)
            self._stop.wait(0.05)

    def __enter__(self) -> MainWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class Unify:
    """Runs `schemahub unify` on the test's warehouse in its own process group."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings, self.workdir = settings, workdir
        self.runs = 0
        self.last_log = ""  # the last run's stdout and stderr

    def _config(self, kill_at: str | None) -> Path:
        path = self.workdir / f"unify{self.runs}.yaml"
        values = {
            "warehouse": self.settings.warehouse,
            "catalog_name": self.settings.catalog_name,
            "seed_path": self.settings.seed_path,
            "spark_shuffle_partitions": 2,
            "kill_at": kill_at,
        }
        path.write_text(yaml.safe_dump(values))
        return path

    def run(self, kill_at: str | None = None, kill_after_s: float | None = None) -> int:
        """The exit code (-9: killed). `kill_after_s`: SIGKILL the process group that long
        after the run's first commit to trades_unified (its branch), if it is still running."""
        self.runs += 1
        log = self.workdir / f"unify{self.runs}.log"
        metadata = Path(self.settings.warehouse) / self.settings.namespace / "trades_unified" / "metadata"
        versions_before = len(list(metadata.glob("*.metadata.json")))
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "schemahub_lib.cli", "--config", str(self._config(kill_at)), "unify"],
                cwd=REPO,
                env=clean_env(),
                stdout=out,
                stderr=out,
                start_new_session=True,  # its own process group: the JVM goes with it
            )
        try:
            if kill_after_s is not None:
                deadline = time.monotonic() + 180
                while proc.poll() is None and time.monotonic() < deadline:
                    if len(list(metadata.glob("*.metadata.json"))) > versions_before:
                        time.sleep(kill_after_s)
                        break
                    time.sleep(0.005)
                _kill_group(proc.pid)
            code = proc.wait(timeout=300)
        finally:
            _kill_group(proc.pid)  # a killed driver's JVM would exit on its own; do not wait for it
        self.last_log = log.read_text(errors="replace")
        return code


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(pgid, signal.SIGKILL)


# ---- the test -------------------------------------------------------------------------------


@pytest.fixture
def seed_path(tmp_path: Path) -> str:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED)
    return str(path)


@pytest.fixture
def killed(lake: Lake, seed_path: str) -> Lake:
    """The test's warehouse, unified by `schemahub unify` processes that get killed."""
    return Lake(dataclasses.replace(lake.settings, seed_path=seed_path), lake.catalog)


@pytest.fixture
def never_killed(settings: Settings, seed_path: str, tmp_path: Path) -> Lake:
    """A second warehouse that receives the same raw rows and is unified in-process, never killed."""
    other = load_settings(
        env={},
        warehouse=str(tmp_path / "never-killed"),
        catalog_name=f"{settings.catalog_name}_never_killed",
        seed_path=seed_path,
    )
    catalog = load_catalog(other)
    init_tables(catalog, other)
    return Lake(other, catalog)


def test_unify_killed_at_every_step_and_at_random_converges_to_the_never_killed_table(
    spark: Any, killed: Lake, never_killed: Lake, tmp_path: Path
) -> None:
    settings = killed.settings
    rng = random.Random(kill_seed())
    unify = Unify(settings, tmp_path)
    left_behind: set[str] = set()

    # Round one: a run killed at each publish step.
    for target in (killed, never_killed):
        land_round_one(target)
    for step in ("unify.branch_created", "unify.branch_written"):
        with MainWatcher(settings) as watcher:
            code = unify.run(kill_at=step)
        assert code == -signal.SIGKILL, unify.last_log[-3000:]
        assert f'"point":"{step}"' in unify.last_log
        assert watcher.seen == {None} and main_head(settings) is None  # main never moved
        (new,) = set(branches(settings)) - left_behind
        assert new.startswith(commit.BRANCH_PREFIX)
        left_behind.add(new)
        if step == "unify.branch_written":  # the whole batch sits on the branch, unpublished
            assert rows(settings, branches(settings)[new]) == ROUND_ONE
    with MainWatcher(settings) as watcher:
        code = unify.run(kill_at="unify.published")
    assert code == -signal.SIGKILL, unify.last_log[-3000:]
    head = main_head(settings)
    assert set(branches(settings)) == left_behind  # its branch went in the commit that moved main
    assert head is not None and head not in branches(settings).values()
    assert watcher.seen <= {None, head}
    assert rows(settings) == ROUND_ONE  # published whole, though the run never finished
    first_head = head
    assert run_unify(never_killed.settings, spark).rows_inserted == len(ROUND_ONE)
    assert rows(never_killed.settings) == ROUND_ONE

    # Round two: runs killed at random moments of their write, then one that finishes.
    for target in (killed, never_killed):
        land_round_two(target)
    outcomes = []
    for _ in range(2):
        delay = rng.uniform(0.0, 2.0)
        with MainWatcher(settings) as watcher:
            code = unify.run(kill_after_s=delay)
        outcomes.append((round(delay, 2), code))
        head = main_head(settings)
        assert watcher.seen <= {first_head, head}
        assert rows(settings) == (ROUND_ONE if head == first_head else ROUND_TWO)  # old or whole
        left_behind |= set(branches(settings))
    print(f"random kills (delay after the branch, exit code): {outcomes}")
    with MainWatcher(settings) as watcher:
        code = unify.run()
    assert code == 0, unify.last_log[-3000:]
    final_head = main_head(settings)
    assert watcher.seen <= {first_head, final_head}
    # The re-run converged: exactly the expected table, equal to a never-killed run's.
    assert run_unify(never_killed.settings, spark).rows_inserted == len(ROUND_TWO) - len(ROUND_ONE)
    assert rows(settings) == ROUND_TWO == rows(never_killed.settings)
    assert len(unified(settings).history()) == 2  # main moved once per round, whatever was killed
    assert target_state(unified(settings)).consumed == raw_heads(settings)  # the record is complete

    # Left-behind branches broke nothing; a run with nothing new writes nothing.
    assert set(branches(settings)) == left_behind and len(left_behind) >= 3
    assert run_unify(settings, spark).snapshot_id is None
    assert main_head(settings) == final_head
    # They are unify's branches: a run more than STALE_BRANCH_MS later drops them.
    later = int(time.time() * 1000) + commit.STALE_BRANCH_MS + 60_000
    spark.sql(f"REFRESH TABLE {settings.spark_table('trades_unified')}")
    dropped = commit.drop_stale_branches(
        spark, settings.spark_table("trades_unified"), sorted(left_behind), now_ms=later
    )
    assert sorted(dropped) == sorted(left_behind)
    assert branches(settings) == {} and main_head(settings) == final_head
    assert rows(settings) == ROUND_TWO


def raw_heads(settings: Settings) -> dict[str, int]:
    catalog, heads = load_catalog(settings), {}
    for table in ("raw_binance_trades", "raw_coinbase_trades", "raw_kraken_trades"):
        snapshot = catalog.load_table(settings.table_id(table)).current_snapshot()
        assert snapshot is not None
        heads[table] = snapshot.snapshot_id
    return heads
