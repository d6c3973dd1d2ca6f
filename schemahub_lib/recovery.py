"""`schemahub init --recover`: register the local warehouse's table folders again from their
newest metadata files, after the embedded catalog was lost, truncated or replaced.

Which file is newest, and why two at the top version stop it, is in warehouse.py.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError

from schemahub_lib.catalog import opening_lock
from schemahub_lib.errors import CatalogHistoryError
from schemahub_lib.settings import Settings
from schemahub_lib.warehouse import RECOVER_COMMAND, TableFolder, local_path, newest_metadata, table_folders


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
    with opening_lock(settings):  # no history check sees a table half registered
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
