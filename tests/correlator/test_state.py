"""Journey state from events: stage, status, times, on-time, and anomalies."""

from __future__ import annotations

from typing import Any

from correlator.graph import JourneyGraph
from correlator.state import journey_state
from tower.events import validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS


def state_of(*events: tuple[str, str, list[tuple[str, str]], dict[str, Any]]) -> dict[str, Any]:
    graph = JourneyGraph(DEFAULT_OBJECT_LEVELS)
    for seq, (etype, time, objects, facts) in enumerate(events, start=1):
        event, problems = validate_event(
            {
                "specversion": "1.0",
                "id": f"e{seq}",
                "source": "s",
                "type": etype,
                "time": time,
                "data": {"objects": [{"type": t, "ids": {"n": i}} for t, i in objects], "facts": facts},
            }
        )
        assert event is not None, problems
        graph.apply(event, seq)
    ((jid, journey),) = graph.journeys.items()
    return journey_state(
        jid, (graph.records[s] for s in journey.events), {o: graph.objects[o] for o in journey.objects}, graph.find
    )


ORDER = [("order", "A")]
S1 = [("order", "A"), ("shipment", "1")]
S2 = [("order", "A"), ("shipment", "2")]


def test_an_order_is_delivered_when_its_last_shipment_is() -> None:
    events = [
        (
            "order.received",
            "2026-11-20T10:00:00Z",
            ORDER,
            {"promised_ship_date": "2026-11-20", "promised_delivery_date": "2026-11-23T18:00:00Z"},
        ),
        ("order.accepted", "2026-11-20T10:05:00Z", ORDER, {}),
        ("shipment.manifested", "2026-11-20T15:00:00Z", S1, {}),
        ("shipment.manifested", "2026-11-20T16:00:00Z", S2, {}),
        ("shipment.in_transit", "2026-11-20T20:00:00Z", S1, {}),
        ("shipment.delivered", "2026-11-22T12:00:00Z", S1, {}),
    ]
    partial = state_of(*events)
    assert (partial["stage"], partial["status"]) == ("manifested", "open")
    done = state_of(*events, ("shipment.delivered", "2026-11-24T09:00:00Z", S2, {}))
    assert (done["stage"], done["status"]) == ("delivered", "delivered")
    assert done["durations"]["internal_cycle"] == 10 * 3600  # received → first in_transit (before manifested)
    assert done["durations"]["cycle"] == (4 * 24 - 1) * 3600  # received → last delivered
    assert done["on_time_ship"] is True
    assert done["on_time_delivery"] is False


def test_a_shipment_whose_latest_word_is_an_exception_marks_the_order() -> None:
    state = state_of(
        ("order.received", "2026-11-20T10:00:00Z", ORDER, {}),
        ("shipment.exception", "2026-11-21T10:00:00Z", S1, {}),
    )
    assert state["status"] == "exception"
    recovered = state_of(
        ("order.received", "2026-11-20T10:00:00Z", ORDER, {}),
        ("shipment.exception", "2026-11-21T10:00:00Z", S1, {}),
        ("shipment.in_transit", "2026-11-21T12:00:00Z", S1, {}),
    )
    assert recovered["status"] == "open"


def test_cancelled_and_rejected_end_the_journey() -> None:
    assert (
        state_of(
            ("order.received", "2026-11-20T10:00:00Z", ORDER, {}),
            ("order.cancelled", "2026-11-20T11:00:00Z", ORDER, {}),
        )["status"]
        == "cancelled"
    )
    assert (
        state_of(
            ("order.received", "2026-11-20T10:00:00Z", ORDER, {}), ("order.rejected", "2026-11-20T11:00:00Z", ORDER, {})
        )["stage"]
        == "rejected"
    )


def test_types_outside_the_catalogue_are_kept_but_move_no_stage() -> None:
    state = state_of(
        ("order.received", "2026-11-20T10:00:00Z", ORDER, {}),
        ("order.payment_reminder", "2026-11-25T10:00:00Z", ORDER, {}),
    )
    assert state["stage"] == "received"
    assert state["event_count"] == 2


def test_a_stage_reported_before_the_one_it_follows_has_no_negative_duration() -> None:
    """An 855 dated the day before an overnight transmission once read as midnight, hours before the
    850 it answers: the pair is an out_of_sequence anomaly, and no `received->accepted` duration."""
    state = state_of(
        ("order.received", "2026-11-20T15:00:00Z", ORDER, {}),
        ("order.accepted", "2026-11-20T00:00:00Z", ORDER, {}),
        ("shipment.manifested", "2026-11-21T12:00:00Z", S1, {}),
        ("shipment.in_transit", "2026-11-21T18:00:00Z", S1, {}),
    )
    assert all(seconds >= 0 for seconds in state["durations"].values()), state["durations"]
    assert "received->accepted" not in state["durations"]
    assert state["durations"]["internal_cycle"] == 27 * 3600
    (anomaly,) = [a for a in state["anomalies"] if a["kind"] == "out_of_sequence"]
    assert (anomaly["milestone"], anomaly["before"]) == ("order.accepted", "order.received")
