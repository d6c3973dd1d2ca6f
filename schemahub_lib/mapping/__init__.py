"""Mapping files (YAML) -> validated specs. Pure Python: no Spark, no JVM.

`load_mappings(mappings_dir, table_defs)` is the entry point; `schemahub_lib.unify` compiles
the specs to Spark SQL expressions.
"""

from schemahub_lib.mapping.loader import load_mapping, load_mappings, mapping_files, parse_mapping
from schemahub_lib.mapping.spec import (
    ENGINE_COLUMNS,
    KEY_COLUMNS,
    ORDER_COLUMN,
    TARGET_TABLE,
    ColumnRule,
    MappingDataError,
    MappingSpec,
    SymbolRule,
)
from schemahub_lib.mapping.symbols import Resolved, resolve_symbols, seed_index
from schemahub_lib.mapping.transforms import TRANSFORMS

__all__ = [
    "ENGINE_COLUMNS",
    "KEY_COLUMNS",
    "ORDER_COLUMN",
    "TARGET_TABLE",
    "TRANSFORMS",
    "ColumnRule",
    "MappingDataError",
    "MappingSpec",
    "Resolved",
    "SymbolRule",
    "load_mapping",
    "load_mappings",
    "mapping_files",
    "parse_mapping",
    "resolve_symbols",
    "seed_index",
]
