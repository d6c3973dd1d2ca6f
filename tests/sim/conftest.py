"""Simulator test fixtures: a fresh simulator per test (test defaults) and a keep-alive client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from schemahub_lib.sim.testing import sim_fixture

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"

sim = sim_fixture()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def load_fixture(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())
