"""Retrying catalog commits that lost a race: another writer moved the table, or SQLite was busy."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from pyiceberg.exceptions import CommitFailedException
from sqlalchemy.exc import OperationalError

from schemahub_lib.errors import CommitConflictError
from schemahub_lib.logs import log_event

T = TypeVar("T")

MAX_ATTEMPTS = 30
BASE_DELAY_S = 0.05
MAX_DELAY_S = 2.0


def is_transient_commit_error(exc: BaseException) -> bool:
    """Lost an optimistic commit, or the SQLite catalog was locked by another writer."""
    if isinstance(exc, CommitFailedException | CommitConflictError):
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()


def retry_commit(attempt: Callable[[], T], *, what: str, max_attempts: int = MAX_ATTEMPTS) -> T:
    """Call `attempt` until it does not raise a transient commit error (jittered backoff).

    `attempt` must reload the table itself: each call starts from the catalog's current state.
    """
    rng = random.Random()
    for n in range(1, max_attempts + 1):
        try:
            return attempt()
        except Exception as exc:
            if not is_transient_commit_error(exc) or n == max_attempts:
                raise
            delay = rng.uniform(0, min(MAX_DELAY_S, BASE_DELAY_S * 2 ** min(n, 8)))
            log_event("commit.retry", what=what, attempt=n, delay_s=round(delay, 3), error=str(exc)[:200])
            time.sleep(delay)
    raise AssertionError("unreachable")
