"""`POST /v1/adapters/{adapter}`: the edge that hands native payloads to the adapters."""

from __future__ import annotations

import json

import httpx


def test_an_unknown_adapter_is_a_404_that_lists_the_known_ones(api: httpx.Client) -> None:
    response = api.post("/v1/adapters/sap-idoc", content=b"<IDOC/>", headers={"Content-Type": "application/xml"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_adapter"
    assert "no adapter 'sap-idoc'" in error["message"]


def test_a_traceparent_header_stamps_the_events_of_a_native_payload(api: httpx.Client) -> None:
    from tests.conftest import correlated, post_events, wait_for

    order = {
        "specversion": "1.0",
        "id": "so-77-manifest",
        "source": "shipping/labels",
        "type": "shipment.manifested",
        "time": "2026-03-01T10:00:00Z",
        "data": {
            "objects": [
                {"type": "order", "ids": {"erp": "SO-77"}},
                {"type": "shipment", "ids": {"tracking:usps": "9400100000000000000011"}},
            ]
        },
    }
    post_events(api, [order])
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    def scan(code: str, category: str, at: str, header: str) -> httpx.Response:
        item = {
            "trackingNumber": "9400100000000000000011",
            "statusCategory": category,
            "trackingEvents": [{"eventCode": code, "eventType": category, "GMTTimestamp": at}],
        }
        body = json.dumps([item])
        return api.post(
            "/v1/adapters/tracking?carrier=usps",
            content=body.encode(),
            headers={"Content-Type": "application/json", "traceparent": header},
        )

    assert scan("10", "In Transit", "2026-03-01T18:00:00Z", traceparent).json()["accepted"] == 1
    # a malformed header is ignored, never stamped
    assert scan("01", "Delivered", "2026-03-02T15:04:00Z", "not-a-traceparent").json()["accepted"] == 1
    wait_for(lambda: correlated(api))
    journey_id = api.get("/v1/lookup", params={"q": "SO-77"}).json()["matches"][0]["journeys"][0]
    events = {e["type"]: e for e in api.get(f"/v1/journeys/{journey_id}").json()["events"]}
    assert events["shipment.in_transit"]["traceparent"] == traceparent
    assert events["shipment.delivered"]["traceparent"] is None
