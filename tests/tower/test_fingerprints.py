"""The fingerprint index the writer consults before confirming duplicates against the store."""

from __future__ import annotations

import numpy as np

from tower.events import event_key_hash
from tower.fingerprints import KeyIndex


def test_stored_and_recent_fingerprints_are_candidates_and_others_are_not() -> None:
    stored = np.array([event_key_hash("", "s", f"e{i}") for i in range(1000)], dtype=np.uint64)
    index = KeyIndex(stored)
    index.add([event_key_hash("", "s", "new-1")])
    probes = [
        event_key_hash("", "s", "e5"),
        event_key_hash("", "s", "new-1"),
        event_key_hash("", "s", "e1000"),
        event_key_hash("acme", "s", "e5"),
    ]
    assert index.candidates(probes) == [True, True, False, False]


def test_folding_keeps_every_fingerprint() -> None:
    index = KeyIndex()
    index.FOLD_AT = 10
    hashes = [event_key_hash("", "s", f"x{i}") for i in range(35)]
    index.add(hashes)
    assert len(index) == 35
    assert all(index.candidates(hashes))
    assert index.candidates([event_key_hash("", "s", "y")]) == [False]
