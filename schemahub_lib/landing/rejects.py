"""The quarantine: records that failed validation go to `schemahub_rejects`, never nowhere.

Ordering against the raw commit: rejects are committed first, then the raw snapshot that
moves the stream past the page they came from. A crash between the two makes the next run
fetch the same pages and reject the same records again, so writes skip rows already present
(same exchange, product, trade id and exact payload). Nothing is lost; nothing is doubled by
a re-run. (Two runs writing the same rejects at the very same moment can still both write
them: the check and the append are not one transaction. Only reject rows, never trades.)
"""

from __future__ import annotations

from collections.abc import Sequence

from pyiceberg.catalog import Catalog

from schemahub_lib.landing.filters import all_of, eq, isin
from schemahub_lib.landing.retry import retry_commit
from schemahub_lib.landing.writer import TABLE_LOCKS, RejectRow, rejects_arrow
from schemahub_lib.settings import Settings

REJECTS_TABLE = "schemahub_rejects"


class RejectLog:
    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.identifier = settings.table_id(REJECTS_TABLE)
        self._lock = TABLE_LOCKS.get(f"{settings.warehouse}/{self.identifier}")

    def write(self, rows: Sequence[RejectRow], run_id: str) -> int:
        """Append the rows not already in the table; returns how many were new."""
        unique = list({(r.exchange, r.product, r.trade_id, r.raw_payload): r for r in rows}.values())
        if not unique:
            return 0
        written = 0

        def attempt() -> None:
            nonlocal written
            table = self.catalog.load_table(self.identifier)
            fresh = self._not_present(unique)
            written = len(fresh)
            if fresh:
                table.append(rejects_arrow(table, fresh, run_id))

        with self._lock:
            retry_commit(attempt, what=f"append to {self.identifier}")
        return written

    def _not_present(self, rows: list[RejectRow]) -> list[RejectRow]:
        table = self.catalog.load_table(self.identifier)
        if table.current_snapshot() is None:
            return rows
        present: set[tuple[str, str, str | None, str]] = set()
        by_stream: dict[tuple[str, str], list[RejectRow]] = {}
        for r in rows:
            by_stream.setdefault((r.exchange, r.product), []).append(r)
        for (exchange, product), group in by_stream.items():
            payloads = sorted({r.raw_payload for r in group})
            found = table.scan(
                row_filter=all_of(
                    eq("exchange", exchange), eq("product", product), isin("raw_payload", payloads)
                ),
                selected_fields=("exchange", "product", "trade_id", "raw_payload"),
            ).to_arrow()
            present.update(
                (row["exchange"], row["product"], row["trade_id"], row["raw_payload"])
                for row in found.to_pylist()
            )
        return [r for r in rows if (r.exchange, r.product, r.trade_id, r.raw_payload) not in present]
