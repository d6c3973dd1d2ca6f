"""Query results out: an aligned text table, CSV, JSON or Parquet."""

from __future__ import annotations

import io
import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from schemahub_lib.read.errors import QueryError

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("table", "csv", "json", "parquet")
BINARY_FORMATS = ("parquet",)


def render_table(result: pa.Table, max_rows: int | None = None) -> str:
    """Columns aligned under their names, numbers right-aligned; NULL for missing values.

    With `max_rows`, the rows past it are left out and a last line counts them."""
    import pyarrow as pa

    shown = result if max_rows is None else result.slice(0, max_rows)
    rows = shown.to_pylist()
    headers = result.column_names
    cells = [[_cell(row[name]) for name in headers] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        for f in result.schema
    ]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    lines = [line(list(headers)), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    hidden = result.num_rows - shown.num_rows
    count = f"({result.num_rows:,} row{'s' if result.num_rows != 1 else ''}"
    count += f", {hidden:,} not shown: use --format csv or --out FILE for all)" if hidden else ")"
    lines.append(count)
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def write_result(result: pa.Table, fmt: str, out: IO[bytes], max_rows: int | None = None) -> None:
    """Write `result` to the binary stream `out` in `fmt` (one of FORMATS)."""
    if fmt == "table":
        out.write(render_table(result, max_rows).encode())
    elif fmt == "csv":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        nested = [f"{f.name} ({f.type})" for f in result.schema if pa.types.is_nested(f.type)]
        if nested:
            raise QueryError(
                f"CSV cannot hold nested columns: {', '.join(nested)}; use --format json or parquet"
            )
        buffer = io.BytesIO()
        pacsv.write_csv(result, buffer)
        out.write(buffer.getvalue())
    elif fmt == "json":
        rows = [{k: _json_value(v) for k, v in row.items()} for row in result.to_pylist()]
        out.write((json.dumps(rows, indent=1, default=str) + "\n").encode())
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(result, out)
    else:
        raise QueryError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        # DuckDB sums BIGINTs into HUGEINT, which reaches Arrow as decimal(38, 0).
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
