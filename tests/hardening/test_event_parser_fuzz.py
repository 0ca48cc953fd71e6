"""Fuzzing the canonical event parser: `validate_event`, the body reader behind `POST /v1/events`
(`collector.ingest.parse_body` and `screen`) and the endpoint itself on a real server.

Property: every input ends as valid events or as problems naming the field and the reason (a
`BodyError` with a 4xx status for a body that cannot be read at all); nothing raises anything else,
and over HTTP nothing answers 5xx and every line is either accepted, a duplicate or rejected.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.registry import ADAPTERS, load_all
from collector.api.events import screen
from collector.ingest import ACCEPTED_TYPES, BATCH, NDJSON, SINGLE, BodyError, parse_body
from tests.conftest import ServerProcess
from tests.hardening.conftest import OUTCOMES
from tests.hardening.mutations import examples, json_values, mutate_json
from tests.support.ocel import FIXTURES
from tower.api import Principal
from tower.events import Event, Problem, validate_event

load_all()

README_EVENTS: list[dict[str, Any]] = [
    {
        "specversion": "1.0",
        "id": "wh-1",
        "source": "shopify/acme-eu",
        "type": "order.received",
        "time": "2026-11-20T10:00:00Z",
        "data": {
            "objects": [{"type": "order", "ids": {"shopify/acme-eu": "#1001"}}],
            "dims": {"channel": "web"},
            "facts": {"promised_ship_date": "2026-11-21"},
        },
    },
    {
        "specversion": "1.0",
        "id": "lbl-9",
        "source": "shipping/shipstation",
        "type": "shipment.manifested",
        "time": "2026-11-20T16:00:00+02:00",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "data": {
            "objects": [
                {"type": "order", "ids": {"erp": "SO-1001"}},
                {"type": "shipment", "ids": {"tracking:ups": "1Z999AA10123456784"}},
            ],
            "relations": [[0, 1, "ships"]],
        },
    },
]


def adapter_events() -> list[dict[str, Any]]:
    """Canonical events as the adapters make them from real fixtures: the richest valid events there are."""
    x12 = ADAPTERS["x12"].parse((FIXTURES / "edi_x12/node-x12/856.edi").read_bytes(), {}, {}).events
    headers = {"x-shopify-topic": "orders/create", "x-shopify-shop-domain": "acme-eu.myshopify.com"}
    shopify = (
        ADAPTERS["shopify"].parse((FIXTURES / "shopify/shopify_python_api/order.json").read_bytes(), headers, {}).events
    )
    return [*x12[:3], *shopify]


SEEDS = README_EVENTS + adapter_events()
PRINCIPAL = Principal(frozenset({"ingest"}), "fuzz", False, "fuzz")


def assert_outcome(event: Event | None, problems: list[Problem]) -> None:
    if event is not None:
        assert problems == []
        assert orjson.loads(event.payload)["id"] == event.id
        OUTCOMES["validate_event", "valid"] += 1
        return
    assert problems, "an event refused without a reason"
    for problem in problems:
        assert isinstance(problem.field, str) and problem.reason.strip(), problem
    OUTCOMES["validate_event", "problems"] += 1


@settings(max_examples=examples(200), deadline=None, derandomize=True)
@given(value=json_values)
def test_validate_event_on_any_json_value(value: Any) -> None:
    assert_outcome(*validate_event(value, "fuzz"))


@settings(max_examples=examples(200), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_validate_event_on_mutated_real_events(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    mutated = mutate_json(data.draw, seed, rounds=3)
    tenant = data.draw(st.sampled_from(["", "fuzz", "acme.eu_1"]), label="tenant")
    assert_outcome(*validate_event(mutated, tenant))


def serialise(draw: st.DrawFn, events: list[Any], kind: str) -> bytes:
    if kind in NDJSON:
        lines = [json.dumps(e).encode() for e in events]
        if draw(st.booleans()):  # a line cut short, as a crashed sender leaves it
            at = draw(st.integers(0, len(lines) - 1))
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        return b"\n".join(lines)
    if kind == SINGLE:
        return json.dumps(events[0]).encode()
    return json.dumps(events).encode()


content_types = st.one_of(
    st.sampled_from([*ACCEPTED_TYPES, *NDJSON]),
    st.sampled_from([f"{t}; charset=utf-8" for t in ACCEPTED_TYPES] + ["application/json; charset=latin-1"]),
    st.sampled_from(["", "text/plain", "application/xml", "APPLICATION/JSON", "application/x-ndjson;;"]),
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A body of mutated real events in one of the accepted shapes, or arbitrary bytes, with a content type."""
    content_type = draw(content_types)
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300)), content_type
    events = [draw(st.sampled_from(SEEDS)) for _ in range(draw(st.integers(1, 4)))]
    events = [mutate_json(draw, e) if draw(st.booleans()) else e for e in events]  # some events left intact
    kind = content_type.split(";")[0].strip().lower()
    return serialise(draw, events, kind if kind in (SINGLE, BATCH, *NDJSON) else BATCH), content_type


@settings(max_examples=examples(200), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(), max_events=st.sampled_from([1, 3, 1000]))
def test_parse_body_and_screen_on_any_body(body: tuple[bytes, str], max_events: int) -> None:
    raw, content_type = body
    try:
        parsed = parse_body(raw, content_type, max_events)
    except BodyError as exc:
        assert exc.status in (400, 413, 415) and exc.message.strip() and exc.code
        OUTCOMES["parse_body", f"refused {exc.status}"] += 1
        return
    valid, rejected, letters = screen(parsed, PRINCIPAL, content_type)
    assert len(valid) + len(rejected) == len(parsed.candidates)
    assert len(letters) == len(rejected)
    for refusal in rejected:
        assert refusal["reason"].strip() and isinstance(refusal["field"], str)
    for letter in letters:
        assert isinstance(letter.raw, bytes)
    OUTCOMES["parse_body", "screened"] += 1


@settings(
    max_examples=examples(40),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies())
def test_post_events_over_http_never_5xx(api: httpx.Client, server: ServerProcess, body: tuple[bytes, str]) -> None:
    """The same bodies at `POST /v1/events` of a real server: a 202 accounts for every event, an
    error answers in the documented shape; never a 5xx."""
    raw, content_type = body
    response = api.post("/v1/events", content=raw, headers={"Content-Type": content_type} if content_type else {})
    OUTCOMES["POST /v1/events", str(response.status_code)] += 1
    assert response.status_code in (202, 400, 413, 415), (response.status_code, response.text[:300])
    answer = response.json()
    if response.status_code == 202:
        assert answer["accepted"] + answer["duplicates"] + len(answer["rejected"]) >= 1
    else:
        assert answer["error"]["code"] and answer["error"]["message"]
