"""The one error hierarchy of SchemaHub.

Retryable vs terminal is carried by the type: callers retry `TransientError` subclasses and
stop on everything else. Messages say what was wrong, what was expected and where.
"""

from __future__ import annotations

SNIPPET_CHARS = 200


def snippet(text: str | bytes | None, limit: int = SNIPPET_CHARS) -> str:
    """A short, single-line excerpt of a response body for error messages."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class SchemaHubError(Exception):
    """Root of every error SchemaHub raises on purpose."""


class ConfigError(SchemaHubError):
    """A setting, flag, seed file or config file is wrong."""


class SetupError(SchemaHubError):
    """The machine lacks something SchemaHub needs (Java, jars, a writable warehouse)."""


class CatalogHistoryError(SchemaHubError):
    """The catalog does not hold the history the warehouse's table folders hold (lost, truncated,
    replaced or older catalog): writing would fork it. Names the folders and the fix."""


class TransientError(SchemaHubError):
    """Worth retrying: the same call may succeed later."""


class CommitConflictError(TransientError):
    """Another writer committed to the same table first; re-read and retry."""


class ExchangeError(SchemaHubError):
    """An exchange answered with something we cannot use. Names exchange, URL and body."""

    def __init__(
        self,
        exchange: str,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        body: str | bytes | None = None,
    ) -> None:
        self.exchange = exchange
        self.url = url
        self.reason = reason
        self.status = status
        self.body_snippet = snippet(body)
        where = f"{exchange} {url}" + (f" (HTTP {status})" if status is not None else "")
        text = f"{where}: {reason}"
        if self.body_snippet:
            text += f"; body: {self.body_snippet!r}"
        super().__init__(text)


class TransientExchangeError(ExchangeError, TransientError):
    """5xx, timeouts, throttling, truncated or HTML bodies: retry with backoff."""

    def __init__(self, *args: object, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimitedError(TransientExchangeError):
    """HTTP 429 or an exchange's in-band throttling error (Kraken `EGeneral:Too many requests`)."""


class MalformedPageError(TransientExchangeError):
    """The body did not parse or lacked required structure; retried, then reported."""


class TerminalExchangeError(ExchangeError):
    """Retrying will not help: unknown product, invalid cursor, 4xx."""


class BannedError(TerminalExchangeError):
    """Binance HTTP 418: the IP is banned until `until_epoch_s`. Stop; never retry before then."""

    def __init__(self, *args: object, until_epoch_s: float, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.until_epoch_s = until_epoch_s


class MappingError(SchemaHubError):
    """A mapping file is invalid. Names the file, the key path and what was expected."""

    def __init__(self, file: str, key_path: str, problem: str) -> None:
        self.file = file
        self.key_path = key_path
        self.problem = problem
        super().__init__(f"{file}: {key_path}: {problem}")


class StreamFailedError(SchemaHubError):
    """One (exchange, product) stream stopped; others may have continued."""
