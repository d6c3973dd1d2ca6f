"""Validation of a parsed mapping file against its raw table and trades_unified (see loader.py
for the format). Every problem is a `MappingError(file, key_path, problem)`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemahub_lib.ddl import TableDef
from schemahub_lib.errors import MappingError
from schemahub_lib.mapping.spec import (
    DOMAINS,
    ENGINE_COLUMNS,
    ORDER_COLUMN,
    SYMBOL_TRANSFORMS,
    TARGET_TABLE,
    Column,
    ColumnRule,
    MappingSpec,
    SymbolRule,
    type_name,
)
from schemahub_lib.mapping.transforms import TRANSFORMS, identity_allowed

FILE_SUFFIX = "_trades.yaml"
TOP_KEYS = ("source", "target_table", "mappings", "constants", "transforms", "symbols")
REQUIRED_TOP_KEYS = ("source", "target_table", "mappings")
SYMBOL_KEYS = ("seed", "patterns", "asset_aliases")
_CONSTANT_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "double": (int, float),
    "float": (int, float),
    "long": (int,),
    "int": (int,),
    "boolean": (bool,),
}


def _columns(table: TableDef) -> dict[str, Column]:
    return {f.name: Column(f.name, type_name(f.field_type), f.required) for f in table.schema.fields}


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


class Validator:
    """Checks one parsed mapping file; `run` returns the spec or raises MappingError."""

    def __init__(self, file: str, table_defs: Mapping[str, TableDef]) -> None:
        self.file = file
        self.defs = table_defs

    def fail(self, key_path: str, problem: str) -> MappingError:
        return MappingError(self.file, key_path, problem)

    def run(self, data: Any) -> MappingSpec:
        if not isinstance(data, dict):
            raise self.fail(
                "(top level)", f"expected a mapping with keys {', '.join(TOP_KEYS)}, got {_kind(data)}"
            )
        unknown = [k for k in data if k not in TOP_KEYS]
        if unknown:
            raise self.fail(str(unknown[0]), f"unknown key; expected one of {', '.join(TOP_KEYS)}")
        for key in REQUIRED_TOP_KEYS:
            if key not in data:
                raise self.fail(key, "missing; every mapping file names source, target_table and mappings")
        source, raw = self.table("source", data["source"])
        target_table, unified = self.table("target_table", data["target_table"])
        if target_table != TARGET_TABLE:
            raise self.fail(
                "target_table", f"expected {TARGET_TABLE} (the table unify writes), got {target_table!r}"
            )
        if ORDER_COLUMN not in raw or raw[ORDER_COLUMN].type != "timestamp":
            raise self.fail(
                "source", f"{source} has no TIMESTAMP column {ORDER_COLUMN} (dedup keeps the earliest)"
            )
        exchange = self.exchange(source)
        targets: dict[str, str] = {}  # unified column -> key path that sets it
        sources = self.mappings(data["mappings"], raw, unified, targets)
        constants = self.constants(data.get("constants"), unified, targets)
        transforms = self.transforms(data.get("transforms"), sources, constants, unified, raw)
        missing = [
            c
            for c in unified.values()
            if c.required and c.name not in targets and c.name not in ENGINE_COLUMNS
        ]
        if missing:
            names = ", ".join(c.name for c in missing)
            raise self.fail(
                "mappings", f"no mapping or constant for required {target_table} column(s) {names}"
            )
        rules = []
        for column in unified.values():
            if column.name in ENGINE_COLUMNS or column.name not in targets:
                continue
            if column.name in constants:
                rules.append(ColumnRule(column, f"constants.{column.name}", constant=constants[column.name]))
                continue
            raw_name = sources[column.name]
            name, arg = transforms.get(column.name, (None, None))
            path = f"transforms.{column.name}" if name else f"mappings.{raw_name}"
            self.check_types(path, raw[raw_name], column, name)
            rules.append(ColumnRule(column, path, raw[raw_name], name, arg))
        symbol_sources = {r.source.name for r in rules if r.transform in SYMBOL_TRANSFORMS and r.source}
        if len(symbol_sources) > 1:
            raise self.fail(
                "transforms", f"symbol transforms read different raw columns {sorted(symbol_sources)}"
            )
        symbols = self.symbols(data.get("symbols"), exchange)
        return MappingSpec(
            self.file,
            exchange,
            source,
            target_table,
            tuple(rules),
            symbols,
            tuple(raw.values()),
            tuple(unified.values()),
        )

    def table(self, key: str, name: Any) -> tuple[str, dict[str, Column]]:
        if not isinstance(name, str) or name not in self.defs:
            raise self.fail(
                key, f"expected a table defined in ddl/ ({', '.join(sorted(self.defs))}), got {name!r}"
            )
        return name, _columns(self.defs[name])

    def exchange(self, source: str) -> str:
        stem = Path(self.file).name
        if stem.endswith(FILE_SUFFIX):
            return stem[: -len(FILE_SUFFIX)]
        return source.removeprefix("raw_").removesuffix("_trades")

    def mappings(
        self, value: Any, raw: dict[str, Column], unified: dict[str, Column], targets: dict[str, str]
    ) -> dict[str, str]:
        """unified column -> raw column."""
        if not isinstance(value, dict) or not value:
            raise self.fail(
                "mappings", f"expected a mapping of raw column -> unified column(s), got {_kind(value)}"
            )
        out: dict[str, str] = {}
        for raw_name, target in value.items():
            path = f"mappings.{raw_name}"
            if raw_name not in raw:
                raise self.fail(
                    path, f"unknown column {raw_name!r} in the raw table; expected one of {', '.join(raw)}"
                )
            names = target if isinstance(target, list) else [target]
            if not names or not all(isinstance(n, str) for n in names):
                raise self.fail(path, f"expected a unified column name or a list of them, got {target!r}")
            for name in names:
                self.claim(path, name, unified, targets)
                out[name] = raw_name
        return out

    def claim(self, path: str, name: str, unified: dict[str, Column], targets: dict[str, str]) -> None:
        if name not in unified:
            raise self.fail(
                path, f"unknown {TARGET_TABLE} column {name!r}; expected one of {', '.join(unified)}"
            )
        if name in ENGINE_COLUMNS:
            raise self.fail(path, f"{name} is set by unify (the time the row is written); do not map it")
        if name in targets:
            raise self.fail(
                path, f"duplicate target: {TARGET_TABLE}.{name} is already set by {targets[name]}"
            )
        targets[name] = path

    def constants(self, value: Any, unified: dict[str, Column], targets: dict[str, str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail("constants", f"expected a mapping of unified column -> value, got {_kind(value)}")
        for name, constant in value.items():
            path = f"constants.{name}"
            self.claim(path, name, unified, targets)
            kind = unified[name].type
            allowed = _CONSTANT_TYPES.get(kind, ())
            if (isinstance(constant, bool) and kind != "boolean") or not isinstance(constant, allowed):
                raise self.fail(path, f"expected a {kind} value for {TARGET_TABLE}.{name}, got {constant!r}")
            self.check_domain(path, name, [constant])
        return dict(value)

    def check_domain(self, path: str, column: str, values: list[Any]) -> None:
        domain = DOMAINS.get(column)
        bad = [v for v in values if domain is not None and v not in domain]
        if bad:
            raise self.fail(
                path, f"{column} must be one of {', '.join(sorted(domain or ()))}, got {bad[0]!r}"
            )

    def transforms(
        self,
        value: Any,
        sources: dict[str, str],
        constants: dict[str, Any],
        unified: dict[str, Column],
        raw: dict[str, Column],
    ) -> dict[str, tuple[str, Any]]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(
                "transforms", f"expected a mapping of unified column -> transform, got {_kind(value)}"
            )
        out: dict[str, tuple[str, Any]] = {}
        for target, spec in value.items():
            path = f"transforms.{target}"
            if target not in sources:
                mapped_as = [t for t, r in sources.items() if r == target]
                if target in constants:
                    problem = "a constant takes no transform"
                elif mapped_as:
                    hint = mapped_as[0]
                    problem = f"keys are unified columns; {target!r} is a raw column, did you mean {hint!r}?"
                elif target in unified:
                    problem = f"{TARGET_TABLE}.{target} is not mapped from a raw column"
                else:
                    problem = (
                        f"unknown {TARGET_TABLE} column {target!r}; expected one of {', '.join(sources)}"
                    )
                raise self.fail(path, problem)
            name, arg = self.transform_spec(path, spec)
            if name == "map":
                self.check_map(path, arg, raw[sources[target]], target)
            elif name == "sign":
                self.check_sign(path, arg, target)
            out[target] = (name, arg)
        return out

    def transform_spec(self, path: str, spec: Any) -> tuple[str, Any]:
        if isinstance(spec, str):
            name, arg, has_arg = spec, None, False
        elif isinstance(spec, dict) and len(spec) == 1:
            ((name, arg),) = spec.items()
            has_arg = True
        else:
            raise self.fail(path, f"expected a transform name or {{name: argument}}, got {spec!r}")
        transform = TRANSFORMS.get(name)
        if transform is None:
            raise self.fail(path, f"unknown transform {name!r}; expected one of {', '.join(TRANSFORMS)}")
        if transform.takes_arg and not has_arg:
            raise self.fail(path, f"{name} needs an argument: {{{name}: ...}}")
        if has_arg and not transform.takes_arg:
            raise self.fail(f"{path}.{name}", f"{name} takes no argument; write just {name!r}")
        return name, arg

    def check_map(self, path: str, table: Any, source: Column, target: str) -> None:
        path = f"{path}.map"
        if not isinstance(table, dict) or not table:
            raise self.fail(path, f"expected a table of {source.name} value -> output, got {table!r}")
        key_types = {"boolean": (bool,), "string": (str,), "long": (int,), "int": (int,)}.get(source.type)
        if key_types is None:
            return  # check_types names the type mismatch
        for key, output in table.items():
            if not isinstance(key, key_types) or (isinstance(key, bool) and source.type != "boolean"):
                raise self.fail(
                    f"{path}.{key}",
                    f"{source.name} is {source.type}; expected {source.type} keys, got {key!r}",
                )
            if not isinstance(output, str):
                raise self.fail(f"{path}.{key}", f"expected a string output, got {output!r}")
        self.check_domain(path, target, list(table.values()))

    def check_sign(self, path: str, table: Any, target: str) -> None:
        path = f"{path}.sign"
        if not isinstance(table, dict) or set(table) != {"negative", "positive"}:
            raise self.fail(path, f"expected {{negative: output, positive: output}}, got {table!r}")
        for key, output in table.items():
            if not isinstance(output, str):
                raise self.fail(f"{path}.{key}", f"expected a string output, got {output!r}")
        self.check_domain(path, target, list(table.values()))

    def check_types(self, path: str, source: Column, target: Column, transform: str | None) -> None:
        where = f"raw {source.name} is {source.type}, {TARGET_TABLE}.{target.name} is {target.type}"
        if transform is None:
            if not identity_allowed(source.type, target.type):
                raise self.fail(path, f"type mismatch: {where}; add a transform (transforms.{target.name})")
            return
        t = TRANSFORMS[transform]
        if source.type not in t.inputs:
            accepted = ", ".join(sorted(t.inputs))
            raise self.fail(
                path, f"type mismatch: {transform} takes {accepted}, but raw {source.name} is {source.type}"
            )
        if t.output != target.type:
            raise self.fail(path, f"type mismatch: {transform} produces {t.output}, but {where}")

    def symbols(self, value: Any, exchange: str) -> SymbolRule:
        if value is None:
            return SymbolRule(exchange)
        if not isinstance(value, dict):
            raise self.fail(
                "symbols", f"expected a mapping with {', '.join(SYMBOL_KEYS)}, got {_kind(value)}"
            )
        unknown = [k for k in value if k not in SYMBOL_KEYS]
        if unknown:
            raise self.fail(f"symbols.{unknown[0]}", f"unknown key; expected one of {', '.join(SYMBOL_KEYS)}")
        seed = value.get("seed", exchange)
        if not isinstance(seed, str) or not seed:
            raise self.fail("symbols.seed", f"expected an exchange name of the product seed, got {seed!r}")
        patterns = value.get("patterns") or []
        if not isinstance(patterns, list):
            raise self.fail(
                "symbols.patterns", f"expected a list of regular expressions, got {_kind(patterns)}"
            )
        for i, pattern in enumerate(patterns):
            path = f"symbols.patterns[{i}]"
            try:
                groups = re.compile(pattern).groups if isinstance(pattern, str) else -1
            except re.error as exc:
                raise self.fail(path, f"not a valid regular expression: {exc}") from exc
            if groups != 2:
                raise self.fail(
                    path, f"expected a regular expression with 2 groups (base, quote), got {pattern!r}"
                )
        aliases = value.get("asset_aliases") or {}
        if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
        ):
            raise self.fail(
                "symbols.asset_aliases", f"expected a mapping of asset -> canonical asset, got {aliases!r}"
            )
        return SymbolRule(seed, tuple(patterns), dict(aliases))
