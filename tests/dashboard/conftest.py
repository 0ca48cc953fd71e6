"""Fixtures of the dashboard tests: the app under AppTest on the session's real server, and a day of
traffic posted to the test's own tenant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, ServerProcess, correlated, post_events, wait_for
from tests.dashboard import traffic

APP = REPO / "dashboard" / "app.py"
OpenPage = Callable[..., AppTest]


def open_app(page: str, query: dict[str, str] | None = None) -> AppTest:
    """Run the app (navigation, health check) on `page`, as a browser opening its URL would."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page(page)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def dashboard(server: ServerProcess, tenant: str, monkeypatch: pytest.MonkeyPatch) -> OpenPage:
    """Open a page of the dashboard reading the session server, scoped to this test's tenant."""
    monkeypatch.setenv("TOWER_DASHBOARD_API", server.url)
    monkeypatch.setenv("TOWER_DASHBOARD_TENANT", tenant)
    monkeypatch.setenv("TOWER_DASHBOARD_REFRESH_SECONDS", "0")
    return open_app


@pytest.fixture
def day_of_traffic(api: httpx.Client) -> list[dict]:
    events = traffic.orders()
    post_events(api, events)
    rejected = api.post(
        "/v1/events", content=traffic.BAD_EVENT, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert rejected.status_code == 400, rejected.text
    wait_for(lambda: correlated(api))
    return events


def served_paths(api: httpx.Client) -> set[str]:
    return set(api.get("/openapi.json").json()["paths"])


def page_file(name: str) -> str:
    return str(Path("app_pages") / f"{name}.py")
