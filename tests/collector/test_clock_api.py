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
        assert api.get("/v1/admin/clock").json() == {"now": "2026-03-01T00:00:00Z", "mode": "manual"}
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
