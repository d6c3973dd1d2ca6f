"""`schemahub init`: create the namespace and every table in ddl/ (idempotent).

    schemahub init                     # ./warehouse/catalog.db and the table folders
    schemahub --warehouse /data/wh init --quiet
    schemahub --profile aws init       # the Glue database and tables, data in the s3:// warehouse

Creates the `schemahub` namespace and every table defined in ddl/*.sql (raw tables per
exchange, trades_unified, runs, rejects, watermarks, coverage) in the catalog of the profile:
the embedded SQLite catalog under the warehouse folder by default. Tables that exist are left
as they are, so running it again changes nothing; it prints each table and its schema.
"""

from __future__ import annotations

import argparse
import json

from schemahub_lib.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "init",
        help="create the namespace and tables from ddl/ (idempotent)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="print only the status lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.catalog import load_catalog
    from schemahub_lib.tables import init_tables

    results = init_tables(load_catalog(settings), settings)
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
        return 0
    where = settings.catalog_db_path if settings.is_local else f"Glue database {settings.namespace}"
    print(f"catalog {settings.catalog_name} ({where}), namespace {settings.namespace}")
    for r in results:
        print(f"  {settings.spark_table(r.table)}: {r.status}")
        if not args.quiet:
            print("    " + r.schema.replace("\n", "\n    "))
    return 0
