"""Create the namespace and tables from `ddl/`, idempotently, through either catalog."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
from pyiceberg.table import Table

from schemahub_lib.catalog import opening_lock
from schemahub_lib.ddl import TableDef, load_table_defs
from schemahub_lib.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class InitResult:
    table: str
    status: str  # "created" | "exists" | "exists, differs from DDL: ..."
    schema: str


def _holding_opening_lock(func: Callable[[Catalog, Settings], T]) -> Callable[[Catalog, Settings], T]:
    """Run under the embedded catalog's opening lock (catalog.py), so that no other process's
    history check sees a table half created (metadata file written, catalog row not yet)."""

    @functools.wraps(func)
    def holding(catalog: Catalog, settings: Settings) -> T:
        with opening_lock(settings) if settings.is_local else contextlib.nullcontext():
            return func(catalog, settings)

    return holding


@_holding_opening_lock
def init_tables(catalog: Catalog, settings: Settings) -> list[InitResult]:
    """Create what is missing; leave existing tables untouched (a second run writes nothing)."""
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(settings.namespace)
    results = []
    for name, table_def in load_table_defs(settings.ddl_dir).items():
        identifier = settings.table_id(name)
        if catalog.table_exists(identifier):
            table = catalog.load_table(identifier)
            drift = describe_drift(table, table_def)
            status = "exists" if not drift else f"exists, differs from DDL: {drift}"
        else:
            try:
                table = catalog.create_table(
                    identifier,
                    schema=table_def.schema,
                    partition_spec=table_def.partition_spec,
                    sort_order=table_def.sort_order,
                    properties=table_def.properties,
                )
                status = "created"
            except TableAlreadyExistsError:  # another init won the race
                table = catalog.load_table(identifier)
                status = "exists"
        results.append(InitResult(name, status, str(table.schema())))
    return results


def describe_drift(table: Table, table_def: TableDef) -> str:
    """What differs between a live table and its DDL, by column name and type; '' if nothing."""
    live = {f.name: (str(f.field_type), f.required) for f in table.schema().fields}
    want = {f.name: (str(f.field_type), f.required) for f in table_def.schema.fields}
    problems = [f"missing column {n}" for n in want if n not in live]
    problems += [f"extra column {n}" for n in live if n not in want]
    problems += [
        f"column {n} is {live[n][0]}{' required' if live[n][1] else ''}, DDL says "
        f"{want[n][0]}{' required' if want[n][1] else ''}"
        for n in want
        if n in live and live[n] != want[n]
    ]
    return "; ".join(problems)
