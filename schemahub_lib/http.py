"""The HTTP layer every exchange connector uses, written once.

* `new_session()`: a keep-alive `requests.Session` with a pooled adapter and no hidden retries.
* `Pacer`: a thread-safe token bucket. `PACERS` holds one per (exchange, base URL, scope) per
  process, so every worker thread of a process shares its exchange's budget.
* `RetryPolicy` + `HttpClient.get`: bounded attempts with exponential backoff and full jitter
  on `TransientError`s (connection errors, timeouts, 5xx, 429, malformed pages, in-band
  throttling raised by a connector's parse function), honouring Retry-After. When attempts run
  out the last typed error propagates.
* `BanStore`: where an exchange's IP ban (Binance HTTP 418) is recorded so the next run waits
  instead of extending it. `JsonFileBanStore` is durable; an S3 store only needs `get`/`put`.
* `HttpCounters`: requests, retries, throttled, bytes, paced seconds; landing logs them.

Parse functions receive an `HttpResponse` (URL, status, headers, body bytes) and are pure.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol, TypeVar

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from schemahub_lib import __version__
from schemahub_lib.errors import (
    BannedError,
    ConfigError,
    RateLimitedError,
    TerminalExchangeError,
    TransientError,
    TransientExchangeError,
)
from schemahub_lib.logs import log_event

T = TypeVar("T")

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
DEFAULT_BAN_S = 120.0  # Binance bans start at 2 minutes when neither body nor header says more
_BANNED_UNTIL = re.compile(r"banned until (\d{12,14})")


def new_session(pool_size: int = 32) -> requests.Session:
    """A keep-alive session for all exchanges of a process; retries are ours, not urllib3's."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": f"schemahub/{__version__}", "Accept": "application/json"})
    return session


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One HTTP answer, as parse functions see it (`headers` is case-insensitive)."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpCounters:
    """Thread-safe counters for one stream (or whatever the caller groups by)."""

    FIELDS = ("requests", "retries", "throttled", "bytes", "paced_s")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = dict.fromkeys(self.FIELDS, 0)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._values[name] += amount

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._values)


# ----------------------------------------------------------------------------- pacing


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A pacing budget: `per_second` units (requests, or Binance request weight) with `burst`.

    `per_second=None` means unpaced. `used_header`/`window_limit`: a header reporting how much
    of a per-minute server budget is used (Binance `X-MBX-USED-WEIGHT-1M`, limit 6000).
    """

    per_second: float | None
    burst: float = 1.0
    used_header: str | None = None
    window_limit: float | None = None


class Pacer:
    """Token bucket shared by threads. Waiting happens outside the lock, in arrival order.

    `clock` and `sleep` are injectable so tests can run on a fake clock.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        header_budget: float = 0.95,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(limit.burst)
        self._stamp = clock()
        self._not_before = 0.0
        self._header_budget = header_budget
        # Cost reserved by `acquire` whose response has not yet reported the server's count:
        # those requests are sent whatever that count says, so it must leave room for them.
        self._unreported = 0.0

    def _refill(self, now: float) -> None:
        rate = self.limit.per_second or 0.0
        self._tokens = min(float(self.limit.burst), self._tokens + (now - self._stamp) * rate)
        self._stamp = now

    def acquire(self, cost: float = 1.0) -> float:
        """Take `cost` units, sleeping until they are available. Returns seconds waited."""
        if self.limit.per_second is None:
            return 0.0
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= cost  # a reservation: later callers queue behind this one
            self._unreported += cost
            wait = max(0.0, -self._tokens / self.limit.per_second, self._not_before - now)
        if wait > 0:
            self._sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """No thread starts a request for `seconds` (after a 429 or in-band throttle)."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def settle(self, cost: float, used: float | None = None) -> None:
        """The request that reserved `cost` is over; `used` is the server's count of the window
        budget (Binance `X-MBX-USED-WEIGHT-1M`, shared with every process on this IP) if sent.

        New reservations may take what the server has left under `header_budget` of its limit,
        minus what this process has reserved and the server has not counted yet. The header
        is authoritative, so other processes on the IP slow this one down; their own reserved
        requests are the only overshoot, well inside the 5% kept free.
        """
        limit = self.limit
        if limit.per_second is None:
            return
        with self._lock:
            self._unreported = max(0.0, self._unreported - cost)
            if used is None or limit.window_limit is None:
                return
            self._refill(self._clock())
            room = limit.window_limit * self._header_budget - used - self._unreported
            self._tokens = min(self._tokens, room)


class PacerRegistry:
    """One `Pacer` per key per process; the first caller's `RateLimit` wins."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._pacers: dict[tuple[str, ...], Pacer] = {}

    def get(self, key: tuple[str, ...], limit: RateLimit) -> Pacer:
        with self._lock:
            pacer = self._pacers.get(key)
            if pacer is None:
                pacer = self._pacers[key] = Pacer(limit, clock=self._clock, sleep=self._sleep)
            return pacer


PACERS = PacerRegistry()


# ----------------------------------------------------------------------------- bans


@dataclass(frozen=True, slots=True)
class Ban:
    until_epoch_s: float
    reason: str
    recorded_at: float


class BanStore(Protocol):
    """Where IP bans are recorded, keyed by `ban_key(exchange, base_url)`."""

    def get(self, key: str) -> Ban | None: ...

    def put(self, key: str, ban: Ban) -> None: ...


def ban_key(exchange: str, base_url: str) -> str:
    return f"{exchange} {base_url}"


class MemoryBanStore:
    """Process-lifetime bans; the default when the caller gives no durable store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bans: dict[str, Ban] = {}

    def get(self, key: str) -> Ban | None:
        with self._lock:
            return self._bans.get(key)

    def put(self, key: str, ban: Ban) -> None:
        with self._lock:
            old = self._bans.get(key)
            if old is None or old.until_epoch_s < ban.until_epoch_s:
                self._bans[key] = ban


class JsonFileBanStore:
    """Bans in one JSON file: `{key: {"until_epoch_s", "reason", "recorded_at"}}`.

    Writes are atomic (temp file + rename). Reads are cached on the file's mtime and size, so
    checking before every request costs one `stat`. Expired bans are pruned on write.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._cache: dict[str, Ban] = {}

    def _read(self) -> dict[str, Ban]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._cache = None, {}
            return self._cache
        if self._seen == (stat.st_mtime_ns, stat.st_size):
            return self._cache
        try:
            raw = json.loads(self.path.read_text())
            bans = {
                k: Ban(float(v["until_epoch_s"]), str(v["reason"]), float(v["recorded_at"]))
                for k, v in raw.items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{self.path}: unreadable ban file ({exc}); fix or delete it") from exc
        self._seen, self._cache = (stat.st_mtime_ns, stat.st_size), bans
        return bans

    def get(self, key: str) -> Ban | None:
        with self._lock:
            return self._read().get(key)

    def put(self, key: str, ban: Ban) -> None:
        with self._lock:
            now = self._clock()
            bans = {k: b for k, b in self._read().items() if b.until_epoch_s > now}
            old = bans.get(key)
            if old is None or old.until_epoch_s < ban.until_epoch_s:
                bans[key] = ban
            self.path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({k: asdict(b) for k, b in sorted(bans.items())}, indent=2) + "\n"
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._seen = None


PROCESS_BANS = MemoryBanStore()


# ----------------------------------------------------------------------------- retries


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded attempts; delay before attempt n+1 is uniform(0, min(max, base * 2**(n-1))),
    raised to the server's Retry-After when it gives one. A Retry-After longer than
    `max_retry_after_s` is not waited for: the error propagates at once."""

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))
        return max(backoff, retry_after or 0.0)


def parse_retry_after(value: str | None, now_epoch_s: float) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):  # integer per RFC 9110; decimals tolerated
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_epoch_s)


@dataclass
class HttpClient:
    """GET with pacing, retries, typed errors and ban checks for one exchange at one base URL.

    Thread-safe: share one per exchange, or make one per stream (sharing `session`) to keep
    per-stream `counters`; pacers are shared through `pacers` either way.
    """

    exchange: str
    base_url: str
    session: requests.Session
    limit: RateLimit
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    counters: HttpCounters = field(default_factory=HttpCounters)
    ban_store: BanStore = PROCESS_BANS
    max_ban_wait_s: float = 0.0
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    pacers: PacerRegistry = PACERS
    sleep: Callable[[float], None] = time.sleep
    wall_clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    def pacer(self, scope: str = "") -> Pacer:
        return self.pacers.get((self.exchange, self.base_url, scope), self.limit)

    def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None,
        parse: Callable[[HttpResponse], T],
        *,
        cost: float = 1.0,
        scope: str = "",
    ) -> T:
        """GET `base_url + path` and `parse` it, retrying transient failures.

        `parse` may raise `MalformedPageError`/`RateLimitedError`/`TransientExchangeError`
        (retried) or any terminal `ExchangeError` (propagated at once).
        """
        url = self.base_url + path
        pacer = self.pacer(scope)
        attempt = 0
        while True:
            attempt += 1
            self._check_ban(url)
            self.counters.add(paced_s=pacer.acquire(cost))
            try:
                response = self._send(url, params, pacer, cost)
                self._raise_for_status(response)
                return parse(response)
            except BannedError as exc:
                # Recorded already; a short ban is waited out (`_check_ban` sleeps) and retried.
                if (
                    attempt >= self.retry.max_attempts
                    or exc.until_epoch_s - self.wall_clock() > self.max_ban_wait_s
                ):
                    raise
                self.counters.add(retries=1)
                log_event("http_ban_wait", exchange=self.exchange, url=url, attempt=attempt,
                          until=_iso(exc.until_epoch_s))  # fmt: skip
            except TransientError as exc:
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(exc, RateLimitedError):
                    self.counters.add(throttled=1)
                if isinstance(exc, RateLimitedError) and (retry_after or 0) > self.retry.max_retry_after_s:
                    # Too long to wait within the run: record it like a ban, so every stream of
                    # this exchange stops asking until it ends, and the next run waits too.
                    now = self.wall_clock()
                    reason = f"HTTP {exc.status or 429} asking to wait {retry_after:g}s from {url}"
                    self.ban_store.put(
                        ban_key(self.exchange, self.base_url), Ban(now + (retry_after or 0), reason, now)
                    )
                    exc.add_note(f"recorded as a ban until {_iso(now + (retry_after or 0))}")
                    raise
                if attempt >= self.retry.max_attempts or (retry_after or 0) > self.retry.max_retry_after_s:
                    exc.add_note(f"gave up after {attempt} attempt(s) to {url}")
                    raise
                delay = self.retry.delay(attempt, retry_after, self.rng)
                if isinstance(exc, RateLimitedError):
                    pacer.hold_off(delay)  # every thread backs off, not just this one
                self.counters.add(retries=1)
                log_event(
                    "http_retry",
                    exchange=self.exchange,
                    url=url,
                    attempt=attempt,
                    delay_s=round(delay, 3),
                    error=str(exc),
                )
                self.sleep(delay)

    def _send(
        self, url: str, params: Mapping[str, str | int] | None, pacer: Pacer, cost: float
    ) -> HttpResponse:
        self.counters.add(requests=1)
        used = None
        try:
            reply = self.session.get(url, params=params, timeout=self.timeout)
            body = reply.content
            header = reply.headers.get(self.limit.used_header, "") if self.limit.used_header else ""
            used = float(header) if header.isdigit() else None
        except requests.Timeout as exc:
            raise TransientExchangeError(self.exchange, url, f"timed out ({exc.__class__.__name__})") from exc
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as exc:
            raise ConfigError(f"{self.exchange}: invalid base URL {self.base_url!r}: {exc}") from exc
        except requests.RequestException as exc:
            raise TransientExchangeError(
                self.exchange, url, f"connection failed: {exc.__class__.__name__}: {exc}"
            ) from exc
        finally:
            pacer.settle(cost, used)
        self.counters.add(bytes=len(body))
        # Header names are case-insensitive (proxies and HTTP/2 lower-case them).
        headers = CaseInsensitiveDict(reply.headers)
        return HttpResponse(url=reply.url, status=reply.status_code, headers=headers, body=body)

    def _raise_for_status(self, response: HttpResponse) -> None:
        status, url, body = response.status, response.url, response.body
        if 200 <= status < 300:
            return
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self.wall_clock())
        if status == 418:
            self._raise_banned(response, retry_after)
        if status == 429:
            reason = "rate limited (HTTP 429)" + (
                f"; Retry-After {retry_after:g}s" if retry_after is not None else ""
            )
            raise RateLimitedError(
                self.exchange, url, reason, status=status, body=body, retry_after=retry_after
            )
        if status >= 500:
            raise TransientExchangeError(
                self.exchange, url, "server error", status=status, body=body, retry_after=retry_after
            )
        raise TerminalExchangeError(
            self.exchange, url, "request rejected; retrying will not help", status=status, body=body
        )

    def _raise_banned(self, response: HttpResponse, retry_after: float | None) -> None:
        """Record the ban from a 418 durably, then raise. The later of the body's
        "banned until <ms>" and Retry-After wins; a time already past means clock skew."""
        now = self.wall_clock()
        match = _BANNED_UNTIL.search(response.body.decode("utf-8", errors="replace"))
        candidates = [int(match.group(1)) / 1000.0] if match else []  # Binance writes epoch ms
        if retry_after is not None:
            candidates.append(now + retry_after)
        until = max(candidates, default=0.0)
        if until <= now:
            until = now + DEFAULT_BAN_S
        self.ban_store.put(
            ban_key(self.exchange, self.base_url), Ban(until, f"HTTP 418 from {response.url}", now)
        )
        self.counters.add(throttled=1)
        raise BannedError(
            self.exchange, response.url, f"IP banned until {_iso(until)}; recorded, no requests before then",
            status=418, body=response.body, until_epoch_s=until,
        )  # fmt: skip

    def _check_ban(self, url: str) -> None:
        ban = self.ban_store.get(ban_key(self.exchange, self.base_url))
        if ban is None:
            return
        remaining = ban.until_epoch_s - self.wall_clock()
        if remaining <= 0:
            return
        if remaining <= self.max_ban_wait_s:
            self.sleep(remaining)
            return
        raise BannedError(
            self.exchange, url,
            f"IP banned until {_iso(ban.until_epoch_s)} ({ban.reason}); not calling the exchange before then",
            until_epoch_s=ban.until_epoch_s,
        )  # fmt: skip


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
