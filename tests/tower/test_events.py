"""The canonical event validator: what it keeps, and the payload it stores."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tower.events import validate_event

EVENT = {
    "specversion": "1.0",
    "id": "e1",
    "source": "shop",
    "type": "order.received",
    "time": "2026-11-20T12:00:00+02:00",
    "data": {"objects": [{"type": "order", "ids": {"shop": "#1"}}]},
}


def test_time_is_normalised_to_utc() -> None:
    event, problems = validate_event(EVENT)
    assert problems == [] and event is not None
    assert event.time.isoformat() == "2026-11-20T10:00:00+00:00"


def test_raw_bytes_are_the_payload_when_the_event_is_kept_as_sent() -> None:
    raw = orjson.dumps(EVENT)
    event, _ = validate_event(orjson.loads(raw), "", raw)
    assert event is not None and event.payload is raw


def test_a_tenant_from_the_request_is_written_into_the_stored_payload() -> None:
    raw = orjson.dumps(EVENT)
    event, _ = validate_event(orjson.loads(raw), "acme", raw)
    assert event is not None and event.tenant == "acme"
    stored = orjson.loads(event.payload)
    assert stored["tenant"] == "acme"
    # Read back from the log (as the correlator does after a restart), it keeps its tenant.
    again, _ = validate_event(stored)
    assert again is not None and again.tenant == "acme"


def test_every_problem_is_reported_not_just_the_first() -> None:
    _, problems = validate_event({"specversion": "0.3", "id": 5, "type": "Order", "time": "soon", "data": []})
    assert [p.field for p in problems] == ["specversion", "id", "source", "type", "time", "data"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_is_an_event_or_named_problems_never_an_exception(value: object) -> None:
    event, problems = validate_event(value)
    assert (event is None) == bool(problems)
    assert all(isinstance(p.reason, str) and p.reason for p in problems)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["specversion", "id", "source", "type", "time", "data", "tenant", "traceparent", "datacontenttype"]
        ),
        json_values,
    )
)
def test_envelopes_with_wrong_values_name_the_field(overrides: dict[str, object]) -> None:
    event, problems = validate_event({**EVENT, **overrides})
    if event is None:
        assert {p.field.split(".")[0].split("[")[0] for p in problems} <= set(overrides) | {"data"}
