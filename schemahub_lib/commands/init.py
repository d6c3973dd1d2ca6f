"""`schemahub init`: create the namespace and every table in ddl/ (idempotent)."""

from __future__ import annotations

import argparse
import json

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import Settings
from schemahub_lib.tables import init_tables


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("init", help="create the namespace and tables from ddl/ (idempotent)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="print only the status lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
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
