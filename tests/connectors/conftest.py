"""Fixtures for the connector tests: a loopback HTTP server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.support import Loopback, running


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    with running() as server:
        yield server
