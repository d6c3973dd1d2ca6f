"""Whole-table figures of trades_unified from its Iceberg metadata and its data files.

The replay page's first load needs rows per market and the 10-second price ranges of an
asset over the whole table. Reading those through the read API materializes every row's
columns in Python (seconds on 10M rows). Here:

- the snapshot's data files are listed from its manifests (PyIceberg's scan planning): path,
  size, row count and each column's lower and upper bounds;
- a file whose bounds hold one exchange and one symbol counts its rows from metadata alone;
- the other files are read by DuckDB straight from Parquet, only the columns asked for,
  aggregated there (GROUP BY), so Python sees one row per market or per (market, bin).

Only plain local Parquet data files with no delete files are read this way; anything else
(object storage, v2 delete files) returns None and the caller reads through the read API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow.compute as pc

BIN_COLUMNS = ("exchange", "symbol", "trade_ts", "price")


@dataclass(frozen=True)
class DataFile:
    path: str  # a local filesystem path
    size: int  # bytes
    rows: int
    market: tuple[str, str] | None  # (exchange, symbol) when the bounds say the file holds one


@dataclass
class FileStats:
    """What the last whole-table figure cost: files listed, files and rows DuckDB read."""

    files: int = 0
    files_read: int = 0
    rows_read: int = 0


def data_files(table: Any, snapshot_id: int | None) -> list[DataFile] | None:
    """The snapshot's data files, or None when they cannot be read directly (see the module)."""
    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    schema = table.schema()
    ex_id = schema.find_field("exchange").field_id
    sym_id = schema.find_field("symbol").field_id
    out = []
    for task in scan.plan_files():
        f = task.file
        if task.delete_files or str(f.file_format).upper().find("PARQUET") < 0:
            return None
        path = _local_path(f.file_path)
        if path is None:
            return None
        lo, hi = f.lower_bounds or {}, f.upper_bounds or {}
        one = (
            lo.get(ex_id) is not None and lo.get(ex_id) == hi.get(ex_id) and lo.get(sym_id) == hi.get(sym_id)
        )
        market = (lo[ex_id].decode(), lo[sym_id].decode()) if one and lo.get(sym_id) is not None else None
        out.append(DataFile(path, int(f.file_size_in_bytes), int(f.record_count), market))
    return out


def _local_path(location: str) -> str | None:
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return parsed.path
    if parsed.scheme == "" and location.startswith("/"):
        return location
    return None


def market_rows_per_file(
    files: Sequence[DataFile], stats: FileStats
) -> dict[str, dict[tuple[str, str], int]]:
    """path -> {(exchange, symbol): rows}: from the bounds where they say one market, else counted
    by DuckDB from the file's two string columns (dictionary-encoded: cheap)."""
    out: dict[str, dict[tuple[str, str], int]] = {}
    mixed = []
    for f in files:
        if f.market is not None:
            out[f.path] = {f.market: f.rows}
        else:
            mixed.append(f.path)
    stats.files, stats.files_read = len(files), len(mixed)
    if mixed:
        rows = _duckdb(
            "SELECT filename, exchange, symbol, count(*) AS n FROM read_parquet($files, filename = true) "
            "GROUP BY ALL",
            {"files": mixed},
        )
        for path, exchange, symbol, n in rows:
            out.setdefault(path, {})[(exchange, symbol)] = int(n)
            stats.rows_read += int(n)
    return out


def market_counts(files: Sequence[DataFile], stats: FileStats) -> dict[tuple[str, str], int]:
    """Rows per (exchange, symbol) over the files."""
    total: dict[tuple[str, str], int] = {}
    for per_market in market_rows_per_file(files, stats).values():
        for market, n in per_market.items():
            total[market] = total.get(market, 0) + n
    return total


def market_bytes(files: Sequence[DataFile], stats: FileStats) -> dict[tuple[str, str], tuple[int, float]]:
    """(rows, estimated bytes) per (exchange, symbol): each file's size apportioned by the share
    of its rows each market holds. Columns compress differently per market: an estimate."""
    out: dict[tuple[str, str], tuple[int, float]] = {}
    sizes = {f.path: f.size for f in files}
    for path, per_market in market_rows_per_file(files, stats).items():
        rows = sum(per_market.values())
        for market, n in per_market.items():
            had_rows, had_bytes = out.get(market, (0, 0.0))
            out[market] = (had_rows + n, had_bytes + (sizes[path] * n / rows if rows else 0.0))
    return out


Bins = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # bin index, max, min, trades


def price_bins(
    files: Sequence[DataFile],
    symbols: Sequence[str],
    bin_s: int,
    stats: FileStats,
    cache: dict[tuple[Any, ...], dict[tuple[str, str], Bins]] | None = None,
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(exchange, symbol) -> (bin index since the epoch, range in bps, trades) of every non-empty
    `bin_s`-second bin of the `symbols`' markets, aggregated by DuckDB (max/min price, count).

    Data files never change, so `cache` keeps each file's bins: a new snapshot reads only the
    files it added."""
    wanted = tuple(sorted(set(symbols)))
    cache = {} if cache is None else cache
    paths = [f.path for f in files if f.market is None or f.market[1] in wanted]
    todo = [p for p in paths if (p, bin_s, wanted) not in cache]
    stats.files, stats.files_read = len(files), len(todo)
    if not paths or not wanted:
        return {}
    if todo:
        for path in todo:
            cache[(path, bin_s, wanted)] = {}
        for (path, exchange, symbol), found in _bins_of(todo, wanted, bin_s, stats).items():
            cache[(path, bin_s, wanted)][(exchange, symbol)] = found
    if len(cache) > 4 * len(paths) + 100:  # files compacted away: keep the cache bounded
        keep = set(paths)
        for key in [k for k in cache if k[0] not in keep]:
            del cache[key]
    per_market: dict[tuple[str, str], list[Bins]] = {}
    for path in paths:
        for market, found in cache[(path, bin_s, wanted)].items():
            per_market.setdefault(market, []).append(found)
    out = {}
    for market, parts in per_market.items():
        bins, hi, lo, n = (np.concatenate([p[i] for p in parts]) for i in range(4))
        if len(parts) > 1:  # files may share a bin: combine them
            order = np.argsort(bins, kind="stable")
            bins, hi, lo, n = bins[order], hi[order], lo[order], n[order]
            starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
            bins = bins[starts]
            hi, lo = np.maximum.reduceat(hi, starts), np.minimum.reduceat(lo, starts)
            n = np.add.reduceat(n, starts)
        out[market] = (bins, (hi - lo) / lo * 1e4, n)
    return out


def _bins_of(
    paths: Sequence[str], symbols: Sequence[str], bin_s: int, stats: FileStats
) -> dict[tuple[str, str, str], Bins]:
    """(file, exchange, symbol) -> its bins, one DuckDB query over the files."""
    rows = _duckdb(
        "SELECT filename, exchange, symbol, epoch_us(trade_ts) // $width AS bin, max(price) AS hi, "
        "min(price) AS lo, count(*) AS n FROM read_parquet($files, filename = true) "
        "WHERE list_contains($symbols, symbol) GROUP BY ALL ORDER BY filename, exchange, symbol, bin",
        {"files": list(paths), "symbols": list(symbols), "width": bin_s * 1_000_000},
        arrow=True,
    )
    bins = rows.column("bin").to_numpy().astype(np.int64)
    hi, lo = rows.column("hi").to_numpy(), rows.column("lo").to_numpy()
    n = rows.column("n").to_numpy().astype(np.int64)
    stats.rows_read = int(n.sum()) if len(n) else 0
    keys = [rows.column(c) for c in ("filename", "exchange", "symbol")]
    changed = np.zeros(max(len(n) - 1, 0), dtype=bool)
    for key in keys:
        changed |= pc.not_equal(key[1:], key[:-1]).to_numpy(zero_copy_only=False)
    starts = np.r_[0, np.flatnonzero(changed) + 1] if len(n) else np.empty(0, np.int64)
    out = {}
    for a, b in zip(starts, [*starts[1:], len(n)], strict=True):
        key = tuple(k[a].as_py() for k in keys)
        out[(key[0], key[1], key[2])] = (bins[a:b], hi[a:b], lo[a:b], n[a:b])
    return out


def _duckdb(query: str, params: dict[str, Any], arrow: bool = False) -> Any:
    """Run `query` on a DuckDB that may open exactly the files in `params["files"]` and nothing
    else (no other path, no network, no extension download); times in UTC."""
    import duckdb

    con = duckdb.connect(
        ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        con.execute("SET allowed_paths = $paths", {"paths": list(params["files"])})
        con.execute("SET enable_external_access = false")
        con.execute("SET TimeZone = 'UTC'")
        result = con.execute(query, params)
        return result.to_arrow_table() if arrow else result.fetchall()
    finally:
        con.close()
