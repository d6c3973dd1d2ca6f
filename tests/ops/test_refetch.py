"""Refetch against the simulator, for every registered exchange as its connector pages: by
time from the trade before the gap, forward by id, or newest first by id.

Small pages make the walk cross many cursors; the answer must be the simulator's ground
truth: every trade of the range, and as absent exactly the ids it never issued.
"""

from __future__ import annotations

import pytest

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.connectors.base import Connector, Cursor
from schemahub_lib.ops.refetch import confirm_absent, first_cursor, ranges_of, refetch_range, time_before
from schemahub_lib.sim.catalog import VENUE_STYLES
from schemahub_lib.sim.market import MAX_FILLS
from schemahub_lib.sim.testing import running_sim
from tests.connectors.support import make_client
from tests.registry import STREAMS

PAIR = "XBTUSD"


def _connector(name: str, url: str, page_limit: int) -> Connector:
    return CONNECTORS[name](make_client(name, url), page_limit=page_limit)


def _pick_gap(truth, width: int) -> tuple[int, int, int]:
    """A range of about `width` ids well inside the history, and the ns time of the id before it."""
    ids = truth.trade_id.tolist()
    start = len(ids) // 3
    a, b = ids[start] + 1, ids[start + width]
    return a, b, int(truth.time_ns[start])


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_a_range_comes_back_whole_and_only_never_issued_ids_are_absent(name: str) -> None:
    product = STREAMS[name][1]
    with running_sim(id_gap_rate={name: 0.05}) as sim:
        truth = sim.truth(name, product)
        a, b, after_ns = _pick_gap(truth, 60)
        inside = [i for i in truth.trade_id.tolist() if a <= i <= b]
        never = [i for i in truth.never_issued if a <= i <= b]
        assert never and len(inside) >= 50  # the range holds both kinds of id

        # A time-paged venue stamping whole milliseconds cannot page through a millisecond holding
        # more trades than a page (test_bitfinex.py: it fails rather than skip them): pages here
        # hold one order's fills.
        coarse = CONNECTORS[name].pages_by_time and VENUE_STYLES[name].time_unit_ns > 1
        limit = MAX_FILLS + 1 if coarse else 7
        got = refetch_range(_connector(name, sim.urls[name], limit), name, product, (a, b), after_ns)

    assert sorted(got.trades) == inside
    assert got.pages >= len(inside) // limit  # it walked page by page
    assert got.absent((a, b)) == ranges_of(never)
    covered = ranges_of([i for lo, hi in got.proven for i in range(lo, hi + 1)])
    assert covered[0][0] <= a and covered[-1][1] >= b and len(covered) == 1


@pytest.mark.parametrize("inclusive", [True, False], ids=["since-inclusive", "since-exclusive"])
def test_both_readings_of_krakens_since_boundary_give_the_truth(inclusive: bool) -> None:
    with running_sim(id_gap_rate={"kraken": 0.05}, kraken_since_inclusive=inclusive) as sim:
        truth = sim.truth("kraken", PAIR)
        a, b, after_ns = _pick_gap(truth, 60)
        got = refetch_range(_connector("kraken", sim.urls["kraken"], 7), "kraken", PAIR, (a, b), after_ns)
    assert sorted(got.trades) == [i for i in truth.trade_id.tolist() if a <= i <= b]
    assert got.absent((a, b)) == ranges_of([i for i in truth.never_issued if a <= i <= b])


def test_first_cursor_is_the_connectors_own() -> None:
    def first(name: str, after_ns: int | None = 1_767_614_400_123_456_000) -> Cursor:
        return first_cursor(_connector(name, "http://127.0.0.1:9", 10), (101, 120), after_ns)

    assert first("kraken") == Cursor("since", "1767614400123455000", seen_through_id=100)
    assert first("bitfinex") == Cursor("start", "1767614400124", seen_through_id=100)
    assert first("binance") == Cursor("fromId", "101")  # forward from the range's first id
    assert first("coinbase") == first("okx") == Cursor("after", "121")  # down from above it
    with pytest.raises(
        ValueError, match=r"kraken refetch of ids 101\.\.120 needs the time of the trade before"
    ):
        first("kraken", None)


def test_trades_a_fault_swallowed_are_found_by_the_confirming_request() -> None:
    with running_sim(id_gap_rate={"kraken": 0.05}) as sim:
        truth = sim.truth("kraken", PAIR)
        a, b, after_ns = _pick_gap(truth, 40)
        connector = _connector("kraken", sim.urls["kraken"], 10)
        sim.faults.add({"kind": "drop", "exchange": "kraken", "drop": 3, "skip": 1, "count": 1})

        got = refetch_range(connector, "kraken", PAIR, (a, b), after_ns)
        hidden = sorted(sim.truth("kraken", PAIR, from_id=a, to_id=b).hidden)
        absent = got.absent((a, b))
        again = [
            confirm_absent(connector, "kraken", PAIR, c, time_before(got, c[0], after_ns)) for c in absent
        ]

    never = [i for i in truth.never_issued if a <= i <= b]
    assert len(hidden) == 3
    # The walk alone would call the swallowed trades never issued; the second answer has them.
    assert set(hidden) <= {i for lo, hi in absent for i in range(lo, hi + 1)}
    assert sorted(i for r in again for i in r.trades) == hidden
    assert sorted(r for c, one in zip(absent, again, strict=True) for r in one.absent(c)) == ranges_of(never)
