"""Which idempotency keys (tenant, source, id) are already stored, answered without a query per event.

The index holds a 64-bit fingerprint per stored event: a sorted numpy array loaded from
`events.key_hash` at start (8 bytes an event: 80 MB at 10M events) plus a set of the fingerprints
written since, folded into the array when it grows. A fingerprint hit is only a candidate: the
writer confirms candidates against the events table by their exact key, so a fingerprint collision
can never turn a new event into a "duplicate".
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class KeyIndex:
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
