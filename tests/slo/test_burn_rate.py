"""Budgets and burn rates against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from slo.budget import MinuteBuckets, budget, slices_of, timeslices
from slo.burn_rate import condition, rates


def series(pairs: list[tuple[int, int]]) -> np.ndarray:
    return np.array(pairs, dtype=np.int64).T


def test_budget_remaining_and_attainment() -> None:
    # 1,000 events, 3 bad, objective 99.5%: 0.3% spent of a 0.5% budget → 40% left
    b = budget(series([(997, 3)]), 0.995)
    assert b.attainment == pytest.approx(0.997)
    assert b.remaining == pytest.approx(1 - 0.003 / 0.005)
    assert budget(series([(90, 10)]), 0.99).remaining == pytest.approx(-9.0)  # ten times overspent
    assert budget(series([(0, 0)]), 0.99).remaining == 1.0 and budget(series([(0, 0)]), 0.99).attainment is None


def test_burn_rate_over_windows_at_many_instants() -> None:
    # ten minutes, 10 events a minute; minutes 6..9 have 2 bad each
    counts = series([(10, 0)] * 6 + [(8, 2)] * 4)
    ends = np.array([6, 8, 10])
    rate_5m, total_5m = rates(counts, ends, 5, 0.99)
    # at 6: minutes 1..5 → 0 bad; at 8: minutes 3..7 → 4 bad of 50; at 10: minutes 5..9 → 8 of 50
    assert total_5m.tolist() == [50, 50, 50]
    assert rate_5m.tolist() == pytest.approx([0.0, (4 / 50) / 0.01, (8 / 50) / 0.01])
    rate_all, _ = rates(counts, ends, 60, 0.99)  # a window longer than the data: what there is
    assert rate_all[-1] == pytest.approx((8 / 100) / 0.01)


def test_multiwindow_condition_needs_both_windows_and_enough_events() -> None:
    # an hour at 20 events a minute, then 5 minutes where a third fail
    counts = series([(20, 0)] * 60 + [(14, 6)] * 5)
    ends = np.array([61, 63, 65])
    holds, long_rate, short_rate = condition(counts, ends, 0.99, 14.4, 60, 5, min_events=10)
    # at 65: last hour holds 30 bad of 1,200 → 2.5% → 2.5x, short 30 of 100 → 30x: long window too low
    assert long_rate[-1] == pytest.approx(2.5) and short_rate[-1] == pytest.approx(30.0)
    assert not holds.any()
    # objective 99.9%: long 25x, short 300x, both ≥ 14.4 from instant 63 (12 bad of 1,200 = 10x: not yet)
    holds, long_rate, _ = condition(counts, ends, 0.999, 14.4, 60, 5, min_events=10)
    assert long_rate.tolist() == pytest.approx([5.0, 15.0, 25.0])
    assert holds.tolist() == [False, True, True]
    # the same ratios on a slice with 5 events in the hour: guarded
    quiet = series([(0, 0)] * 60 + [(0, 1)] + [(1, 0)] * 4)
    holds, long_rate, _ = condition(quiet, np.array([65]), 0.99, 14.4, 60, 5, min_events=10)
    assert long_rate[0] == pytest.approx(20.0) and not holds.any()
    holds, _, _ = condition(quiet, np.array([65]), 0.99, 14.4, 60, 5, min_events=5)
    assert holds.all()


def test_timeslices_judge_each_minute_against_the_slice_target() -> None:
    counts = series([(10, 0), (9, 1), (8, 2), (0, 0)])
    assert timeslices(counts, 0.9).tolist() == [[1, 1, 0, 1], [0, 0, 1, 0]]  # an empty minute is good


def test_buckets_fold_rows_into_slices_and_replace_a_range() -> None:
    b = MinuteBuckets(("channel", "carrier"))
    dims = (("channel", "edi"), ("warehouse", "dc-east"), ("carrier", ""))
    assert slices_of(dims, b.slice_by) == [(), (("channel", "edi"),)]  # empty carrier: the whole SLO only
    b.replace(100, 110, [(101, dims, 3, 1), (105, dims, 2, 0), (120, dims, 9, 9)])  # 120 is outside: ignored
    assert b.counts((), 100, 110).sum(axis=1).tolist() == [5, 1]
    assert b.counts((("channel", "edi"),), 95, 102).tolist() == [[0] * 6 + [3], [0] * 6 + [1]]
    b.replace(104, 112, [(111, dims, 1, 1)])  # a later query over part of the range replaces that part
    assert b.counts((), 100, 112).sum(axis=1).tolist() == [4, 2]
    b.trim(105)
    assert b.origin == 105 and b.counts((), 100, 112).sum(axis=1).tolist() == [1, 1]
