"""The batch's pure helpers: time ranges that bound the anti-join, and task counts."""

from __future__ import annotations

from schemahub_lib.unify.batch import SourceStats, time_ranges, write_partitions

DAY = 86_400_000_000


def test_time_ranges_merge_consecutive_days_across_sources_and_widen_by_the_margin() -> None:
    coinbase = SourceStats(
        3, {"BTC-USD"}, {100: (100 * DAY + 5, 100 * DAY + 50), 101: (101 * DAY, 101 * DAY + 9)}
    )
    kraken = SourceStats(
        2, {"XXBTZUSD"}, {100: (100 * DAY + 1, 100 * DAY + 7), 104: (104 * DAY + 3, 104 * DAY + 4)}
    )
    assert time_ranges([coinbase, kraken], margin_us=1) == [
        (100 * DAY + 1 - 1, 101 * DAY + 9 + 1),  # days 100 and 101: earliest to latest trade
        (104 * DAY + 3 - 1, 104 * DAY + 4 + 1),  # day 104 alone: the days between are not read
    ]
    assert time_ranges([SourceStats()]) == []


def test_write_partitions_keep_every_core_busy_without_slivers() -> None:
    assert write_partitions(50, cores=2) == 1
    assert write_partitions(150_000, cores=2) == 1
    assert write_partitions(200_000, cores=2) == 2
    assert write_partitions(1_000_000, cores=2) == 2
    assert write_partitions(1_000_000, cores=16) == 10
