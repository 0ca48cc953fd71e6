"""The object model of DESIGN.md, in-process: levels, reach, membership, merges, order independence."""

from __future__ import annotations

import itertools
import random
from typing import Any

from correlator.graph import JourneyGraph
from correlator.state import journey_state
from tower.events import Event, validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS

LEVELS: dict[str, int | None] = {**DEFAULT_OBJECT_LEVELS, "container": 4, "truck": 6}


def ev(eid: str, etype: str, minute: int, *objects: tuple[str, str], relations: Any = None) -> Event:
    data: dict[str, Any] = {"objects": [{"type": t, "ids": {"sys": i}} for t, i in objects]}
    if relations is not None:
        data["relations"] = relations
    event, problems = validate_event(
        {
            "specversion": "1.0",
            "id": eid,
            "source": "test",
            "type": etype,
            "time": f"2026-11-20T10:{minute:02d}:00Z",
            "data": data,
        }
    )
    assert event is not None, problems
    return event


def build(events: list[Event], levels: dict[str, int | None] = LEVELS) -> JourneyGraph:
    graph = JourneyGraph(levels)
    for seq, e in enumerate(events, start=1):
        graph.apply(e, seq)
    return graph


def journey_events(graph: JourneyGraph, order: str) -> set[str]:
    journey_id = graph.find(graph.identifiers[("", "order", "sys", order)])
    return {graph.records[s].id for s in graph.journeys[journey_id].events}


TRUCK = [
    ev("a", "order.received", 0, ("order", "A")),
    ev("b", "order.received", 1, ("order", "B")),
    ev("pa", "shipment.manifested", 2, ("order", "A"), ("shipment", "SA")),
    ev("pb", "shipment.manifested", 3, ("order", "B"), ("shipment", "SB")),
    ev("ca", "shipment.loaded", 4, ("shipment", "SA"), ("container", "C1")),
    ev("cb", "shipment.loaded", 5, ("shipment", "SB"), ("container", "C2")),
    ev("t1", "load.loaded", 6, ("container", "C1"), ("truck", "T")),
    ev("t2", "load.loaded", 7, ("container", "C2"), ("truck", "T")),
    ev("go", "load.departed", 8, ("truck", "T")),
    ev("inv", "order.invoiced", 9, ("invoice", "INV-1"), ("order", "A"), ("order", "B"), relations=[[0, 1], [0, 2]]),
]


def test_a_trucks_departure_shows_in_every_journey_aboard_but_not_another_orders_loading() -> None:
    graph = build(TRUCK)
    assert journey_events(graph, "A") == {"a", "pa", "ca", "t1", "go", "inv"}
    assert journey_events(graph, "B") == {"b", "pb", "cb", "t2", "go", "inv"}


def test_membership_follows_the_graph_not_arrival_order() -> None:
    expected = {o: journey_events(build(TRUCK), o) for o in ("A", "B")}
    for seed in range(20):
        shuffled = random.Random(seed).sample(TRUCK, len(TRUCK))
        graph = build(shuffled)
        assert {o: journey_events(graph, o) for o in ("A", "B")} == expected, seed


def test_no_order_picks_up_another_orders_lines_through_a_shared_package() -> None:
    graph = build(
        [
            ev("1", "order.received", 0, ("order", "A"), ("order_line", "A-1")),
            ev("2", "order.received", 1, ("order", "B"), ("order_line", "B-1")),
            ev("3", "fulfillment.packed", 2, ("shipment", "P"), ("order_line", "A-1"), ("order_line", "B-1")),
            ev("4", "fulfillment.picked", 3, ("order_line", "B-1")),
            ev("5", "shipment.delivered", 4, ("shipment", "P")),
        ]
    )
    assert journey_events(graph, "A") == {"1", "3", "5"}
    assert journey_events(graph, "B") == {"2", "3", "4", "5"}


def test_unconfigured_types_are_context_until_given_a_level() -> None:
    events = [
        ev("1", "order.received", 0, ("order", "A"), ("tote", "T9")),
        ev("2", "tote.scanned", 1, ("tote", "T9")),
    ]
    assert journey_events(build(events), "A") == {"1"}
    assert journey_events(build(events, {**LEVELS, "tote": 2}), "A") == {"1", "2"}


def test_reference_objects_never_carry_a_journey() -> None:
    graph = build(
        [
            ev("1", "order.received", 0, ("order", "A"), ("product", "SKU-1")),
            ev("2", "order.received", 1, ("order", "B"), ("product", "SKU-1")),
            ev("3", "inventory.reordered", 2, ("product", "SKU-1")),
        ]
    )
    assert journey_events(graph, "A") == {"1"}
    assert journey_events(graph, "B") == {"2"}


def test_merge_and_rekey_give_the_same_ids_in_any_arrival_order() -> None:
    # Two identifiers in two namespaces, seen in different events, then linked.
    linked = [
        {
            "specversion": "1.0",
            "id": "r",
            "source": "shop",
            "type": "order.received",
            "time": "2026-11-20T10:00:00Z",
            "data": {"objects": [{"type": "order", "ids": {"shop": "#1"}}]},
        },
        {
            "specversion": "1.0",
            "id": "a",
            "source": "erp",
            "type": "order.accepted",
            "time": "2026-11-20T10:05:00Z",
            "data": {"objects": [{"type": "order", "ids": {"erp": "SO-1"}}]},
        },
        {
            "specversion": "1.0",
            "id": "l",
            "source": "erp",
            "type": "order.status_synced",
            "time": "2026-11-20T11:00:00Z",
            "data": {
                "objects": [
                    {"type": "order", "ids": {"erp": "SO-1", "shop": "#1"}},
                    {"type": "shipment", "ids": {"ups": "1Z"}},
                ]
            },
        },
        {
            "specversion": "1.0",
            "id": "d",
            "source": "ups",
            "type": "shipment.delivered",
            "time": "2026-11-21T11:00:00Z",
            "data": {"objects": [{"type": "shipment", "ids": {"ups": "1Z"}}]},
        },
    ]
    parsed = [validate_event(e)[0] for e in linked]
    results = set()
    for perm in itertools.permutations(parsed):
        graph = JourneyGraph(LEVELS)
        for seq, e in enumerate(perm, start=1):
            assert e is not None
            graph.apply(e, seq)
        assert len(graph.journeys) == 1
        ((jid, journey),) = graph.journeys.items()
        state = journey_state(
            jid, (graph.records[s] for s in journey.events), {o: graph.objects[o] for o in journey.objects}, graph.find
        )
        results.add((jid, state["stage"], state["status"], tuple(sorted(graph.records[s].id for s in journey.events))))
        assert graph.find(graph.identifiers[("", "order", "erp", "SO-1")]) == jid
    assert len(results) == 1
