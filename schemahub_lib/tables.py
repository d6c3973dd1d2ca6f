"""Create the namespace and tables from `ddl/`, idempotently, through either catalog."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
from pyiceberg.table import Table

from schemahub_lib.ddl import TableDef, load_table_defs
from schemahub_lib.mapping.loader import check_sources
from schemahub_lib.settings import Settings


@dataclass(frozen=True)
class InitResult:
    table: str
    status: str  # "created" | "exists" | "exists, differs from DDL: ..."
    schema: str


def init_tables(catalog: Catalog, settings: Settings) -> list[InitResult]:
    """Create what is missing; leave existing tables untouched (a second run writes nothing).

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
