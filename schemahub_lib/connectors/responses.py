"""Whole-body checks shared by the connectors' parse functions.

A body that is not JSON (truncated, an HTML error page, empty) or has the wrong shape is a
`MalformedPageError`: transient, so the HTTP layer retries it, and its message names the
exchange, the URL and a snippet of the body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from schemahub_lib.connectors.base import RawTrade, Reject
from schemahub_lib.connectors.records import MAX_TRADE_ID
from schemahub_lib.errors import MalformedPageError

# The sort key of a page's trades (attrgetter: a C call, no Python frame per trade).
trade_id_of: Callable[[RawTrade], int] = attrgetter("trade_id")


def malformed(exchange: str, url: str, reason: str, body: bytes | str | None) -> MalformedPageError:
    return MalformedPageError(exchange, url, reason, body=body)


def decode_json(exchange: str, url: str, body: bytes, loads: Callable[[bytes], Any]) -> Any:
    """Parse a whole body, naming what kind of garbage it is when it does not parse."""
    head = body.lstrip()[:1]
    if not head:
        raise malformed(exchange, url, "empty body where JSON was expected", body)
    if head == b"<":
        raise malformed(exchange, url, "HTML page where JSON was expected", body)
    try:
        return loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise malformed(exchange, url, f"body is not valid JSON ({exc})", body) from exc


def ids_of(trades: Iterable[RawTrade], rejects: Iterable[Reject]) -> list[int]:
    """Every trade id a page showed, including rejected rows that still had a readable id:
    cursors must move past rejected rows too, or the next page would repeat them."""
    ids = [t.trade_id for t in trades]
    ids.extend(
        int(r.trade_id)
        for r in rejects
        if r.trade_id is not None and r.trade_id.isascii() and r.trade_id.isdigit()
    )
    # An id past the raw tables' range (a reject) is no place to page from.
    return [i for i in ids if i <= MAX_TRADE_ID]
