"""Page parsing shared by the connectors: decode -> loop -> reject -> sort, written once.

A body that is not JSON (truncated, an HTML error page, empty) or has the wrong shape is a
`MalformedPageError`: transient, so the HTTP layer retries it, and its message names the
exchange, the URL and a snippet of the body. A connector decodes with `decode_json`, checks
its exchange's envelope, and hands the array of trades to `parse_rows` with its one-record
parse function; every record becomes a `RawTrade` or a `Reject`, never lost, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from schemahub_lib.connectors.base import Cursor, RawTrade, Reject
from schemahub_lib.connectors.exactjson import ExactList
from schemahub_lib.connectors.records import MAX_TRADE_ID, RecordError, now_ns
from schemahub_lib.errors import MalformedPageError

# One record and its exact JSON text -> RawTrade (at `now` ns, for the time sanity check);
# raises RecordError with the reason.
RowParser = Callable[[Any, str, int], RawTrade]

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


def parse_rows(
    exchange: str,
    url: str,
    body: bytes,
    rows: Any,
    parse: RowParser,
    raw_id: Callable[[Any], object],
    now: int | None = None,
) -> tuple[list[RawTrade], list[Reject]]:
    """An exchange's array of trade records -> (trades ascending by id, rejects).

    `rows` comes from `loads_items` (values with their exact texts); `raw_id` reads a
    record's id as sent (None when absent) so a reject keeps it and cursors can move past it."""
    if not isinstance(rows, ExactList):
        raise malformed(exchange, url, "expected a JSON array of trades", body)
    now = now_ns() if now is None else now
    trades: list[RawTrade] = []
    rejects: list[Reject] = []
    for item, payload in zip(rows, rows.texts, strict=True):
        try:
            trades.append(parse(item, payload, now))
        except RecordError as exc:
            tid = raw_id(item)
            rejects.append(Reject(str(exc), payload, None if tid is None else str(tid)))
    trades.sort(key=trade_id_of)
    return trades, rejects


def field_of(name: str) -> Callable[[Any], object]:
    """`raw_id` for object records: the field `name` when the record is an object."""
    return lambda item: item.get(name) if type(item) is dict else None


def element_of(index: int) -> Callable[[Any], object]:
    """`raw_id` for array records: element `index` when the row has it."""
    return lambda item: item[index] if type(item) is list and len(item) > index else None


def id_cursors(ids: list[int], cursor: Cursor | None) -> tuple[Cursor | None, Cursor | None]:
    """(older, newer) for venues paged by trade id with `after` (older than, exclusive) and
    `before` (newer than, exclusive): Coinbase and OKX. Only an empty page ends the history in
    its direction; a short page is normal."""
    if ids:
        older = Cursor("after", str(min(ids))) if min(ids) > 1 else None
        return older, None if cursor is None else Cursor("before", str(max(ids)))
    if cursor is None:
        return None, None
    if cursor.param == "after":
        return None, Cursor("before", str(max(int(cursor.value) - 1, 0)))
    return Cursor("after", str(int(cursor.value) + 1)), None
