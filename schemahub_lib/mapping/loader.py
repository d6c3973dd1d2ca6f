"""Mapping files: YAML -> validated `MappingSpec`, checked against the DDL before any data moves.

A mapping file is `mappings/<exchange>_trades.yaml`; the set of sources unify reads is the
set of these files. Format (the seeds' format, extended):

    source: raw_kraken_trades          # raw table (ddl/<source>.sql)
    target_table: trades_unified
    mappings:                          # raw column -> unified column, or a list of them
      pair: [symbol, base_asset, quote_asset]
      volume: quantity
    constants:                         # unified column -> literal
      exchange: KRAKEN
    transforms:                        # unified column -> transform name, or {name: argument}
      quantity: to_double
      side: {map: {b: BUY, s: SELL}}
    symbols:                           # optional: how exchange symbols become BASE-QUOTE
      seed: kraken                     # product seed section (default: the file's exchange)
      patterns: ['^[XZ]([A-Z0-9]{3})[XZ]([A-Z0-9]{3})$']   # two groups: base, quote
      asset_aliases: {XBT: BTC, XDG: DOGE}

Every error is a `MappingError(file, key_path, problem)` saying what was expected.

`check_sources` holds the three registries to one another before any data moves (`init` and
unify both call it): every mapping file names a registered connector, and every raw table the
DDL defines has a mapping and a connector.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.ddl import TableDef, load_table_defs
from schemahub_lib.errors import ConfigError, MappingError
from schemahub_lib.mapping.spec import MappingSpec
from schemahub_lib.mapping.validate import FILE_SUFFIX, Validator


def mapping_files(mappings_dir: str | Path) -> list[Path]:
    """The mapping files in `mappings_dir`: `<exchange>_trades.yaml`, sorted."""
    return sorted(Path(mappings_dir).glob(f"*{FILE_SUFFIX}"))


def load_mappings(
    mappings_dir: str | Path,
    table_defs: Mapping[str, TableDef] | None = None,
    ddl_dir: str | Path | None = None,
) -> list[MappingSpec]:
    """Every mapping file in `mappings_dir`, validated. Fails if there are none."""
    defs = table_defs if table_defs is not None else load_table_defs(ddl_dir or "ddl")
    files = mapping_files(mappings_dir)
    if not files:
        raise MappingError(str(mappings_dir), "(folder)", f"no mapping files (*{FILE_SUFFIX}) found")
    check_sources(defs, mappings_dir)
    return [load_mapping(f, defs) for f in files]


def check_sources(table_defs: Mapping[str, TableDef], mappings_dir: str | Path) -> None:
    """Raw tables, mapping files and connectors agree, else a ConfigError naming both sides.

    A mapping file `<x>_trades.yaml` needs connector `x`; a raw table (`raw_<x>_trades` in the
    DDL, or a connector's `raw_table`) needs a mapping file and a connector."""
    known = ", ".join(sorted(CONNECTORS))
    files = {path.name.removesuffix(FILE_SUFFIX): path for path in mapping_files(mappings_dir)}
    for exchange, path in sorted(files.items()):
        if exchange not in CONNECTORS:
            raise ConfigError(
                f"{path}: a mapping for exchange {exchange!r}, which has no connector; known: {known}"
            )
    owners = {cls.raw_table: name for name, cls in CONNECTORS.items()}
    for table, table_def in sorted(table_defs.items()):
        if not (table.startswith("raw_") and table.endswith("_trades")):
            continue
        exchange = owners.get(table, table.removeprefix("raw_").removesuffix("_trades"))
        if exchange not in CONNECTORS:
            raise ConfigError(
                f"{table_def.source}: raw table {table} has no connector (exchange {exchange!r}; "
                f"known: {known}) and so nothing lands in it"
            )
        if exchange not in files:
            raise ConfigError(
                f"{table_def.source}: raw table {table} has no mapping; expected "
                f"{Path(mappings_dir) / (exchange + FILE_SUFFIX)}"
            )


def load_mapping(path: str | Path, table_defs: Mapping[str, TableDef]) -> MappingSpec:
    """One mapping file, validated against `table_defs` (from `ddl.load_table_defs`)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise MappingError(str(path), "(file)", f"cannot read: {exc.strerror}") from exc
    return parse_mapping(text, str(path), table_defs)


def parse_mapping(text: str, file: str, table_defs: Mapping[str, TableDef]) -> MappingSpec:
    """Validate mapping YAML `text`; `file` names it in errors and gives the exchange name."""
    return Validator(file, table_defs).run(_parse_yaml(text, file))


class _NoDuplicatesLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a mapping file must not."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; each key may appear once", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_NoDuplicatesLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else "(yaml)"
        raise MappingError(file, where, f"not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise MappingError(file, "(yaml)", f"not valid YAML: {exc}") from exc
