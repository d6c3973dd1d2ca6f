"""Read the `ddl/*.sql` files into PyIceberg table definitions.

The DDL files are plain Spark SQL (they run unchanged in `spark.sql`) and the one source of
truth for every table. `schemahub init` applies them through PyIceberg so it works the same
through the embedded SQLite catalog and the Glue Data Catalog, without a JVM. This parser
accepts the subset those files use: CREATE TABLE IF NOT EXISTS with typed columns, NOT NULL,
COMMENT, PARTITIONED BY transforms, TBLPROPERTIES, and ALTER TABLE ... WRITE ORDERED BY.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import NullOrder, SortDirection, SortField, SortOrder
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    TruncateTransform,
    YearTransform,
)
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

from schemahub_lib.errors import ConfigError

# Spark SQL types -> Iceberg. Spark TIMESTAMP is instant semantics (Iceberg timestamptz).
TYPES: dict[str, IcebergType] = {
    "STRING": StringType(),
    "BIGINT": LongType(),
    "INT": IntegerType(),
    "INTEGER": IntegerType(),
    "DOUBLE": DoubleType(),
    "FLOAT": FloatType(),
    "BOOLEAN": BooleanType(),
    "DATE": DateType(),
    "TIMESTAMP": TimestamptzType(),
    "TIMESTAMP_NTZ": TimestampType(),
}
TIME_TRANSFORMS: dict[str, Callable[[], Transform]] = {  # type: ignore[type-arg]
    "years": YearTransform,
    "months": MonthTransform,
    "days": DayTransform,
    "hours": HourTransform,
}

_CREATE = re.compile(
    r"CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(?P<name>[\w.]+)\s*\((?P<cols>.*)\)\s*USING\s+iceberg"
    r"(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_ALTER_ORDER = re.compile(
    r"ALTER\s+TABLE\s+(?P<name>[\w.]+)\s+WRITE\s+(?P<dist>DISTRIBUTED\s+BY\s+PARTITION\s+)?"
    r"(?P<local>LOCALLY\s+)?ORDERED\s+BY\s+(?P<cols>.+)$",
    re.IGNORECASE | re.DOTALL,
)
# What Iceberg's Spark extension sets for each WRITE ... ORDERED BY form.
_DISTRIBUTION = {(False, False): "range", (True, True): "hash", (False, True): "none"}
_COLUMN = re.compile(
    r"^(?P<name>\w+)\s+(?P<type>\w+(?:\s*\(\s*\d+\s*,\s*\d+\s*\))?)"
    r"(?P<notnull>\s+NOT\s+NULL)?(?:\s+COMMENT\s+'(?P<comment>(?:[^']|'')*)')?$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class TableDef:
    """One table as its DDL file defines it."""

    name: str
    schema: Schema
    partition_spec: PartitionSpec
    sort_order: SortOrder
    properties: dict[str, str]
    source: Path
    sql: str = field(repr=False)


def load_table_defs(ddl_dir: str | Path) -> dict[str, TableDef]:
    """Every `*.sql` file in `ddl_dir` (not subfolders), keyed by table name."""
    directory = Path(ddl_dir)
    files = sorted(directory.glob("*.sql"))
    if not files:
        raise ConfigError(f"no DDL files (*.sql) in {directory}; set SCHEMAHUB_DDL_DIR to the ddl/ folder")
    defs = [parse_ddl_file(f) for f in files]
    return {d.name: d for d in defs}


def parse_ddl_file(path: Path) -> TableDef:
    sql = path.read_text()
    statements = _split_statements(_strip_comments(sql))
    create = [s for s in statements if _CREATE.match(s)]
    if len(create) != 1:
        raise ConfigError(f"{path}: expected exactly one CREATE TABLE IF NOT EXISTS ... USING iceberg")
    match = _CREATE.match(create[0])
    assert match is not None
    name = _table_name(path, match["name"])
    schema = Schema(*_columns(path, match["cols"]))
    spec = _partition_spec(path, schema, match["rest"])
    properties = _properties(path, match["rest"])
    sort_order = SortOrder()
    for stmt in statements:
        alter = _ALTER_ORDER.match(stmt)
        if alter:
            if _table_name(path, alter["name"]) != name:
                raise ConfigError(f"{path}: ALTER TABLE names {alter['name']}, expected {name}")
            sort_order = _sort_order(path, schema, alter["cols"])
            mode = _DISTRIBUTION.get((bool(alter["dist"]), bool(alter["local"])))
            if mode is None:
                raise ConfigError(f"{path}: use LOCALLY ORDERED BY together with DISTRIBUTED BY PARTITION")
            properties["write.distribution-mode"] = mode
        elif not _CREATE.match(stmt):
            raise ConfigError(f"{path}: unsupported statement: {stmt[:80]!r}")
    return TableDef(name, schema, spec, sort_order, properties, path, sql)


def _strip_comments(sql: str) -> str:
    lines = []
    for line in sql.splitlines():
        # A `--` outside quotes starts a comment; our COMMENT strings hold no quotes-in-dashes.
        quote = False
        for i, ch in enumerate(line):
            if ch == "'":
                quote = not quote
            elif ch == "-" and not quote and line[i : i + 2] == "--":
                line = line[:i]
                break
        lines.append(line)
    return "\n".join(lines)


def _split_statements(sql: str) -> list[str]:
    statements, quote, start = [], False, 0
    for i, ch in enumerate(sql):
        if ch == "'":
            quote = not quote
        elif ch == ";" and not quote:
            statements.append(sql[start:i].strip())
            start = i + 1
    statements.append(sql[start:].strip())
    return [s for s in statements if s]


def _split_top_level(text: str) -> list[str]:
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        elif not quote and depth == 0 and ch == ",":
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _table_name(path: Path, qualified: str) -> str:
    name = qualified.split(".")[-1]
    if path.stem != name:
        raise ConfigError(f"{path}: defines table {name!r}; the file must be named {name}.sql")
    return name


def _iceberg_type(path: Path, column: str, spark_type: str) -> IcebergType:
    spelled = re.sub(r"\s+", "", spark_type.upper())
    decimal = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", spelled)
    if decimal:
        return DecimalType(int(decimal[1]), int(decimal[2]))
    if spelled not in TYPES:
        raise ConfigError(
            f"{path}: column {column}: unsupported type {spark_type}; expected one of "
            f"{', '.join(TYPES)} or DECIMAL(p,s)"
        )
    return TYPES[spelled]


def _columns(path: Path, text: str) -> list[NestedField]:
    fields = []
    for field_id, part in enumerate(_split_top_level(text), start=1):
        m = _COLUMN.match(" ".join(part.split()))
        if not m:
            raise ConfigError(f"{path}: cannot read column definition {part[:80]!r}")
        comment = m["comment"].replace("''", "'") if m["comment"] else None
        fields.append(
            NestedField(
                field_id=field_id,
                name=m["name"],
                field_type=_iceberg_type(path, m["name"], m["type"]),
                required=bool(m["notnull"]),
                doc=comment,
            )
        )
    names = [f.name for f in fields]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: duplicate columns {', '.join(dupes)}")
    return fields


def _clause(rest: str, keyword: str) -> str | None:
    m = re.search(keyword + r"\s*\(", rest, re.IGNORECASE)
    if not m:
        return None
    depth, start = 1, m.end()
    for i in range(start, len(rest)):
        if rest[i] == "(":
            depth += 1
        elif rest[i] == ")":
            depth -= 1
            if depth == 0:
                return rest[start:i]
    return None


def _source_id(path: Path, schema: Schema, column: str) -> int:
    try:
        return schema.find_field(column).field_id
    except ValueError:
        raise ConfigError(f"{path}: unknown column {column!r} in partition or sort clause") from None


def _partition_spec(path: Path, schema: Schema, rest: str) -> PartitionSpec:
    clause = _clause(rest, r"PARTITIONED\s+BY")
    if clause is None:
        return PartitionSpec()
    fields = []
    for n, part in enumerate(_split_top_level(clause)):
        transform: Transform  # type: ignore[type-arg]
        m = re.fullmatch(r"(\w+)\s*\(\s*(\w+)\s*\)", part)
        b = re.fullmatch(r"(bucket|truncate)\s*\(\s*(\d+)\s*,\s*(\w+)\s*\)", part, re.IGNORECASE)
        if b:
            kind, width, column = b[1].lower(), int(b[2]), b[3]
            transform = BucketTransform(width) if kind == "bucket" else TruncateTransform(width)
            name = f"{column}_{kind}"
        elif m and m[1].lower() in TIME_TRANSFORMS:
            column = m[2]
            transform = TIME_TRANSFORMS[m[1].lower()]()
            name = f"{column}_{m[1].lower().rstrip('s')}"
        elif re.fullmatch(r"\w+", part):
            column, transform, name = part, IdentityTransform(), part
        else:
            raise ConfigError(f"{path}: unsupported partition transform {part!r}")
        fields.append(
            PartitionField(
                source_id=_source_id(path, schema, column),
                field_id=1000 + n,
                transform=transform,
                name=name,
            )
        )
    return PartitionSpec(*fields)


def _properties(path: Path, rest: str) -> dict[str, str]:
    clause = _clause(rest, "TBLPROPERTIES")
    if clause is None:
        return {}
    props = {}
    for part in _split_top_level(clause):
        m = re.fullmatch(r"'([^']+)'\s*=\s*'([^']*)'", part)
        if not m:
            raise ConfigError(f"{path}: cannot read table property {part!r}; expected 'key' = 'value'")
        props[m[1]] = m[2]
    return props


def _sort_order(path: Path, schema: Schema, text: str) -> SortOrder:
    fields = []
    for part in _split_top_level(text):
        words = part.split()
        direction = SortDirection.DESC if len(words) > 1 and words[1].upper() == "DESC" else SortDirection.ASC
        null_order = NullOrder.NULLS_FIRST if direction == SortDirection.ASC else NullOrder.NULLS_LAST
        fields.append(
            SortField(
                source_id=_source_id(path, schema, words[0]),
                transform=IdentityTransform(),
                direction=direction,
                null_order=null_order,
            )
        )
    return SortOrder(*fields)
