"""An order known by several systems' identifiers is one journey with a stable id."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import correlated, post_events, wait_for


def event(eid: str, source: str, etype: str, time: str, objects: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": eid,
        "source": source,
        "type": etype,
        "time": time,
        "data": {"objects": objects, **data},
    }


def lookup(api: httpx.Client, q: str) -> list[dict[str, Any]]:
    response = api.get("/v1/lookup", params={"q": q})
    assert response.status_code == 200, response.text
    return response.json()["matches"]


def test_shopify_order_linked_to_erp_number_later_is_one_journey(api: httpx.Client) -> None:
    post_events(
        api,
        [
            event(
                "wh-1",
                "shopify/acme-eu",
                "order.received",
                "2026-11-20T10:00:00Z",
                [{"type": "order", "ids": {"shopify/acme-eu": "#1001"}}],
                dims={"channel": "web"},
            ),
        ],
    )
    first = wait_for(lambda: lookup(api, "#1001"))
    journey_id = first[0]["journeys"][0]
    assert first[0]["object"]["id"] == journey_id

    post_events(
        api,
        [
            event(
                "so-77",
                "erp/netsuite",
                "order.accepted",
                "2026-11-20T10:04:00Z",
                [{"type": "order", "ids": {"erp": "SO-1001", "shopify/acme-eu": "#1001"}}],
            ),
            event(
                "lbl-9",
                "shipping/shipstation",
                "shipment.manifested",
                "2026-11-20T16:00:00Z",
                [
                    {"type": "order", "ids": {"erp": "SO-1001"}},
                    {"type": "shipment", "ids": {"tracking:ups": "1Z999AA10123456784"}},
                ],
            ),
            event(
                "trk-1",
                "carrier/ups",
                "shipment.in_transit",
                "2026-11-20T20:00:00Z",
                [{"type": "shipment", "ids": {"tracking:ups": "1Z999AA10123456784"}}],
            ),
        ],
    )
    wait_for(lambda: correlated(api))

    for q in ("#1001", "SO-1001", "1Z999AA10123456784"):
        matches = lookup(api, q)
        assert len(matches) == 1, (q, matches)
        assert matches[0]["journeys"] == [journey_id], q

    journey = api.get(f"/v1/journeys/{journey_id}").json()
    assert journey["id"] == journey_id
    order = next(o for o in journey["objects"] if o["type"] == "order")
    assert order["id"] == journey_id
    provenance = {i["namespace"]: (i["value"], i["source"], i["event_id"]) for i in order["identifiers"]}
    assert provenance == {
        "shopify/acme-eu": ("#1001", "shopify/acme-eu", "wh-1"),
        "erp": ("SO-1001", "erp/netsuite", "so-77"),
    }
    assert [e["id"] for e in journey["events"]] == ["wh-1", "so-77", "lbl-9", "trk-1"]
    assert journey["stage"] == "in_transit"
    assert journey["shipments"][0]["milestones"].keys() == {"shipment.manifested", "shipment.in_transit"}


def test_two_objects_merged_by_a_later_event_keep_the_earliest_id(api: httpx.Client) -> None:
    # The ERP knows the order before the channel event arrives (late webhook): two objects at first.
    post_events(
        api,
        [
            event(
                "e-erp",
                "erp/netsuite",
                "order.accepted",
                "2026-11-20T10:04:00Z",
                [{"type": "order", "ids": {"erp": "SO-2002"}}],
            ),
            event(
                "e-shop",
                "shopify/acme-eu",
                "order.received",
                "2026-11-20T10:00:00Z",
                [{"type": "order", "ids": {"shopify/acme-eu": "#2002"}}],
            ),
        ],
    )
    wait_for(lambda: correlated(api))
    shop_journey = lookup(api, "#2002")[0]["journeys"][0]
    erp_journey = lookup(api, "SO-2002")[0]["journeys"][0]
    assert shop_journey != erp_journey

    post_events(
        api,
        [
            event(
                "e-link",
                "middleware/celigo",
                "order.status_synced",
                "2026-11-20T11:00:00Z",
                [{"type": "order", "ids": {"erp": "SO-2002", "shopify/acme-eu": "#2002"}}],
            ),
        ],
    )
    wait_for(lambda: correlated(api))
    assert lookup(api, "SO-2002")[0]["journeys"] == [shop_journey]
    merged = api.get(f"/v1/journeys/{shop_journey}").json()
    assert [e["id"] for e in merged["events"]] == ["e-shop", "e-erp", "e-link"]
    assert [(m["merged_id"], m["reason"], m["event_id"]) for m in merged["merges"]] == [
        (erp_journey, "merge", "e-link")
    ]
    # The merged-away id still answers, with the surviving journey.
    old = api.get(f"/v1/journeys/{erp_journey}").json()
    assert old["id"] == shop_journey
    assert old["requested_id"] == erp_journey


def test_conflicting_identifiers_merge_nothing_and_record_the_conflict(api: httpx.Client) -> None:
    post_events(
        api,
        [
            event(
                "c1",
                "erp/netsuite",
                "order.accepted",
                "2026-11-20T10:00:00Z",
                [{"type": "order", "ids": {"erp": "SO-1", "shopify/acme": "#7"}}],
            ),
            # A bad mapping: the same channel order now claims another ERP order.
            event(
                "c2",
                "erp/netsuite",
                "order.accepted",
                "2026-11-20T10:10:00Z",
                [{"type": "order", "ids": {"erp": "SO-2", "shopify/acme": "#7"}}],
            ),
        ],
    )
    wait_for(lambda: correlated(api))
    first = lookup(api, "SO-1")[0]
    second = lookup(api, "SO-2")[0]
    assert first["object"]["id"] != second["object"]["id"]
    assert first["object"]["ids"] == {"erp": "SO-1", "shopify/acme": "#7"}
    assert second["object"]["ids"] == {"erp": "SO-2"}
    journey = api.get(f"/v1/journeys/{first['journeys'][0]}").json()
    conflicts = [a for a in journey["anomalies"] if a["kind"] == "identity_conflict"]
    assert len(conflicts) == 1
    assert conflicts[0]["event_id"] == "c2"
    assert conflicts[0]["namespaces"] == ["erp"]


def test_late_relation_brings_earlier_tracking_into_the_journey(api: httpx.Client) -> None:
    post_events(
        api,
        [
            event(
                "t1",
                "carrier/fedex",
                "shipment.in_transit",
                "2026-11-21T08:00:00Z",
                [{"type": "shipment", "ids": {"tracking:fedex": "7712"}}],
            ),
            event(
                "t2",
                "carrier/fedex",
                "shipment.delivered",
                "2026-11-22T08:00:00Z",
                [{"type": "shipment", "ids": {"tracking:fedex": "7712"}}],
            ),
            event(
                "o1",
                "edi/acme",
                "order.received",
                "2026-11-20T08:00:00Z",
                [{"type": "order", "ids": {"po:acme": "4500012"}}],
            ),
        ],
    )
    wait_for(lambda: correlated(api))
    assert lookup(api, "7712")[0]["journeys"] == []
    post_events(
        api,
        [
            event(
                "asn",
                "edi/acme",
                "shipment.manifested",
                "2026-11-20T18:00:00Z",
                [
                    {"type": "order", "ids": {"po:acme": "4500012"}},
                    {"type": "shipment", "ids": {"tracking:fedex": "7712"}},
                ],
            ),
        ],
    )
    wait_for(lambda: correlated(api))
    journey_id = lookup(api, "4500012")[0]["journeys"][0]
    assert lookup(api, "7712")[0]["journeys"] == [journey_id]
    journey = api.get(f"/v1/journeys/{journey_id}").json()
    assert [e["id"] for e in journey["events"]] == ["o1", "asn", "t1", "t2"]
    assert journey["status"] == "delivered"
    kinds = {a["kind"]: a for a in journey["anomalies"]}
    assert kinds["missing_predecessor"]["missing"] == "order.accepted"


def test_out_of_sequence_and_duplicate_milestones_are_flagged_not_dropped(api: httpx.Client) -> None:
    order = [{"type": "order", "ids": {"shopify/x": "#9"}}, {"type": "shipment", "ids": {"tracking:ups": "1ZX"}}]
    post_events(
        api,
        [
            event("a", "shopify/x", "order.received", "2026-11-20T08:00:00Z", order[:1]),
            event("b", "erp", "order.accepted", "2026-11-20T08:01:00Z", order[:1]),
            event("c", "carrier/ups", "shipment.delivered", "2026-11-20T09:00:00Z", order[1:]),
            event("d", "ship", "shipment.manifested", "2026-11-20T10:00:00Z", order),
            event("e", "shopify/x", "order.received", "2026-11-20T08:00:05Z", order[:1]),
        ],
    )
    wait_for(lambda: correlated(api))
    journey_id = lookup(api, "#9")[0]["journeys"][0]
    journey = api.get(f"/v1/journeys/{journey_id}").json()
    found = {(a["kind"], a["milestone"]) for a in journey["anomalies"]}
    assert ("out_of_sequence", "shipment.delivered") in found
    assert ("duplicate_milestone", "order.received") in found
    assert len(journey["events"]) == 5
