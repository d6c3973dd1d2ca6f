"""Running streams (schemahub_lib/landing/execute.py): the collector setting around a run."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from schemahub_lib.landing.execute import YOUNG_GC_THRESHOLD, young_gc_threshold


@pytest.fixture
def thresholds() -> Iterator[tuple[int, ...]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_young_collections_wait_for_a_few_pages_of_garbage(thresholds: tuple[int, ...]) -> None:
    gc.set_threshold(700, 10, 10)  # Python's default
    with young_gc_threshold(YOUNG_GC_THRESHOLD):
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_setting_is_kept_and_restored_after_an_error(thresholds: tuple[int, ...]) -> None:
    gc.set_threshold(200_000, 5, 5)
    with pytest.raises(RuntimeError), young_gc_threshold(YOUNG_GC_THRESHOLD):
        assert gc.get_threshold() == (200_000, 5, 5)
        raise RuntimeError("a stream body failed")
    assert gc.get_threshold() == (200_000, 5, 5)
