"""A correlator restored from its snapshot holds the graph it snapshotted, in this release's form
(dataclasses as tuples of their fields) and in the form snapshots were taken before it."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.app import MIGRATIONS
from correlator.engine import SNAPSHOT_PARTS, Correlator, _pack, _unpack
from tests.support.ocel import OCEL_ORDER_MANAGEMENT, load_ocel, ocel_to_canonical
from tower.bus import InProcessBus
from tower.events import validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS
from tower.store import Store


def graph_of(correlator: Correlator) -> dict[str, Any]:
    g = correlator.graph
    return {
        **{part: dict(getattr(g, part)) for part in SNAPSHOT_PARTS},
        "watermark_us": g.watermark_us,
        "evicted": len(g.evicted),
        "terminal": dict(correlator.terminal),
        "open": dict(correlator.open),
    }


def restored(store: Store) -> Correlator:
    correlator = Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=20 * 86_400)
    correlator.load()
    return correlator


def test_a_restart_restores_the_graph_from_either_form_of_snapshot(tmp_path: Path) -> None:
    events = []
    for raw in ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT))[:6_000]:
        event, problems = validate_event(raw, "")
        assert event is not None, problems
        events.append(event)
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        store.migrate(MIGRATIONS)
        correlator = Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=20 * 86_400)
        correlator.step(list(enumerate(events, start=1)))
        assert correlator.stats.evicted_journeys > 0  # finished journeys left: the snapshot holds the rest
        correlator.snapshot()
        expected = graph_of(correlator)
        assert len(expected["records"]) > 500 and expected["objects"] and expected["parent"] == {}

        again = restored(store)
        assert again.applied_seq == len(events)
        assert graph_of(again) == expected
        pieces = store.query("SELECT data FROM {db}.correlator_snapshots ORDER BY chunk", binary=("data",))
        kinds = [pickle.loads(_unpack(data))[0] for (data,) in pieces]
        assert kinds == ["meta", "objects:fields", "journeys:fields", "records:fields", "identifiers"]  # no parent

        # The same graph as a snapshot taken before this release stored it: (key, instance) pairs.
        g = correlator.graph
        old: list[tuple[str, Any]] = [
            ("meta", (g.watermark_us, correlator.terminal, g.evicted, correlator.positions, correlator.open))
        ]
        old += [(part, list(getattr(g, part).items())) for part in SNAPSHOT_PARTS]
        seq = len(events) + 1
        now = datetime.now(UTC)
        rows = [["default", seq, i, len(old), _pack(pickle.dumps(p, protocol=5)), now] for i, p in enumerate(old)]
        store.insert_rows(
            "correlator_snapshots", rows, ["name", "seq", "chunk", "chunks", "data", "taken_at"], role="correlator"
        )
        before = restored(store)
        assert before.applied_seq == seq
        assert graph_of(before) == expected
    finally:
        store.close()
