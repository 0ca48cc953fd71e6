"""After a simulated stretch of business, the tower's journeys agree with what really happened."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from simulator.run import Plan, deliver, secrets_env
from simulator.score import score
from tests.conftest import ServerProcess

START = datetime(2026, 10, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def quiet_week(start_module_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, object, object]:
    server = start_module_server(env={**secrets_env(), "TOWER_CLOCK": "2026-10-05T00:00:00Z"})
    plan = Plan(START, days=4, orders_per_day=150, seed=11, scenarios=[])
    simulation, report = deliver(plan, server.url)
    return server, simulation, report


def test_every_message_of_a_quiet_stretch_is_accepted(quiet_week: tuple[ServerProcess, object, object]) -> None:
    _, _, report = quiet_week
    assert report.unexpected == []
    assert report.refused_messages == 0
    assert report.accepted > 0


def test_journeys_agree_with_the_ground_truth(quiet_week: tuple[ServerProcess, object, object]) -> None:
    server, simulation, _ = quiet_week
    with httpx.Client(base_url=server.url, timeout=30) as client:
        result = score(client, simulation.truth, sample=120, seed=3)
    assert result["journeys"] == result["orders"], result
    assert result["disagreements"] == [], result["disagreements"]
    for label, counts in {**result["by_stage"], **result["by_status"]}.items():
        assert counts["tower"] == counts["truth"], (label, counts)
