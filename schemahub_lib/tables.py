"""Create the namespace and tables from `ddl/`, idempotently, through either catalog.

Existing tables are left as they are, except for two explicit lists of table properties, applied
in one metadata commit per table (no snapshot):

* `RETIRED_PROPERTIES`, that ddl/ once set and that are now wrong, are removed. Tables created
  under Glue 5.0 carried `read.parquet.vectorization.enabled=false` (Iceberg 1.7.1's vectorized
  reader crashed Spark 3.5.4's JVM); on Glue 5.1 (Iceberg 1.10.0) `schemahub init` turns
  vectorized reads back on for them.
* `UPGRADED_PROPERTIES`, that ddl/ sets now, are set to the DDL's value where a table lacks it
  or carries another (tables created before ddl/ set them).
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
# Properties `init_tables` sets on existing tables to their DDL's value (tables whose DDL sets it):
# raw tables' row groups of 131,072 rows (PyIceberg landing; unify reads them in parallel),
# 64 KB Parquet dictionaries on raw tables and trades_unified (faster, smaller writes), and
# trades_unified's appends merging its manifests into one (min-count-to-merge 2). See ddl/.
UPGRADED_PROPERTIES = (
    "write.parquet.row-group-limit",
    "write.parquet.dict-size-bytes",
    "commit.manifest.min-count-to-merge",
)


@dataclass(frozen=True)
class InitResult:
    table: str
    status: str  # "created" | "exists" | "exists, removed ..., set ..." | "exists, differs from DDL: ..."
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
    """Create what is missing; leave existing tables untouched but for RETIRED_PROPERTIES and
    UPGRADED_PROPERTIES (a second run writes nothing).

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
            changes = describe_property_changes(*update_properties(table, table_def))
            drift = describe_drift(table, table_def)
            status = "exists"
            if changes:
                status += f", {changes}"
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


def property_changes(table: Table, table_def: TableDef) -> tuple[dict[str, str], dict[str, str]]:
    """What `init_tables` changes in `table`'s properties: the RETIRED_PROPERTIES it carries with
    their retired value (to remove), and the UPGRADED_PROPERTIES its DDL sets to another value
    (to set, with the DDL's value)."""
    retired = {k: v for k, v in RETIRED_PROPERTIES.items() if table.properties.get(k) == v}
    wanted = {k: table_def.properties[k] for k in UPGRADED_PROPERTIES if k in table_def.properties}
    upgraded = {k: v for k, v in wanted.items() if table.properties.get(k) != v}
    return retired, upgraded


def update_properties(table: Table, table_def: TableDef) -> tuple[dict[str, str], dict[str, str]]:
    """Apply `property_changes` in one metadata commit (no snapshot; none if nothing changes);
    what was removed and what was set."""
    retired, upgraded = property_changes(table, table_def)
    if retired or upgraded:
        with table.transaction() as tx:
            if retired:
                tx.remove_properties(*retired)
            if upgraded:
                tx.set_properties(upgraded)
    return retired, upgraded


def describe_property_changes(retired: dict[str, str], upgraded: dict[str, str]) -> str:
    """'removed k=v, set k=v' for `property_changes`' result; '' if nothing changes."""
    parts = []
    if retired:
        parts.append(f"removed {', '.join(f'{k}={v}' for k, v in retired.items())}")
    if upgraded:
        parts.append(f"set {', '.join(f'{k}={v}' for k, v in upgraded.items())}")
    return ", ".join(parts)


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
