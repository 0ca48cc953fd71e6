"""A correlator restored from its snapshot holds the graph it snapshotted, in this release's form
(dataclasses as tuples of their fields) and in the form snapshots were taken before it."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.app import MIGRATIONS
from correlator.engine import _FIELDS_OF, SNAPSHOT_PARTS, Correlator, _pack, _unpack
from correlator.model import JOURNEY_INDEXED_FROM, Journey
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
        # One string per object id wherever the graph names it, as in the graph that took the snapshot
        # (each piece used to restore a copy of its own).
        g2 = again.graph
        ids = {id(o.id) for o in g2.objects.values()}
        named = [
            *(x for r in g2.records.values() for x in r.lowest),
            *(n for o in g2.objects.values() for n in o.neighbours),
            *(j for o in g2.objects.values() for j in o.reach),
            *(x for j in g2.journeys.values() for x in (j.id, *j.objects)),
            *g2.identifiers.values(),
        ]
        assert len(named) > 3 * len(ids) and all(id(x) in ids for x in named)
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

        # As a snapshot taken while a journey's events and an object's reach were sets, its
        # provenance a dict, and before it said whether it had an audit.
        journeys = [(j.id, j.tenant, j.objects, set(j.events)) for j in g.journeys.values()]
        objects = [
            (*f[:5], {ns: (src, eid, t) for ns, src, eid, t in f[5]}, *f[6:8], set(f[8]), *f[9:-1])
            for f in map(_FIELDS_OF["objects"], g.objects.values())
        ]
        sets = [("meta", old[0][1]), ("objects:fields", objects), ("journeys:fields", journeys)]
        rows = [["default", seq + 1, i, len(sets), _pack(pickle.dumps(p, protocol=5)), now] for i, p in enumerate(sets)]
        store.insert_rows(
            "correlator_snapshots", rows, ["name", "seq", "chunk", "chunks", "data", "taken_at"], role="correlator"
        )
        from_sets = restored(store).graph.journeys
        assert {j: sorted(x.events) for j, x in from_sets.items()} == {
            j: sorted(x.events) for j, x in g.journeys.items()
        }
        assert all(x.has(x.events[-1]) and not x.has(0) for x in from_sets.values())
        unaudited = restored(store).graph.objects
        assert {o.audited for o in unaudited.values()} == {None}  # not known: the page reads their audit
        assert {k: dataclasses.replace(o, audited=False) for k, o in unaudited.items()} == g.objects
    finally:
        store.close()


def test_a_journeys_events_are_kept_once_each_and_indexed_once_it_is_large() -> None:
    journey = Journey("order-1", "acme", {"order-1"})
    seqs = range(1, 3 * JOURNEY_INDEXED_FROM)
    for seq in [*seqs, *seqs[::3], *seqs[::-7]]:  # every seq, then some again
        if not journey.has(seq):
            journey.add(seq)
    assert list(journey.events) == list(seqs)
    assert journey.index == set(seqs)
    # A snapshot keeps the array; the index is made again on load.
    fields = _FIELDS_OF["journeys"](journey)
    assert len(fields) == 4
    again = Journey(*pickle.loads(pickle.dumps(fields)))
    assert again == journey and again.has(seqs[-1]) and not again.has(seqs[-1] + 1)
