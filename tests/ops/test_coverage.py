"""Gap arithmetic: ranges are inclusive; every id of a gap lands in exactly one piece."""

from __future__ import annotations

import pytest

from schemahub_lib.ops.coverage import classify, covered, merge, split


def test_merge_joins_overlapping_and_adjacent_ranges():
    assert merge([(10, 12), (1, 3), (4, 4), (11, 20), (30, 31)]) == [(1, 4), (10, 20), (30, 31)]
    assert merge([]) == []


@pytest.mark.parametrize(
    ("gap", "ranges", "inside", "outside"),
    [
        ((10, 20), [], [], [(10, 20)]),
        ((10, 20), [(1, 9), (21, 30)], [], [(10, 20)]),
        ((10, 20), [(5, 12), (15, 15), (19, 40)], [(10, 12), (15, 15), (19, 20)], [(13, 14), (16, 18)]),
        ((10, 20), [(0, 100)], [(10, 20)], []),
        ((7, 7), [(7, 7)], [(7, 7)], []),
    ],
)
def test_split_partitions_the_gap(gap, ranges, inside, outside):
    got_in, got_out = split(gap, ranges)
    assert (got_in, got_out) == (inside, outside)
    ids = sorted(i for a, b in got_in + got_out for i in range(a, b + 1))
    assert ids == list(range(gap[0], gap[1] + 1))


def test_classify_orders_marks_then_skipped_then_landed():
    landed = [(100, 150), (170, 200)]  # a walk has not reached 151..169 yet
    pieces = classify((140, 180), marks=[(140, 141)], skipped=[(160, 165)], landed=landed)
    assert pieces == [
        ((140, 141), "unfillable"),
        ((142, 150), "open"),
        ((151, 159), "pending"),
        ((160, 165), "skipped"),
        ((166, 169), "pending"),
        ((170, 180), "open"),
    ]
    assert classify((5, 6), [], [], None) == [((5, 6), "open")]


def test_covered_counts_marked_ids_inside_the_span():
    assert covered([(1, 5), (8, 9), (20, 30)], 4, 25) == 2 + 2 + 6
