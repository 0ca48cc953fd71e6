"""`GET /v1/journeys/summary`: journey counts grouped on the server, with the search's filters."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import correlated, post_events, wait_for
from tests.correlator.test_search import order_events


def counts(api: httpx.Client, **params: Any) -> dict[tuple[Any, ...], int]:
    response = api.get("/v1/journeys/summary", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == sum(item["count"] for item in body["items"])
    return {tuple(item[d] for d in body["by"]): item["count"] for item in body["items"]}


def test_counts_by_stage_and_warehouse_match_the_search(api: httpx.Client) -> None:
    events: list[dict[str, Any]] = []
    for n in range(30):
        events += order_events(n, "web" if n % 3 else "edi", "dc-east" if n % 2 else "dc-west", delivered=n < 20)
    # One order with no warehouse: counted under null, not dropped.
    events.append(
        {
            "specversion": "1.0",
            "id": "r-nowh",
            "source": "erp",
            "type": "order.received",
            "time": "2026-11-12T08:00:00Z",
            "data": {"objects": [{"type": "order", "ids": {"erp": "SO-NOWH"}}], "dims": {"channel": "web"}},
        }
    )
    post_events(api, events)
    wait_for(lambda: correlated(api))

    assert counts(api, by="stage,warehouse", status="all") == {
        ("delivered", "dc-east"): 10,
        ("delivered", "dc-west"): 10,
        ("received", "dc-east"): 5,
        ("received", "dc-west"): 5,
        ("received", None): 1,
    }
    # Received days ago and never moved: all eleven open orders are stuck.
    assert counts(api, by="stage,warehouse", status="stuck") == {
        ("received", "dc-east"): 5,
        ("received", "dc-west"): 5,
        ("received", None): 1,
    }
    assert counts(api, by="stage") == {("delivered",): 20, ("received",): 11}
    by_status = counts(api, by="status", channel="edi")
    assert by_status == {("delivered",): 7, ("open",): 3}  # n % 3 == 0: 0..18 delivered, 21, 24, 27 open
    assert sum(by_status.values()) == api.get("/v1/journeys", params={"channel": "edi"}).json()["total"]
    assert counts(api, by="warehouse", carrier="ups", warehouse="dc-west") == {("dc-west",): 10}
    assert counts(api, by="stage", **{"from": "2026-11-15T00:00:00Z"}) == {("delivered",): 10, ("received",): 5}


def test_summary_of_an_empty_tenant_is_empty(api: httpx.Client) -> None:
    assert api.get("/v1/journeys/summary", params={"by": "stage,warehouse"}).json() == {
        "by": ["stage", "warehouse"],
        "items": [],
        "total": 0,
    }


def test_bad_dimensions_and_statuses_are_named(api: httpx.Client) -> None:
    unknown = api.get("/v1/journeys/summary", params={"by": "stage,customer"})
    assert unknown.status_code == 400
    assert "customer is not one" in unknown.json()["error"]["message"]
    assert api.get("/v1/journeys/summary", params={"by": "stage,stage"}).status_code == 400
    assert api.get("/v1/journeys/summary", params={"by": ""}).status_code == 400
    bad_status = api.get("/v1/journeys/summary", params={"status": "lost"})
    assert bad_status.status_code == 400
    assert "status must be one of" in bad_status.json()["error"]["message"]


def test_journey_lists_the_thresholds_its_segments_are_held_to(api: httpx.Client) -> None:
    post_events(api, order_events(1, "web", "dc-east", delivered=True))
    wait_for(lambda: correlated(api))
    journey_id = api.get("/v1/lookup", params={"q": "SO-1"}).json()["matches"][0]["journeys"][0]
    thresholds = api.get(f"/v1/journeys/{journey_id}").json()["stage_thresholds"]
    assert thresholds["received"] == 4 * 3600
    assert thresholds["in_transit"] == 120 * 3600
