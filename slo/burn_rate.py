"""Burn rates: how fast a window spends the error budget, relative to spending it exactly over the SLO window.

burn rate = (bad / total over the window) / (1 − objective). A burn rate of 1 spends the budget
exactly by the end of the SLO window; 14.4 over an hour spends 2 % of a 30-day budget in that hour.

`rates` evaluates a window at many instants at once: cumulative sums, one pass.
`condition` is the multiwindow rule of the SRE workbook, with the low-traffic guard: the long and
the short window both burn at least the threshold, and the long window saw at least `min_events`
events of which at least `min_bad` bad (a slice with three orders a night does not page on one
failure; nor does a slice of a dozen, where one failure alone is 8 % bad).
"""

from __future__ import annotations

import numpy as np

WINDOWS = {"5m": 5, "30m": 30, "1h": 60, "6h": 360, "3d": 4320}


def window_sums(counts: np.ndarray, ends: np.ndarray, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """(bad, total) over the `minutes` before each end index (exclusive) of `counts` (2 × n)."""
    cum = np.zeros((2, counts.shape[1] + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=cum[:, 1:])
    starts = np.maximum(ends - minutes, 0)
    good = cum[0, ends] - cum[0, starts]
    bad = cum[1, ends] - cum[1, starts]
    return bad, good + bad


def rates(counts: np.ndarray, ends: np.ndarray, minutes: int, objective: float) -> tuple[np.ndarray, np.ndarray]:
    """(burn rate, total events) over the window ending at each index; 0 where the window saw nothing."""
    bad, total = window_sums(counts, ends, minutes)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(total > 0, bad / np.maximum(total, 1), 0.0)
    return ratio / (1.0 - objective), total


def condition(
    counts: np.ndarray,
    ends: np.ndarray,
    objective: float,
    threshold: float,
    long_minutes: int,
    short_minutes: int,
    min_events: int,
    min_bad: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether the alert condition holds at each end index, with the long and short burn rates."""
    long_bad, _ = window_sums(counts, ends, long_minutes)
    long_rate, long_total = rates(counts, ends, long_minutes, objective)
    short_rate, _ = rates(counts, ends, short_minutes, objective)
    holds = (long_rate >= threshold) & (short_rate >= threshold) & (long_total >= min_events) & (long_bad >= min_bad)
    return holds, long_rate, short_rate
