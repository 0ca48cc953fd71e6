"""Property: the same events in any arrival order give the same journeys, ids and memberships.

Hypothesis draws small distribution scenarios — orders known by a channel number and later an ERP
number, lines, shared parcels, consolidated loads, late carrier scans — and applies them to the
graph in two random orders. Identity conflicts are left out on purpose: which object an
inconsistent event sides with may depend on arrival order (README, "Conflicts").
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from correlator.graph import JourneyGraph
from tower.events import validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS


@st.composite
def scenarios(draw: st.DrawFn) -> list[dict[str, Any]]:
    n_orders = draw(st.integers(1, 5))
    n_parcels = draw(st.integers(1, 4))
    events: list[dict[str, Any]] = []

    def add(etype: str, minute: int, objects: list[dict[str, Any]], relations: list[list[Any]] | None = None) -> None:
        data: dict[str, Any] = {"objects": objects}
        if relations is not None:
            data["relations"] = relations
        events.append(
            {
                "specversion": "1.0",
                "id": f"e{len(events)}",
                "source": "s",
                "type": etype,
                "time": f"2026-11-20T{minute // 60:02d}:{minute % 60:02d}:00Z",
                "data": data,
            }
        )

    for o in range(n_orders):
        channel = {"type": "order", "ids": {"shop": f"#{o}"}}
        add("order.received", draw(st.integers(0, 100)), [channel])
        if draw(st.booleans()):  # the ERP number arrives on its own, then a link event
            add("order.accepted", draw(st.integers(0, 200)), [{"type": "order", "ids": {"erp": f"SO-{o}"}}])
            add(
                "order.status_synced",
                draw(st.integers(0, 300)),
                [{"type": "order", "ids": {"erp": f"SO-{o}", "shop": f"#{o}"}}],
            )
        for line in range(draw(st.integers(0, 2))):
            add(
                "fulfillment.picked",
                draw(st.integers(0, 400)),
                [{"type": "order", "ids": {"shop": f"#{o}"}}, {"type": "order_line", "ids": {"wms": f"{o}-{line}"}}],
            )
    for p in range(n_parcels):
        parcel = {"type": "shipment", "ids": {"ups": f"1Z{p}"}}
        members = draw(st.lists(st.integers(0, n_orders - 1), min_size=1, max_size=3, unique=True))
        objects = [parcel] + [{"type": "order", "ids": {"shop": f"#{o}"}} for o in members]
        add(
            "shipment.manifested", draw(st.integers(0, 500)), objects, [[0, i] for i in range(1, len(objects))]
        )  # the parcel to each order, not the orders to each other
        for scan in ("shipment.in_transit", "shipment.delivered"):
            if draw(st.booleans()):
                add(scan, draw(st.integers(0, 900)), [parcel])
    if n_parcels > 1 and draw(st.booleans()):
        add(
            "load.departed",
            draw(st.integers(0, 900)),
            [
                {"type": "load", "ids": {"bol": "B1"}},
                {"type": "shipment", "ids": {"ups": "1Z0"}},
                {"type": "shipment", "ids": {"ups": "1Z1"}},
            ],
            [[0, 1], [0, 2]],
        )
    return events


def outcome(events: list[dict[str, Any]]) -> dict[str, Any]:
    graph = JourneyGraph(DEFAULT_OBJECT_LEVELS)
    for seq, raw in enumerate(events, start=1):
        event, problems = validate_event(raw)
        assert event is not None, problems
        graph.apply(event, seq)
    return {
        journey_id: (
            sorted(graph.records[s].id for s in journey.events),
            sorted(tuple(sorted(graph.objects[o].ids.items())) for o in journey.objects),
        )
        for journey_id, journey in graph.journeys.items()
    }


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_same_journeys(events: list[dict[str, Any]], rnd: random.Random) -> None:
    expected = outcome(events)
    shuffled = events[:]
    rnd.shuffle(shuffled)
    assert outcome(shuffled) == expected
    assert outcome(list(reversed(events))) == expected
