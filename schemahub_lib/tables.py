"""Create the namespace and tables from `ddl/`, idempotently, through either catalog; re-register
tables from their metadata files when the embedded catalog was lost (`recover_tables`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
from pyiceberg.table import Table

from schemahub_lib.catalog import opening_lock
from schemahub_lib.ddl import TableDef, load_table_defs
from schemahub_lib.errors import CatalogHistoryError
from schemahub_lib.settings import Settings
from schemahub_lib.warehouse import RECOVER_COMMAND, TableFolder, local_path, newest_metadata, table_folders


@dataclass(frozen=True)
class InitResult:
    table: str
    status: str  # "created" | "exists" | "exists, differs from DDL: ..."
    schema: str


def init_tables(catalog: Catalog, settings: Settings) -> list[InitResult]:
    """Create what is missing; leave existing tables untouched (a second run writes nothing)."""
    with _warehouse_lock(settings):
        return _init_tables(catalog, settings)


def _warehouse_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """The embedded catalog's opening lock: no history check sees a half-created table."""
    return opening_lock(settings) if settings.is_local else contextlib.nullcontext()


def _init_tables(catalog: Catalog, settings: Settings) -> list[InitResult]:
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


@dataclass(frozen=True)
class RecoverResult:
    table: str  # namespace.table
    status: str  # "registered" | "already registered"
    metadata: str  # the metadata file the catalog now points at
    version: int


def recover_tables(catalog: Catalog, settings: Settings) -> list[RecoverResult]:
    """Register every table folder of the local warehouse from its newest metadata file.

    Idempotent: a table the catalog already holds at that file is left alone. A table the catalog
    holds at another file is never overwritten: nothing is registered and the error names each
    such table, the catalog's file and the folder's newest (history may then be in two places;
    a person decides which one is the table)."""
    plan = []
    for folder in table_folders(settings.warehouse_path):
        version, newest = newest_metadata(folder)
        plan.append((folder, version, newest))
    conflicts = []
    for folder, _, newest in plan:
        if catalog.table_exists(folder.identifier):
            current = catalog.load_table(folder.identifier).metadata_location
            if _same_file(current, newest):
                continue
            conflicts.append(
                f"{folder.identifier}: the catalog points at {current}, the folder's newest is {newest}"
            )
    if conflicts:
        raise CatalogHistoryError(
            f"{RECOVER_COMMAND} registers only tables the catalog does not hold, and "
            f"{settings.catalog_db_path} already holds these with other metadata: {'; '.join(conflicts)}. "
            "Nothing was registered. If the catalog is an older copy, move it aside (keep it) and "
            "run the command again."
        )
    with _warehouse_lock(settings):
        return [_register(catalog, folder, version, newest) for folder, version, newest in plan]


def _register(catalog: Catalog, folder: TableFolder, version: int, newest: Path) -> RecoverResult:
    if catalog.table_exists(folder.identifier):
        return RecoverResult(folder.identifier, "already registered", str(newest), version)
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(folder.namespace)
    catalog.register_table(folder.identifier, newest.as_uri())
    return RecoverResult(folder.identifier, "registered", str(newest), version)


def _same_file(location: str, path: Path) -> bool:
    return local_path(location).resolve() == path.resolve()
