"""What a request handler sees and returns: plain data, no HTTP machinery."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

JSON_UTF8 = "application/json; charset=utf-8"
_INT = re.compile(r"-?[0-9]{1,19}")


@dataclass(frozen=True)
class Request:
    """One parsed GET/POST: `path` is relative to the venue prefix, `query` keeps the last value."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    client: str
    body: bytes = b""


@dataclass
class Response:
    """One answer. The delivery fields let faults bend how the bytes go out."""

    status: int
    body: bytes
    content_type: str = JSON_UTF8
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay_s: float = 0.0  # wait before answering (timeouts)
    declared_length: int | None = None  # Content-Length larger than the body, then close (short read)
    disconnect: bool = False  # close the connection without any answer

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """A compact JSON body, the way the venues send it."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, JSON_UTF8, list(headers or []))


def parse_int(text: str | None) -> int | None:
    """A plain decimal integer, or None (no signs other than '-', no spaces, no underscores)."""
    if text is None or not _INT.fullmatch(text):
        return None
    return int(text)
