"""Correlating across partitions: the OCEL order-management log split over Kafka partitions by the
routing key and folded in partition by partition, in any interleaving, gives the journeys of the
log applied in time order — identities, memberships and states alike."""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from correlator.graph import JourneyGraph
from correlator.state import journey_state
from tests.support.ocel import OCEL_ORDER_MANAGEMENT, expected_journey_events, load_ocel, ocel_to_canonical
from tower.events import Event, validate_event
from tower.kafka import kafka_seq, routing_key
from tower.settings import DEFAULT_OBJECT_LEVELS

PARTITIONS = 6


@pytest.fixture(scope="module")
def ocel() -> tuple[dict[str, Any], list[Event]]:
    log = load_ocel(OCEL_ORDER_MANAGEMENT)
    events = []
    for raw in ocel_to_canonical(log):
        event, problems = validate_event(raw, "")
        assert event is not None, problems
        events.append(event)
    return log, events


def summary(graph: JourneyGraph) -> dict[str, Any]:
    out = {}
    for journey_id, journey in graph.journeys.items():
        objects = {o: graph.objects[o] for o in journey.objects if o in graph.objects}
        state = journey_state(journey_id, (graph.records[s] for s in journey.events), objects, graph.find)
        out[journey_id] = {
            "events": sorted(graph.records[s].id for s in journey.events),
            "objects": sorted(objects),
            "stage": state["stage"],
            "status": state["status"],
            "durations": state["durations"],
            "anomalies": sorted(a["kind"] for a in state["anomalies"]),
        }
    return out


def partitioned(events: list[Event]) -> dict[int, list[tuple[int, Event]]]:
    """Each partition's messages as Kafka's default partitioner places them, with their seqs."""
    partitioner = DefaultPartitioner()
    every = list(range(PARTITIONS))
    parts: dict[int, list[tuple[int, Event]]] = {p: [] for p in every}
    for event in events:
        p = partitioner(routing_key(event), every, every)
        parts[p].append((kafka_seq(p, len(parts[p])), event))
    return parts


def interleavings(parts: dict[int, list[tuple[int, Event]]]) -> dict[str, list[tuple[int, Event]]]:
    rng = random.Random(8)
    whole = {
        f"whole partitions in order {order}": [m for p in order for m in parts[p]]
        for order in ([0, 1, 2, 3, 4, 5], [5, 3, 1, 4, 2, 0])
    }
    # Round robin in random-sized slices, as a consumer's fetches would hand them over.
    cursors = {p: 0 for p in parts}
    mixed: list[tuple[int, Event]] = []
    while any(cursors[p] < len(parts[p]) for p in parts):
        p = rng.choice([p for p in parts if cursors[p] < len(parts[p])])
        n = rng.randint(1, 400)
        mixed.extend(parts[p][cursors[p] : cursors[p] + n])
        cursors[p] += n
    return {**whole, "random slices": mixed}


def test_journeys_do_not_depend_on_how_partitions_interleave(ocel: tuple[dict[str, Any], list[Event]]) -> None:
    log, events = ocel
    in_time_order = JourneyGraph(DEFAULT_OBJECT_LEVELS)
    for i, event in enumerate(sorted(events, key=lambda e: (e.time, e.id)), start=1):
        in_time_order.apply(event, i)
    expected = summary(in_time_order)
    assert len(expected) == 2_000
    by_log = expected_journey_events(log)
    assert sorted(sorted(j["events"]) for j in expected.values()) == sorted(sorted(v) for v in by_log.values())

    parts = partitioned(events)
    assert all(len(messages) > 2_000 for messages in parts.values())  # the log really is spread out
    for name, messages in interleavings(parts).items():
        graph = JourneyGraph(DEFAULT_OBJECT_LEVELS)
        for seq, event in messages:
            graph.apply(event, seq)
        got = summary(graph)
        assert got.keys() == expected.keys(), name
        wrong = [j for j in expected if got[j] != expected[j]]
        assert wrong == [], (name, len(wrong), wrong[:3])
