"""`schemahub init`: create the namespace and every table in ddl/ (idempotent).

    schemahub init                     # ./warehouse/catalog.db and the table folders
    schemahub --warehouse /data/wh init --quiet
    schemahub --profile aws init       # the Glue database and tables, data in the s3:// warehouse
    schemahub init --recover           # after catalog.db was lost: re-register the table folders

Creates the `schemahub` namespace and every table defined in ddl/*.sql (raw tables per
exchange, trades_unified, runs, rejects, watermarks, coverage) in the catalog of the profile:
the embedded SQLite catalog under the warehouse folder by default. Tables that exist are left
as they are, so running it again changes nothing; it prints each table and its schema.

`--recover` first re-registers every table folder of the local warehouse from its newest
metadata file: after `catalog.db` was lost, truncated or replaced, every command that writes
refuses until this has run (a new catalog would start second histories beside the old).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from schemahub_lib.errors import ConfigError
from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    from schemahub_lib.recovery import RecoverResult


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "init",
        help="create the namespace and tables from ddl/ (idempotent); --recover after a lost catalog",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="print only the status lines")
    parser.add_argument(
        "--recover",
        action="store_true",
        help="first register each table folder the catalog lacks from its newest metadata file",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Here, not at the top: `schemahub --help` must not load pyiceberg.
    from schemahub_lib.catalog import load_catalog, load_catalog_for_recovery
    from schemahub_lib.recovery import recover_tables
    from schemahub_lib.tables import init_tables
    from schemahub_lib.warehouse import set_aside_journal

    recovered: list[RecoverResult] = []
    set_aside: list[Path] = []
    if args.recover:
        if not settings.is_local:
            raise ConfigError(
                "init --recover re-registers the tables of a local warehouse; the aws profile's "
                "Glue Data Catalog is not a file that can be lost"
            )
        set_aside = set_aside_journal(settings.catalog_db_path)
        recovered = recover_tables(load_catalog_for_recovery(settings), settings)
    results = init_tables(load_catalog(settings), settings)
    if args.json:
        out = {"tables": [r.__dict__ for r in results]}
        if args.recover:
            out["recovered"] = [r.__dict__ for r in recovered]
        print(json.dumps(out if args.recover else out["tables"], indent=2))
        return 0
    where = settings.catalog_db_path if settings.is_local else f"Glue database {settings.namespace}"
    print(f"catalog {settings.catalog_name} ({where}), namespace {settings.namespace}")
    if args.recover:
        for path in set_aside:
            print(f"  set aside the lost catalog's journal as {path}")
        print(f"recovered from {settings.warehouse_path}: {len(recovered)} table folders")
        for rec in recovered:
            print(f"  {rec.table}: {rec.status} from metadata version {rec.version} ({rec.metadata})")
    for r in results:
        print(f"  {settings.spark_table(r.table)}: {r.status}")
        if not args.quiet:
            print("    " + r.schema.replace("\n", "\n    "))
    return 0
