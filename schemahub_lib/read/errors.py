"""Errors of the read side: a query that names a missing table, or that DuckDB rejects."""

from __future__ import annotations

from collections.abc import Sequence

from schemahub_lib.errors import SchemaHubError


class QueryError(SchemaHubError):
    """A query or read request is wrong: bad SQL, not a SELECT, an unknown column or snapshot."""


class UnknownTableError(QueryError):
    """A table name that is not in the catalog; the message lists the ones that are."""

    def __init__(self, table: str, known: Sequence[str], where: str = "") -> None:
        self.table = table
        self.known = list(known)
        listed = ", ".join(self.known) if self.known else "none (run `schemahub init`)"
        place = f" in {where}" if where else ""
        super().__init__(f"unknown table {table!r}{place}; the catalog holds: {listed}")
