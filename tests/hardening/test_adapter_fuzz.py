"""Structure-aware fuzzing of every adapter on the real fixture files.

tests/adapters/test_adapter_properties.py feeds arbitrary bytes and byte-level damage; this module
damages the same fixtures by their structure (JSON nodes, EDI segments and elements, XML elements,
CSV cells, SQLite rows, see `mutations`) and fuzzes the headers and query parameters each adapter
reads. The property is the adapters' contract: `parse` returns events that all pass
`validate_event`, or raises `AdapterError` naming where (a field, a segment, a path) and why, with a
4xx status. Any other exception would be a 500 at `POST /v1/adapters/{name}`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError
from adapters.registry import ADAPTERS, load_all
from simulator import formats
from tests.hardening.conftest import OUTCOMES
from tests.hardening.mutations import (
    byte_mutations,
    csv_mutations,
    edifact_separators,
    examples,
    json_mutations,
    segment_mutations,
    sqlite_mutations,
    x12_separators,
    xml_mutations,
)
from tests.support.ocel import FIXTURES
from tower.events import validate_event

load_all()

EDI = FIXTURES / "edi_x12"
KARRIO = FIXTURES / "carrier" / "karrio"
EASYPOST = FIXTURES / "carrier" / "easypost-examples"
SHOPIFY = FIXTURES / "shopify" / "shopify_python_api"
UBL = FIXTURES / "erp" / "ph-ubl-oasis-examples"
OCEL = FIXTURES / "ocel" / "pm4py"

X12_FILES = sorted(p for p in EDI.glob("*/*") if not p.name.startswith("edifact_"))
EDIFACT_FILES = sorted(EDI.glob("*/edifact_*.edi"))
UBL_FILES = sorted(UBL.glob("*.xml"))
CARRIER_FILES = {
    "ups": KARRIO / "ups_tracking_response.json",
    "fedex": KARRIO / "fedex_tracking_response.json",
    "usps": KARRIO / "usps_tracking_responses.json",
    "dhl": KARRIO / "dhl_universal_tracking.json",
    "mydhl": KARRIO / "mydhl_tracking_response.json",
    "australiapost": KARRIO / "australiapost_tracking_response.json",
    "laposte": KARRIO / "laposte_tracking_response.json",
    "sendle": KARRIO / "sendle_tracking_response.json",
}
EASYPOST_FILES = [
    EASYPOST / name
    for name in (
        "event-body.json",
        "tracking-webhook.json",
        "trackers-list.json",
        "trackers-retrieve.json",
        "trackers-create.json",
        "events-retrieve.json",
    )
]
SHOPIFY_TOPICS = {
    "orders/create": "order.json",
    "orders/updated": "order.json",
    "orders/paid": "order.json",
    "orders/cancelled": "order.json",
    "fulfillments/create": "fulfillment.json",
    "fulfillments/update": "fulfillment.json",
    "fulfillment_events/create": "fulfillment_event.json",
}
SHOP = {"x-shopify-shop-domain": "acme-eu.myshopify.com", "x-shopify-webhook-id": "wh-1"}


def check(adapter: str, body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str] | None = None) -> int:
    """Run one adapter; an `AdapterError` must say where and why, every event must be valid.

    Returns the number of events (for the figures in docs/reliability/fuzzing.md)."""
    try:
        result = ADAPTERS[adapter].parse(body, headers, secrets or {})
    except AdapterError as exc:
        assert exc.where.strip(), f"{adapter}: AdapterError names no field: {exc.reason!r}"
        assert exc.reason.strip(), f"{adapter}: AdapterError at {exc.where!r} gives no reason"
        assert 400 <= exc.status < 500, (adapter, exc.status, exc)
        OUTCOMES[f"adapter {adapter}", "refused"] += 1
        return 0
    OUTCOMES[f"adapter {adapter}", "events" if result.events else "no events"] += 1
    for produced in result.events:
        event, problems = validate_event(produced)
        assert event is not None, (adapter, problems, produced)
    if result.reply is not None:
        assert isinstance(result.reply, bytes)
    return len(result.events)


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def erpnext_documents() -> list[Any]:
    """The ERPNext fixture's records, named as ERPNext names them on insert (see tests/adapters/test_mapping.py)."""
    docs = read_json(FIXTURES / "erp" / "erpnext" / "sales_order_test_records.json")
    for i, doc in enumerate(docs, 1):
        doc["name"] = f"{doc['naming_series']}{i:05d}"
    return [docs, docs[0]]


def mirakl_page() -> Any:
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    orders = [
        formats.mirakl_order("MK-1-A", "MK-1", state, at, at, [("1", "SKU-A", 2, 9.5)], "2026-11-22", "2026-11-25")
        for state in ("WAITING_ACCEPTANCE", "SHIPPING", "SHIPPED", "CANCELED")
    ]
    return json.loads(formats.mirakl_orders(orders))


def wms_csv() -> str:
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    rows = [
        ("SO-1001", "PT-77", "picked", "SKU-A", 2, "DC-East", "", "", at),
        ("SO-1001", "PT-77", "packed", "SKU-A", 2, "DC-East", "", "", at),
        ("SO-1001", "PT-77", "shipped", "SKU-A", 2, "DC-East", "1Z999AA10123456784", "UPS", at),
    ]
    return formats.wms_csv(rows).decode()


def x12(path: Path) -> st.SearchStrategy[bytes]:
    text = path.read_bytes().decode("latin-1")
    return segment_mutations(text.strip("\ufeff"), x12_separators(text))


def edifact(path: Path) -> st.SearchStrategy[bytes]:
    text = path.read_bytes().decode("latin-1")
    return segment_mutations(text, edifact_separators(text), keep_head=2 if text.startswith("UNA") else 1)


def ocel_json(path: Path) -> st.SearchStrategy[bytes]:
    return json_mutations(read_json(path))


# (adapter, headers, strategy of bodies) per fuzz target; each strategy starts from real files.
TARGETS: dict[str, tuple[str, dict[str, str], Callable[[], st.SearchStrategy[bytes]]]] = {
    "x12-segments": ("x12", {}, lambda: st.sampled_from(X12_FILES).flatmap(x12)),
    "edifact-segments": ("edifact", {}, lambda: st.sampled_from(EDIFACT_FILES).flatmap(edifact)),
    "ubl-elements": ("ubl", {}, lambda: st.sampled_from(UBL_FILES).flatmap(lambda p: xml_mutations(p.read_bytes()))),
    "easypost-json": ("easypost", {}, lambda: st.sampled_from(EASYPOST_FILES).flatmap(ocel_json)),
    **{
        f"tracking-{carrier}-json": (
            "tracking",
            {"x-tower-param-carrier": carrier},
            (lambda path=path: json_mutations(read_json(path))),
        )
        for carrier, path in CARRIER_FILES.items()
    },
    **{
        f"shopify-{topic.replace('/', '-')}-json": (
            "shopify",
            {"x-shopify-topic": topic, **SHOP},
            (lambda name=name: st.sampled_from([read_json(SHOPIFY / name)]).flatmap(json_mutations)),
        )
        for topic, name in SHOPIFY_TOPICS.items()
    },
    "shopify-unwrapped-order-json": (
        "shopify",
        {"x-shopify-topic": "orders/create", **SHOP},
        lambda: json_mutations(read_json(SHOPIFY / "order.json")["order"]),
    ),
    "ocel-json": ("ocel", {}, lambda: st.sampled_from(sorted(OCEL.glob("*.jsonocel"))).flatmap(ocel_json)),
    "ocel-xml": (
        "ocel",
        {},
        lambda: st.sampled_from(sorted(OCEL.glob("*.xmlocel"))).flatmap(lambda p: xml_mutations(p.read_bytes())),
    ),
    "ocel-sqlite-rows": ("ocel", {}, lambda: st.sampled_from(sorted(OCEL.glob("*.sqlite"))).flatmap(sqlite_mutations)),
    "ocel-sqlite-bytes": (
        "ocel",
        {},
        lambda: byte_mutations((OCEL / "example_log.sqlite").read_bytes()),
    ),
    "ocel-gzip-bytes": (
        "ocel",
        {},
        lambda: st.sampled_from(sorted(OCEL.glob("*.jsonocel"))).flatmap(
            lambda p: byte_mutations(gzip.compress(p.read_bytes(), mtime=0))
        ),
    ),
    "mapping-erpnext-json": (
        "mapping/erpnext-sales-order",
        {},
        lambda: st.sampled_from(erpnext_documents()).flatmap(json_mutations),
    ),
    "mapping-mirakl-json": ("mapping/mirakl-orders", {}, lambda: json_mutations(mirakl_page())),
    "mapping-wms-csv": ("mapping/generic-wms-confirmation", {}, lambda: csv_mutations(wms_csv())),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(
    max_examples=examples(60),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_structure_aware_mutations_of_real_fixtures(target: str, data: st.DataObject) -> None:
    adapter, headers, bodies = TARGETS[target]
    check(adapter, data.draw(bodies(), label="body"), headers)


header_text = st.one_of(
    st.sampled_from(["", " ", "UTC", "Z", "+01:00", "-0500", "+99:99", "Europe/Berlin", "Mars/Olympus", "../etc"]),
    st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40),
)
# Headers and query parameters (as x-tower-param-*) each adapter reads, with the fixture it reads them on.
HEADER_TARGETS: dict[str, tuple[str, Path, list[str]]] = {
    "shopify": (
        "shopify",
        SHOPIFY / "order.json",
        ["x-shopify-topic", "x-shopify-shop-domain", "x-shopify-webhook-id"],
    ),
    "tracking": ("tracking", KARRIO / "ups_tracking_response.json", ["x-tower-param-carrier", "x-carrier"]),
    "ocel": ("ocel", OCEL / "ocel20_example.jsonocel", ["x-tower-param-log", "x-tower-param-timezone"]),
    "ocel-xml": ("ocel", OCEL / "example_log.xmlocel", ["x-tower-param-log", "x-tower-param-timezone"]),
}


@pytest.mark.parametrize("target", sorted(HEADER_TARGETS))
@settings(max_examples=examples(40), deadline=None, derandomize=True)
@given(data=st.data())
def test_arbitrary_headers_and_query_parameters(target: str, data: st.DataObject) -> None:
    adapter, path, names = HEADER_TARGETS[target]
    headers = data.draw(st.dictionaries(st.sampled_from(names), header_text), label="headers")
    check(adapter, path.read_bytes(), headers)


toml_values = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=2),
    st.dictionaries(st.text(max_size=12), st.text(max_size=20) | st.integers(), max_size=3),
)


def toml_document(draw: st.DrawFn) -> str:
    """An OCEL mapping document: plausible keys with values of any TOML type, or plain garbage."""
    lines = []
    for key in draw(st.lists(st.sampled_from(["namespace", "replace_defaults", "other"]), max_size=3, unique=True)):
        lines.append(f"{key} = {json.dumps(draw(st.text(max_size=10) | st.booleans()))}")
    for table in draw(st.lists(st.sampled_from(["activities", "object_types", "extra"]), max_size=3, unique=True)):
        lines.append(f"[{table}]")
        for name, value in draw(st.dictionaries(st.text(max_size=12), toml_values, max_size=3)).items():
            lines.append(f"{json.dumps(name)} = {json.dumps(value)}")
    if draw(st.booleans()):
        lines.append(draw(st.text(max_size=30)))
    return "\n".join(lines)


@settings(max_examples=examples(60), deadline=None, derandomize=True)
@given(data=st.data())
def test_ocel_mapping_parameter_of_any_shape(data: st.DataObject) -> None:
    document = data.draw(st.composite(toml_document)(), label="mapping")
    check("ocel", (OCEL / "ocel20_example.jsonocel").read_bytes(), {"x-tower-param-mapping": document})


SIGNED = {
    "shopify": (SHOPIFY / "order.json", {"x-shopify-topic": "orders/create", **SHOP}, "x-shopify-hmac-sha256"),
    "easypost": (EASYPOST / "event-body.json", {}, "x-hmac-signature"),
}


@pytest.mark.parametrize("adapter", sorted(SIGNED))
@settings(max_examples=examples(60), deadline=None, derandomize=True)
@given(signature=st.none() | header_text | st.text(max_size=80), secret=st.text(min_size=1, max_size=20))
def test_arbitrary_signatures_are_refused_with_401(adapter: str, signature: str | None, secret: str) -> None:
    """With a secret configured, a made-up signature is a 401 `AdapterError`, never a crash or a pass."""
    path, headers, name = SIGNED[adapter]
    if signature is not None:
        headers = {**headers, name: signature}
    with pytest.raises(AdapterError) as refused:
        ADAPTERS[adapter].parse(path.read_bytes(), headers, {adapter: secret})
    assert refused.value.status == 401 and refused.value.where
