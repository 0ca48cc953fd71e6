"""Every adapter, fed arbitrary or damaged bytes, returns valid canonical events or an AdapterError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError
from adapters.registry import ADAPTERS, load_all
from tests.support.ocel import FIXTURES
from tower.events import validate_event

load_all()

HEADERS = {
    "shopify": {"x-shopify-topic": "orders/create", "x-shopify-shop-domain": "acme.myshopify.com"},
    "tracking": {"x-tower-param-carrier": "ups"},
}
SAMPLES: dict[str, list[Path]] = {
    "x12": sorted((FIXTURES / "edi_x12").glob("*/[0-9]*")),
    "shopify": [FIXTURES / "shopify/shopify_python_api/order.json"],
    "easypost": [FIXTURES / "carrier/easypost-examples/tracking-webhook.json"],
    "tracking": [FIXTURES / "carrier/karrio/ups_tracking_response.json"],
    "edifact": sorted((FIXTURES / "edi_x12").glob("*/edifact_*.edi")),
    "ubl": sorted((FIXTURES / "erp/ph-ubl-oasis-examples").glob("*.xml")),
    "ocel": [FIXTURES / "ocel/pm4py/ocel20_example.jsonocel", FIXTURES / "ocel/pm4py/ocel20_example.xmlocel"],
}


def check(name: str, body: bytes) -> None:
    try:
        result = ADAPTERS[name].parse(body, HEADERS.get(name, {}), {})
    except AdapterError as exc:
        assert exc.reason and 400 <= exc.status < 500
        return
    for event in result.events:
        ok, problems = validate_event(event)
        assert ok is not None, (name, problems)


@pytest.mark.parametrize("name", sorted(HEADERS.keys() | SAMPLES.keys()))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400))
def test_arbitrary_bytes(name: str, body: bytes) -> None:
    check(name, body)


@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_real_payloads(name: str, data: st.DataObject) -> None:
    sample = bytearray(data.draw(st.sampled_from(SAMPLES[name])).read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        if not sample:
            break
        at = data.draw(st.integers(0, len(sample) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "dup"]))
        if action == "flip":
            sample[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del sample[at : at + data.draw(st.integers(1, 50))]
        else:
            sample[at:at] = sample[at : at + data.draw(st.integers(1, 50))]
    check(name, bytes(sample))
