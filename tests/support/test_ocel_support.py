"""The OCEL order-management fixture maps onto canonical events the way DESIGN.md says."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from .ocel import (
    OCEL_ORDER_MANAGEMENT,
    design_rule_journey_events,
    expected_journey_events,
    load_ocel,
    ocel_to_canonical,
)

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@pytest.fixture(scope="module")
def log() -> dict[str, Any]:
    if not OCEL_ORDER_MANAGEMENT.exists():
        pytest.fail(f"{OCEL_ORDER_MANAGEMENT} is missing: set TOWER_FIXTURES to the shared fixtures folder")
    return load_ocel(OCEL_ORDER_MANAGEMENT)


@pytest.fixture(scope="module")
def events(log: dict[str, Any]) -> list[dict[str, Any]]:
    return ocel_to_canonical(log)


def _ids_of(events: list[dict[str, Any]], object_type: str) -> set[str]:
    return {obj["ids"]["ocel"] for event in events for obj in event["data"]["objects"] if obj["type"] == object_type}


def test_every_ocel_event_becomes_one_canonical_event_in_log_order(
    log: dict[str, Any], events: list[dict[str, Any]]
) -> None:
    assert len(events) == 21_008
    assert [event["id"] for event in events] == [event["id"] for event in log["events"]]
    assert len({event["id"] for event in events}) == 21_008


def test_envelope_keeps_source_time_and_adds_tenant_only_when_given(
    log: dict[str, Any], events: list[dict[str, Any]]
) -> None:
    first = events[0]
    assert first["specversion"] == "1.0"
    assert first["source"] == "ocel/order-management"
    assert first["time"] == log["events"][0]["time"]
    assert first["data"]["dims"] == {"system": "ocel"}
    assert first["data"]["facts"]["activity"] == log["events"][0]["type"]
    assert all("tenant" not in event for event in events)

    scoped = ocel_to_canonical({"events": log["events"][:3], "objects": log["objects"]}, "ocel/x", tenant="acme")
    assert {(event["source"], event["tenant"]) for event in scoped} == {("ocel/x", "acme")}


def test_object_counts_match_the_log(events: list[dict[str, Any]]) -> None:
    assert len(_ids_of(events, "order")) == 2_000
    assert len(_ids_of(events, "shipment")) == 1_128
    assert len(_ids_of(events, "order_line")) == 7_659


def test_every_event_type_is_a_lowercase_domain_action(events: list[dict[str, Any]]) -> None:
    bad = {event["type"] for event in events if not EVENT_TYPE.fullmatch(event["type"])}
    assert not bad
    assert {event["type"] for event in events} >= {
        "order.received",
        "fulfillment.packed",
        "shipment.delivered",
    }


def test_unknown_activity_gets_an_ocel_domain_name(log: dict[str, Any]) -> None:
    odd = dict(log["events"][0], type="Re-Route  Package!")
    (event,) = ocel_to_canonical({"events": [odd], "objects": log["objects"]})
    assert event["type"] == "ocel.re_route__package_"
    assert event["data"]["facts"]["activity"] == "Re-Route  Package!"


def test_objects_named_twice_on_an_event_are_listed_once(log: dict[str, Any], events: list[dict[str, Any]]) -> None:
    repeated = 0
    for raw, event in zip(log["events"], events, strict=True):
        named = [rel["objectId"] for rel in raw["relationships"]]
        listed = [obj["ids"]["ocel"] for obj in event["data"]["objects"]]
        assert listed == list(dict.fromkeys(named))
        repeated += len(named) != len(listed)
    assert repeated > 0


def test_relations_index_the_events_own_objects(events: list[dict[str, Any]]) -> None:
    for event in events:
        count = len(event["data"]["objects"])
        for i, j, qualifier in event["data"]["relations"]:
            assert 0 <= i < count and 0 <= j < count and i != j, event["id"]
            assert isinstance(qualifier, str) and qualifier
    assert sum(len(event["data"]["relations"]) for event in events) > 0


def test_packing_relates_the_package_to_each_item_it_contains(
    log: dict[str, Any], events: list[dict[str, Any]]
) -> None:
    contents = {
        obj["id"]: {rel["objectId"] for rel in obj["relationships"] if rel["qualifier"] == "contains"}
        for obj in log["objects"]
        if obj["type"] == "packages"
    }
    packed = [event for event in events if event["type"] == "fulfillment.packed"]
    assert len(packed) == 1_128
    for event in packed:
        objects = event["data"]["objects"]
        contains = {
            (objects[i]["ids"]["ocel"], objects[j]["ids"]["ocel"])
            for i, j, q in event["data"]["relations"]
            if q == "contains"
        }
        (package,) = {package for package, _ in contains}
        assert {item for _, item in contains} == contents[package]


def test_most_packages_hold_items_of_several_orders(log: dict[str, Any]) -> None:
    order_of_item = {
        rel["objectId"]: obj["id"]
        for obj in log["objects"]
        if obj["type"] == "orders"
        for rel in obj["relationships"]
        if rel["qualifier"] == "comprises"
    }
    orders_in_package: dict[str, set[str]] = defaultdict(set)
    for obj in log["objects"]:
        if obj["type"] == "packages":
            for rel in obj["relationships"]:
                if rel["qualifier"] == "contains":
                    orders_in_package[obj["id"]].add(order_of_item[rel["objectId"]])
    assert len(orders_in_package) == 1_128
    assert sum(len(orders) > 1 for orders in orders_in_package.values()) == 1_061


def test_design_rule_on_canonical_events_matches_plain_rule_on_raw_log(
    log: dict[str, Any], events: list[dict[str, Any]]
) -> None:
    expected = expected_journey_events(log)
    actual = design_rule_journey_events(events)
    assert len(expected) == 2_000
    assert all(expected.values())
    assert actual.keys() == expected.keys()
    differing = sorted(order for order in expected if actual[order] != expected[order])
    assert not differing, f"{len(differing)} orders differ, e.g. {differing[:3]}"
