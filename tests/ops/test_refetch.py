"""Kraken refetch against the simulator: paged by time from the trade before the gap.

Small pages make the walk cross many `last` cursors; both readings of `since` at the boundary
(inclusive, exclusive) must give the same answer, and that answer must be the simulator's
ground truth: every trade of the range, and as absent exactly the ids it never issued.
"""

from __future__ import annotations

import pytest

from schemahub_lib.connectors.base import Cursor
from schemahub_lib.connectors.kraken import KrakenConnector
from schemahub_lib.ops.refetch import confirm_absent, first_cursor, ranges_of, refetch_range, time_before
from schemahub_lib.sim.testing import running_sim
from tests.connectors.support import make_client

PAIR = "XBTUSD"


def _connector(sim, page_limit: int) -> KrakenConnector:
    connector = KrakenConnector(make_client("kraken", sim.urls["kraken"]))
    connector.page_limit = page_limit  # type: ignore[misc]
    return connector


def _pick_gap(truth, width: int) -> tuple[int, int, int]:
    """A range of about `width` ids well inside the history, and the ns time of the id before it."""
    ids = truth.trade_id.tolist()
    start = len(ids) // 3
    a, b = ids[start] + 1, ids[start + width]
    return a, b, int(truth.time_ns[start])


@pytest.mark.parametrize("inclusive", [True, False], ids=["since-inclusive", "since-exclusive"])
def test_a_kraken_range_comes_back_whole_and_only_never_issued_ids_are_absent(inclusive):
    with running_sim(id_gap_rate={"kraken": 0.05}, kraken_since_inclusive=inclusive) as sim:
        truth = sim.truth("kraken", PAIR)
        a, b, after_ns = _pick_gap(truth, 60)
        inside = [i for i in truth.trade_id.tolist() if a <= i <= b]
        never = [i for i in truth.never_issued if a <= i <= b]
        assert len(never) >= 2 and len(inside) >= 50  # the range holds both kinds of id

        got = refetch_range(_connector(sim, 7), "kraken", PAIR, (a, b), after_ns)

    assert sorted(got.trades) == inside
    assert got.pages >= len(inside) // 7  # it walked page by page, following `last`
    assert got.absent((a, b)) == ranges_of(never)
    assert got.proven[0][0] == a and got.proven[-1][1] >= b


def test_kraken_first_cursor_starts_before_the_trade_and_skips_it():
    cursor = first_cursor("kraken", (101, 120), 1_767_614_400_123_456_000)

    assert cursor == Cursor("since", "1767614400123455000", seen_through_id=100)
    with pytest.raises(ValueError, match="needs the time of the trade before"):
        first_cursor("kraken", (101, 120))


def test_trades_a_fault_swallowed_are_found_by_the_confirming_request():
    with running_sim(id_gap_rate={"kraken": 0.05}) as sim:
        truth = sim.truth("kraken", PAIR)
        a, b, after_ns = _pick_gap(truth, 40)
        connector = _connector(sim, 10)
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
