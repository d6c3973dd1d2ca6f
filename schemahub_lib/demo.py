"""`make demo`: the main job end to end on the embedded default.

Until the pipeline exists this creates the tables and prints them with their schemas.
"""

from __future__ import annotations

import sys

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import load_settings
from schemahub_lib.tables import init_tables


def main() -> int:
    settings = load_settings()
    print(f"SchemaHub demo: embedded catalog in {settings.warehouse_path}")
    for result in init_tables(load_catalog(settings), settings):
        print(f"\n{settings.spark_table(result.table)} ({result.status})")
        print("  " + result.schema.replace("\n", "\n  "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
