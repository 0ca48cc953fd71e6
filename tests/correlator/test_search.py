"""`GET /v1/journeys`: filters of DESIGN.md, stuck orders, and paging."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import correlated, post_events, wait_for


def order_events(n: int, channel: str, warehouse: str, delivered: bool) -> list[dict[str, Any]]:
    order = {"type": "order", "ids": {"erp": f"SO-{n}"}}
    shipment = {"type": "shipment", "ids": {"tracking:ups": f"1Z{n:06d}"}}
    day = f"2026-11-{10 + n % 10:02d}"
    events: list[dict[str, Any]] = [
        {
            "specversion": "1.0",
            "id": f"r{n}",
            "source": "erp",
            "type": "order.received",
            "time": f"{day}T08:00:00Z",
            "data": {"objects": [order], "dims": {"channel": channel, "warehouse": warehouse}},
        },
    ]
    if delivered:
        events += [
            {
                "specversion": "1.0",
                "id": f"m{n}",
                "source": "ship",
                "type": "shipment.manifested",
                "time": f"{day}T12:00:00Z",
                "data": {"objects": [order, shipment], "dims": {"carrier": "ups"}},
            },
            {
                "specversion": "1.0",
                "id": f"d{n}",
                "source": "ups",
                "type": "shipment.delivered",
                "time": f"{day}T20:00:00Z",
                "data": {"objects": [shipment]},
            },
        ]
    return events


def test_filters_and_paging(api: httpx.Client) -> None:
    events: list[dict[str, Any]] = []
    for n in range(30):
        events += order_events(n, "web" if n % 3 else "edi", "dc-east" if n % 2 else "dc-west", delivered=n < 20)
    post_events(api, events)
    wait_for(lambda: correlated(api))

    def total(**params: Any) -> int:
        response = api.get("/v1/journeys", params={"limit": 5, **params})
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    assert total() == 30
    assert total(status="delivered") == 20
    assert total(status="open") == 10
    assert total(stage="received") == 10
    assert total(channel="edi") == 10
    assert total(warehouse="dc-east") == 15
    assert total(carrier="ups") == 20
    assert total(status="delivered", channel="edi", warehouse="dc-west") == 4  # n in 0, 6, 12, 18
    # Received days ago and never moved: past the 4-hour threshold of "received".
    assert total(status="stuck") == 10
    assert total(**{"from": "2026-11-15T00:00:00Z"}) == 15
    assert total(**{"from": "2026-11-15T00:00:00Z", "to": "2026-11-17T00:00:00Z"}) == 6
    assert total(anomaly="missing_predecessor") == 20  # delivered without order.accepted

    seen: list[str] = []
    cursor = None
    while True:
        page = api.get("/v1/journeys", params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        assert len(page["items"]) <= 7
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 30
    started = [item["started_at"] for item in api.get("/v1/journeys", params={"limit": 30}).json()["items"]]
    assert started == sorted(started, reverse=True)


def test_bad_filters_are_named(api: httpx.Client) -> None:
    bad_status = api.get("/v1/journeys", params={"status": "lost"})
    assert bad_status.status_code == 400
    assert "status must be one of" in bad_status.json()["error"]["message"]
    bad_cursor = api.get("/v1/journeys", params={"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["error"]["code"] == "invalid_cursor"
    bad_time = api.get("/v1/journeys", params={"from": "yesterday"})
    assert bad_time.status_code == 400
    assert bad_time.json()["error"]["details"][0]["field"] == "from"
    missing = api.get("/v1/journeys/order-0000000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
