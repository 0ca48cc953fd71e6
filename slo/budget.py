"""Minute buckets of (good, bad) per slice, and error budgets over them.

An SLO's rows from `slo/sli.py` land in `MinuteBuckets`: one pair of arrays per slice, indexed by
Unix minute. A slice is the whole SLO (no labels) or one value of one dimension it is sliced by
(`channel=edi`, `warehouse=dc-east`, `carrier=ups`); a row with an empty dimension counts in the
whole SLO only. Every window sum is a difference of cumulative sums, so a month of minutes costs
one pass.

Budgeting: with occurrences every event counts; with timeslices every minute counts, good when
its ratio of good events reaches the time-slice target (a minute without events is good).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

Labels = tuple[tuple[str, str], ...]
ALL: Labels = ()


def slices_of(dims: Labels, slice_by: tuple[str, ...]) -> list[Labels]:
    """The slices one row counts in: the whole SLO, and one per non-empty dimension it is sliced by."""
    out: list[Labels] = [ALL]
    for name, value in dims:
        if value and name in slice_by:
            out.append(((name, value),))
    return out


class MinuteBuckets:
    """(good, bad) counts per minute and slice over a growing range of minutes."""

    def __init__(self, slice_by: tuple[str, ...]) -> None:
        self.slice_by = slice_by
        self.origin: int | None = None
        self.size = 0
        self.series: dict[Labels, np.ndarray] = {}  # slice → int64 array of shape (2, size): good, bad

    @property
    def end(self) -> int:
        return (self.origin or 0) + self.size

    def _cover(self, lo: int, hi: int) -> None:
        if self.origin is None:
            self.origin, self.size = lo, max(hi - lo, 0)
            return
        new_origin = min(self.origin, lo)
        new_end = max(self.end, hi)
        if new_origin == self.origin and new_end == self.end:
            return
        grown = new_end - new_origin
        shift = self.origin - new_origin
        for key, arr in self.series.items():
            bigger = np.zeros((2, grown), dtype=np.int64)
            bigger[:, shift : shift + self.size] = arr
            self.series[key] = bigger
        self.origin, self.size = new_origin, grown

    def replace(self, lo: int, hi: int, rows: Iterable[tuple[int, Labels, int, int]]) -> None:
        """Set minutes [lo, hi) to exactly these rows (what a query over that range returned)."""
        self._cover(lo, hi)
        assert self.origin is not None
        a, b = lo - self.origin, hi - self.origin
        for arr in self.series.values():
            arr[:, a:b] = 0
        by_dims: dict[Labels, list[tuple[int, int, int]]] = {}
        for minute, dims, good, bad in rows:
            if lo <= minute < hi:
                by_dims.setdefault(dims, []).append((minute - self.origin, good, bad))
        for dims, points in by_dims.items():
            cols = np.array(points, dtype=np.int64).T  # index, good, bad
            for key in slices_of(dims, self.slice_by):
                target = self.series.get(key)
                if target is None:
                    target = self.series[key] = np.zeros((2, self.size), dtype=np.int64)
                np.add.at(target[0], cols[0], cols[1])
                np.add.at(target[1], cols[0], cols[2])

    def trim(self, keep_from: int) -> None:
        """Forget minutes before `keep_from` (older than every window evaluated)."""
        if self.origin is None or keep_from <= self.origin:
            return
        cut = min(keep_from - self.origin, self.size)
        for key in list(self.series):
            self.series[key] = self.series[key][:, cut:]
        self.origin += cut
        self.size -= cut

    def counts(self, key: Labels, lo: int, hi: int, timeslice_target: float | None = None) -> np.ndarray:
        """(2, hi - lo) array of good, bad for minutes [lo, hi); minutes outside the range held are 0.

        With a time-slice target the counts are minutes: (1, 0) for a good minute, (0, 1) for a bad one.
        """
        out = np.zeros((2, max(hi - lo, 0)), dtype=np.int64)
        arr = self.series.get(key)
        if arr is not None and self.origin is not None:
            a, b = max(lo, self.origin), min(hi, self.end)
            if a < b:
                out[:, a - lo : b - lo] = arr[:, a - self.origin : b - self.origin]
        if timeslice_target is not None:
            return timeslices(out, timeslice_target)
        return out


def timeslices(counts: np.ndarray, target: float) -> np.ndarray:
    """Per-minute events → per-minute verdicts: a minute is bad when its good ratio is below target."""
    good, bad = counts
    total = good + bad
    with np.errstate(invalid="ignore", divide="ignore"):
        bad_minute = (total > 0) & (good < target * total)
    return np.stack([(~bad_minute).astype(np.int64), bad_minute.astype(np.int64)])


@dataclass(frozen=True, slots=True)
class Budget:
    good: int
    bad: int
    objective: float

    @property
    def total(self) -> int:
        return self.good + self.bad

    @property
    def attainment(self) -> float | None:
        return self.good / self.total if self.total else None

    @property
    def remaining(self) -> float:
        """Share of the error budget left: 1 untouched, 0 spent, negative overspent."""
        if not self.total:
            return 1.0
        return 1.0 - (self.bad / self.total) / (1.0 - self.objective)


def budget(counts: np.ndarray, objective: float) -> Budget:
    return Budget(int(counts[0].sum()), int(counts[1].sum()), objective)
