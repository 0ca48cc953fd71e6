"""A set of 64-bit fingerprints that answers "maybe seen" without a query and without an object per key.

A sorted numpy array (8 bytes a key: 80 MB for 10M keys) plus a small set of recent additions,
folded into the array when it grows. A hit is only a candidate, to be confirmed where the truth
is kept. The collector's writer holds one over stored idempotency keys (tenant, source, id),
confirmed against the events table so a collision can never turn a new event into a duplicate;
the correlator holds one over the identifiers of journeys it evicted, so only events that may
name an evicted journey cost a lookup in the store.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class KeyIndex:
    """The fingerprint set; `candidates` answers a batch at once."""

    FOLD_AT = 500_000

    def __init__(self, stored: np.ndarray | None = None) -> None:
        self._sorted = (
            np.unique(stored.astype(np.uint64)) if stored is not None and len(stored) else np.empty(0, dtype=np.uint64)
        )
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def candidates(self, hashes: list[int]) -> list[bool]:
        """For each fingerprint, whether an event with it may already be stored."""
        if not hashes:
            return []
        found = [h in self._recent for h in hashes]
        if len(self._sorted):
            probe = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
            pos = np.searchsorted(self._sorted, probe)
            pos[pos >= len(self._sorted)] = 0
            in_sorted = self._sorted[pos] == probe
            found = [a or bool(b) for a, b in zip(found, in_sorted, strict=True)]
        return found

    def add(self, hashes: Iterable[int]) -> None:
        self._recent.update(hashes)
        if len(self._recent) >= self.FOLD_AT:
            self.fold()

    def fold(self) -> None:
        if not self._recent:
            return
        merged = np.concatenate([self._sorted, np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))])
        self._sorted = np.unique(merged)
        self._recent = set()
