"""Create the namespace and tables from `ddl/`, idempotently, through either catalog.

Existing tables are left as they are, except for table properties that ddl/ once set and that
are now wrong (`RETIRED_PROPERTIES`): those are removed, one metadata commit per table, no
snapshot. Tables created under Glue 5.0 carried `read.parquet.vectorization.enabled=false`
(Iceberg 1.7.1's vectorized reader crashed Spark 3.5.4's JVM); on Glue 5.1 (Iceberg 1.10.0)
`schemahub init` turns vectorized reads back on for them.
"""

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
from schemahub_lib.mapping.loader import check_sources
from schemahub_lib.settings import Settings

T = TypeVar("T")

# property -> the retired value: removed from existing tables by `init_tables`.
RETIRED_PROPERTIES = {"read.parquet.vectorization.enabled": "false"}


@dataclass(frozen=True)
class InitResult:
    table: str
    status: str  # "created" | "exists" | "exists, removed ..." | "exists, differs from DDL: ..."
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
    """Create what is missing; leave existing tables untouched but for RETIRED_PROPERTIES (a
    second run writes nothing).

    Raw tables, mappings and connectors are checked against one another first, so a raw table
    without a mapping or a mapping without a connector fails before anything is created."""
    defs = load_table_defs(settings.ddl_dir)
    check_sources(defs, settings.mappings_dir)
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(settings.namespace)
    results = []
    for name, table_def in defs.items():
        identifier = settings.table_id(name)
        if catalog.table_exists(identifier):
            table = catalog.load_table(identifier)
            removed = remove_retired_properties(table)
            drift = describe_drift(table, table_def)
            status = "exists"
            if removed:
                status += f", removed {', '.join(f'{k}={v}' for k, v in removed.items())}"
            if drift:
                status += f", differs from DDL: {drift}"
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


def remove_retired_properties(table: Table) -> dict[str, str]:
    """Remove the RETIRED_PROPERTIES `table` carries with their retired value; what was removed."""
    retired = {k: v for k, v in RETIRED_PROPERTIES.items() if table.properties.get(k) == v}
    if retired:
        with table.transaction() as tx:
            tx.remove_properties(*retired)
    return retired


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
