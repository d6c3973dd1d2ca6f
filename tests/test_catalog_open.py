"""Opening one new embedded catalog from many processes at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from multiprocessing.synchronize import Barrier
from pathlib import Path

from schemahub_lib.catalog import load_catalog, opening_lock
from schemahub_lib.settings import Settings

OPENERS = 8


def _open(settings: Settings, barrier: Barrier, errors: multiprocessing.Queue[str]) -> None:
    barrier.wait()
    try:
        catalog = load_catalog(settings)
        # As init and recovery create namespaces: under the opening lock. PyIceberg's SqlCatalog
        # checks, then inserts, so two unlocked creates can both pass the check (IntegrityError).
        with opening_lock(settings):
            catalog.create_namespace_if_not_exists("ns")
    except Exception as exc:  # reported to the parent, which asserts there were none
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_catalog_at_once_all_succeed(settings: Settings) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(OPENERS)
    errors: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_open, args=(settings, barrier, errors)) for _ in range(OPENERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert [p.exitcode for p in procs] == [0] * OPENERS
    with sqlite3.connect(Path(settings.catalog_db_path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"iceberg_tables", "iceberg_namespace_properties"} <= tables
