"""A stand-in for the read API's `Lakehouse` (schemahub_lib.read) while that is not merged:
the subset the explorer calls, over PyIceberg scans. Removed once the read API lands."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    In,
    LessThan,
)

from schemahub_lib.catalog import load_catalog
from schemahub_lib.settings import Settings

SnapshotInfo = namedtuple("SnapshotInfo", "snapshot_id committed_at operation")


class FallbackLakehouse:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = load_catalog(settings)

    def tables(self) -> list[str]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        try:
            return sorted(name for _, name in self.catalog.list_tables(self.settings.namespace))
        except NoSuchNamespaceError:
            return []

    def _table(self, name: str) -> Any:
        return self.catalog.load_table(self.settings.table_id(name))

    def scan(
        self,
        table: str,
        row_filter: BooleanExpression | None = None,
        columns: list[str] | None = None,
        as_of: int | None = None,
    ) -> pa.Table:
        selected = tuple(columns) if columns else ("*",)
        return (
            self._table(table)
            .scan(row_filter=row_filter or AlwaysTrue(), selected_fields=selected, snapshot_id=as_of)
            .to_arrow()
        )

    def trades(
        self,
        exchanges: list[str] | None = None,
        symbols: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        as_of: int | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        expr: BooleanExpression = AlwaysTrue()
        if exchanges:
            expr = And(expr, In("exchange", exchanges))
        if symbols:
            expr = And(expr, In("symbol", symbols))
        if start is not None:
            expr = And(expr, GreaterThanOrEqual("trade_ts", start.isoformat()))
        if end is not None:
            expr = And(expr, LessThan("trade_ts", end.isoformat()))
        return self.scan("trades_unified", expr, columns, as_of)

    def snapshots(self, table: str = "trades_unified") -> list[SnapshotInfo]:
        from datetime import UTC

        return [
            SnapshotInfo(
                s.snapshot_id,
                datetime.fromtimestamp(s.timestamp_ms / 1000, tz=UTC),
                s.summary.operation.value if s.summary else "",
            )
            for s in self._table(table).metadata.snapshots
        ]
