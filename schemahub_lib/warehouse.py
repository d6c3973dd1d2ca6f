"""The local warehouse's table folders, and whether the catalog holds their history.

A table's history is the chain of metadata files in `<warehouse>/<namespace>/<table>/metadata/`
(`NNNNN-<uuid>.metadata.json`, NNNNN counting commits); the catalog holds only a pointer to the
newest. A catalog that lost the pointer (`catalog.db` deleted, truncated or replaced by a new one)
would let a writer start a second history in the same folder beside the first, and orphan cleanup
would then delete the first one's files. So:

* `check_history_held` (run by every command as it opens the catalog, catalog.py) refuses
  while a folder with metadata is not held by the catalog, or is two or more commits ahead of
  the catalog's pointer (an older copy of the catalog put back);
* `newest_metadata` picks each table's newest metadata file for `schemahub init --recover`
  (recovery.py), and `set_aside_journal` keeps SQLite from replaying a lost file's log;
* `check_catalog_current` refuses maintenance while a folder holds any metadata newer than the
  catalog's pointer: orphan cleanup would delete that history as garbage;
* `check_folders_writable` names a table folder a writer cannot write before anything is fetched.

The catalog is read here with plain `sqlite3`, read-only, so the check never creates or changes it.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from schemahub_lib.errors import CatalogHistoryError, SetupError
from schemahub_lib.settings import Settings

METADATA_FILE = re.compile(r"^(?P<version>\d+)-.+\.metadata\.json$")
RECOVER_COMMAND = "schemahub init --recover"


@dataclass(frozen=True)
class TableFolder:
    """`<warehouse>/<namespace>/<table>`, holding at least one metadata file."""

    namespace: str
    table: str
    path: Path

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.table}"

    @property
    def metadata_dir(self) -> Path:
        return self.path / "metadata"

    def metadata_files(self) -> list[tuple[int, Path]]:
        """(version, file) of every `NNNNN-<uuid>.metadata.json`, oldest first."""
        found = []
        try:
            with os.scandir(self.metadata_dir) as entries:
                for entry in entries:
                    m = METADATA_FILE.match(entry.name)
                    if m:
                        found.append((int(m["version"]), Path(entry.path)))
        except FileNotFoundError:
            return []
        except PermissionError as exc:
            raise SetupError(
                f"cannot list {self.metadata_dir} ({exc.strerror}), the history of "
                f"{self.identifier}: make it readable (`chmod -R u+rX {self.path}`) or run as its owner"
            ) from exc
        return sorted(found)


@dataclass(frozen=True)
class CatalogPointers:
    """What the catalog file holds for one catalog name: `state` and identifier -> metadata file."""

    state: str  # "missing" | "empty" | "unreadable: ..." | "ok"
    pointers: dict[str, Path]

    def describe(self, db: Path) -> str:
        if self.state == "missing":
            return f"the catalog {db} does not exist"
        if self.state == "empty":
            return f"the catalog {db} is empty (new, or truncated)"
        if self.state.startswith("unreadable"):
            return f"the catalog {db} is not a usable SQLite database ({self.state.split(': ', 1)[-1]})"
        return f"the catalog {db} does not hold these tables (a new catalog, or another warehouse's)"


def set_aside_journal(db: Path) -> list[Path]:
    """Rename the `-wal`/`-shm` files a lost (missing or emptied) catalog left, to `*.lost`.

    SQLite would replay a leftover write-ahead log into the new file of the same name; the copy
    stays beside it for whoever wants to look."""
    if db.exists() and db.stat().st_size > 0:
        return []
    moved = []
    for suffix in ("-wal", "-shm"):
        journal = db.with_name(db.name + suffix)
        if journal.exists():
            target = journal.with_name(journal.name + ".lost")
            journal.replace(target)
            moved.append(target)
    return moved


def table_folders(warehouse: Path) -> list[TableFolder]:
    """Every `<namespace>/<table>` folder under `warehouse` that holds a metadata file."""
    folders = []
    for namespace in _subdirs(warehouse):
        for table in _subdirs(namespace):
            if _has_metadata(table / "metadata"):
                folders.append(TableFolder(namespace.name, table.name, table))
    return folders


def sqlite_read_only_uri(db: Path) -> str:
    """A SQLite URI that opens `db` read-only and never writes beside it.

    In WAL mode even a reader needs the `-shm` file; in a folder this user cannot write, with no
    `-wal` left (nobody else can be writing there either), `immutable=1` reads without it.
    """
    uri = f"{db.as_uri()}?mode=ro"
    wal = db.with_name(db.name + "-wal")
    if not os.access(db.parent, os.W_OK) and not wal.exists():
        uri += "&immutable=1"
    return uri


def read_pointers(db: Path, catalog_name: str) -> CatalogPointers:
    """The catalog's metadata pointers, read without creating or changing anything."""
    if not db.exists():
        return CatalogPointers("missing", {})
    if db.stat().st_size == 0:
        return CatalogPointers("empty", {})
    try:
        conn = sqlite3.connect(sqlite_read_only_uri(db), uri=True, timeout=30)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "iceberg_tables" not in names:
                return CatalogPointers("empty", {})
            rows = conn.execute(
                "SELECT catalog_name, table_namespace, table_name, metadata_location FROM iceberg_tables"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return CatalogPointers(f"unreadable: {exc}", {})
    pointers = {
        f"{ns}.{name}": local_path(location)
        for catalog, ns, name, location in rows
        if catalog == catalog_name and location
    }
    return CatalogPointers("ok" if rows else "empty", pointers)


def unheld_folders(settings: Settings) -> tuple[CatalogPointers, list[TableFolder]]:
    """The catalog as read, and the table folders whose history it does not hold."""
    folders = table_folders(settings.warehouse_path)
    if not folders:
        return CatalogPointers("ok", {}), []
    catalog = read_pointers(settings.catalog_db_path, settings.catalog_name)
    held = {p.parent.resolve() for p in catalog.pointers.values()}
    return catalog, [f for f in folders if f.metadata_dir.resolve() not in held]


def folders_ahead(settings: Settings) -> list[tuple[TableFolder, int, int]]:
    """(folder, catalog's version, folder's newest version) where the folder is 2+ commits ahead.

    One ahead is what a commit killed between writing its metadata file and updating the catalog
    leaves (the table's next commit reuses that version), so only 2+ says the catalog is an
    older copy. The folders are listed before the catalog is read: a file seen then was either
    committed by the time of the read or is one in-flight commit ahead, never two."""
    newest = {}
    for folder in table_folders(settings.warehouse_path):
        files = folder.metadata_files()
        if files:
            newest[folder.metadata_dir.resolve()] = (folder, files[-1][0])
    catalog = read_pointers(settings.catalog_db_path, settings.catalog_name)
    ahead = []
    for pointer in catalog.pointers.values():
        found = newest.get(pointer.parent.resolve())
        if found is not None and found[1] >= metadata_version(pointer) + 2:
            ahead.append((found[0], metadata_version(pointer), found[1]))
    return ahead


def check_history_held(settings: Settings) -> None:
    """Refuse to write while the warehouse holds table histories the catalog does not know:
    folders it has no table for, or folders 2+ commits ahead of its pointer (an older copy).

    Local profile only: the Glue Data Catalog is not a file that can be lost or replaced."""
    if not settings.is_local:
        return
    catalog, unheld = unheld_folders(settings)
    if unheld:
        names = ", ".join(str(f.path.relative_to(settings.warehouse_path)) for f in unheld)
        raise CatalogHistoryError(
            f"{catalog.describe(settings.catalog_db_path)}, but the warehouse "
            f"{settings.warehouse_path} holds the history of {len(unheld)} table folder(s) it does "
            f"not know: {names}. Writing now would start new histories beside them (and orphan "
            f"cleanup would then delete their files), so nothing was written. Run "
            f"`{RECOVER_COMMAND}` with the same warehouse to re-register each table from its "
            "newest metadata file (keep a copy of the catalog file first if it exists); a table "
            "folder you no longer want must be moved out of the warehouse."
        )
    ahead = folders_ahead(settings)
    if ahead:
        detail = ", ".join(
            f"{f.path.relative_to(settings.warehouse_path)} (catalog at metadata version {held}, "
            f"folder at {newest})"
            for f, held, newest in ahead
        )
        raise CatalogHistoryError(
            f"the catalog {settings.catalog_db_path} is older than the table folders it points "
            f"into: {detail}, an older copy put back? Writing now would fork each table's history "
            "from the older commit (and orphan cleanup would then delete the newer one), so "
            "nothing was written. Move the catalog file aside (keep it) and run "
            f"`{RECOVER_COMMAND}` to register each table from its newest metadata file."
        )


def check_folders_writable(settings: Settings) -> None:
    """Refuse before writing, naming the folder, when a table folder cannot be written.

    Checks each table folder, its `metadata/` and `data/` and the first level of partition
    folders in `data/`, where commits create files (deeper levels would cost a listing of every
    data file on each open)."""
    if not settings.is_local:
        return
    for folder in table_folders(settings.warehouse_path):
        data = folder.path / "data"
        for path in (folder.path, folder.metadata_dir, data, *_subdirs(data)):
            if not os.access(path, os.W_OK) and path.exists():
                raise SetupError(
                    f"the table folder {path} is not writable by this user, so "
                    f"{folder.identifier} cannot be written (the catalog {settings.catalog_db_path} "
                    f"is). Make it writable again (`chmod -R u+w {folder.path}`, or "
                    f"`chattr -R -i {folder.path}` if it was made immutable) or run as its owner."
                )


def newest_metadata(folder: TableFolder) -> tuple[int, Path]:
    """The metadata file with the highest version: the table's newest committed state.

    Two files with the highest version mean a commit lost a race (or was killed) after writing
    its file; which one the catalog pointed at cannot be told from the files, so say so."""
    files = folder.metadata_files()
    if not files:
        raise CatalogHistoryError(
            f"{folder.metadata_dir}: no NNNNN-<uuid>.metadata.json file to recover from"
        )
    top = files[-1][0]
    newest = [p for v, p in files if v == top]
    if len(newest) > 1:
        raise CatalogHistoryError(
            f"{folder.identifier}: {len(newest)} metadata files share the newest version {top} "
            f"({', '.join(p.name for p in newest)} in {folder.metadata_dir}); one is a commit that "
            "lost a race or was killed. Move the one that is not the table's state out of the "
            f"folder (keep it), then run `{RECOVER_COMMAND}` again."
        )
    return top, newest[0]


def metadata_version(path: Path) -> int:
    m = METADATA_FILE.match(path.name)
    return int(m["version"]) if m else -1


def newer_metadata(pointer: Path) -> list[Path]:
    """Metadata files beside the catalog's `pointer` with a higher version: commits the catalog
    does not hold (an older copy of the catalog was put back, or the last commit was killed)."""
    current = metadata_version(pointer)
    folder = pointer.parent
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries]
    except FileNotFoundError:
        return []
    return sorted(folder / n for n in names if METADATA_FILE.match(n) and metadata_version(Path(n)) > current)


def check_catalog_current(settings: Settings, pointers: dict[str, str]) -> None:
    """Refuse when a table folder holds metadata newer than the catalog's pointer (table -> URI).

    Orphan cleanup deletes every file the catalog's snapshots do not reference: with an older
    catalog that is the newer history itself."""
    if not settings.is_local:
        return
    stale = {table: newer_metadata(local_path(uri)) for table, uri in pointers.items()}
    stale = {table: files for table, files in stale.items() if files}
    if not stale:
        return
    detail = "; ".join(
        f"{table}: the catalog points at {Path(local_path(pointers[table])).name}, the folder also holds "
        f"{', '.join(f.name for f in files[:3])}{' ...' if len(files) > 3 else ''}"
        for table, files in stale.items()
    )
    raise CatalogHistoryError(
        f"the catalog {settings.catalog_db_path} is older than table folders in "
        f"{settings.warehouse_path} ({detail}), so maintenance (whose orphan cleanup would delete "
        "the newer commits' files) did nothing. If the catalog is an older copy, move it aside "
        f"(keep it) and run `{RECOVER_COMMAND}`; if the newer file is what a killed commit left "
        "behind, the table's next commit supersedes it."
    )


def local_path(location: str) -> Path:
    """A `file:` URI (or plain path) as a path."""
    parsed = urlparse(location)
    return Path(unquote(parsed.path) if parsed.scheme == "file" else location)


def _subdirs(path: Path) -> list[Path]:
    try:
        with os.scandir(path) as entries:
            return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _has_metadata(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(METADATA_FILE.match(e.name) for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        return True  # unreadable: assume it holds a history rather than write beside it
