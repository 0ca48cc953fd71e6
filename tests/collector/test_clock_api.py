"""`/v1/admin/clock`: the evaluation clock a simulator drives."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import ServerProcess


def test_a_manual_clock_moves_forward_only_then_hands_over_to_the_system(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(env={"TOWER_CLOCK": "2026-03-01T00:00:00Z"})
    with httpx.Client(base_url=server.url) as api:
        state = api.get("/v1/admin/clock").json()
        assert (state["now"], state["mode"]) == ("2026-03-01T00:00:00Z", "manual")
        moved = api.post("/v1/admin/clock", json={"now": "2026-03-01T00:05:00Z"})
        assert moved.status_code == 200
        assert moved.json()["now"] == "2026-03-01T00:05:00Z"
        back = api.post("/v1/admin/clock", json={"now": "2026-03-01T00:04:00Z"})
        assert back.status_code == 409
        assert back.json()["error"]["code"] == "clock_backwards"
        missing = api.post("/v1/admin/clock", json={})
        assert missing.status_code == 400
        assert missing.json()["error"]["details"][0]["field"] == "now"
        released = api.post("/v1/admin/clock", json={"mode": "system"})
        assert released.json()["mode"] == "system"
        assert released.json()["now"] > "2026-03-01T00:05:00Z"
        assert api.post("/v1/admin/clock", json={"now": "2030-01-01T00:00:00Z"}).status_code == 409


def test_a_system_clock_refuses_to_be_driven(api: httpx.Client) -> None:
    response = api.post("/v1/admin/clock", json={"now": "2030-01-01T00:00:00Z"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "clock_not_manual"
    assert api.get("/v1/admin/clock").json()["mode"] == "system"


def test_evaluations_look_no_further_than_the_correlator_has_caught_up(
    start_server: Callable[..., ServerProcess],
) -> None:
    from tests.conftest import post_events, wait_for

    server = start_server(env={"TOWER_CLOCK": "2026-03-01T00:00:00Z"})
    with httpx.Client(base_url=server.url) as api:
        event = {
            "specversion": "1.0",
            "id": "o-1",
            "source": "shopify/s",
            "type": "order.received",
            "time": "2026-03-01T00:01:00Z",
            "data": {"objects": [{"type": "order", "ids": {"shopify/s": "#1"}}]},
        }
        post_events(api, [event])
        api.post("/v1/admin/clock", json={"now": "2026-03-01T00:05:00Z"})
        # once the acknowledged order is applied, evaluations may look up to the clock
        wait_for(lambda: api.get("/v1/admin/clock").json()["evaluated_to"] == "2026-03-01T00:05:00Z")
        state = api.get("/v1/admin/clock").json()
        assert state["evaluated_to"] <= state["now"]
