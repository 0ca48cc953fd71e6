"""End to end in a real browser: a server with a day of traffic, the dashboard on it, Debian's
chromium driven headless by Playwright through every page, a screenshot of each.

Screenshots land in the test's own folder; with TOWER_UPDATE_SCREENSHOTS=1 they are also copied to
docs/screenshots/ for the README.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import REPO, ServerProcess, correlated, free_port, post_events, wait_for
from tests.dashboard import traffic
from tower.processes import run_stack

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: the browser test drives Debian's chromium (never a downloaded one); "
        "install it with `apt-get install -y chromium` (.ci/run does)"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


def settle(page: Page, expected: str, timeout: float = 60_000) -> None:
    """Wait until the script has finished running and `expected` and every chart are on screen."""
    page.get_by_text(expected).first.wait_for(timeout=timeout)
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"]')
              && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                   .every(c => c.querySelector('.main-svg'))
              && !document.querySelector('[data-testid="stSkeleton"]')""",
        timeout=timeout,
    )
    assert page.get_by_text("Page not found").count() == 0, page.url


def shoot(page: Page, out: Path, name: str, expected: str) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside its main container, so the viewport
    grows to the content's height first (and the app settles again after the resize)."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1440, "height": max(1000, int(height) + 40)})
    settle(page, expected)
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("TOWER_UPDATE_SCREENSHOTS") == "1":
        docs = REPO / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, docs / path.name)
    return path


def test_every_page_in_chromium(
    server: ServerProcess, api: httpx.Client, tenant: str, browser: Browser, tmp_path: Path
) -> None:
    events = traffic.orders()
    post_events(api, events + traffic.acceptance_outage() + traffic.operations_faults())
    rejected = api.post(
        "/v1/events", content=traffic.BAD_EVENT, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert rejected.status_code == 400
    wait_for(lambda: correlated(api))
    served = set(api.get("/openapi.json").json()["paths"])
    if "/v1/traces" in served:  # the ERP connector's spans of the step that accepted the late order
        accepted = next(e for e in events if e["id"] == "a7")
        at = datetime.fromisoformat(accepted["time"].replace("Z", "+00:00"))
        sent = api.post("/v1/traces", json=traffic.step_spans("erp/netsuite", "a7", at, "netsuite-connector"))
        assert sent.status_code == 200, sent.text
    if "/v1/alerts" in served:  # the SLO engine evaluates on its own schedule: let the outage raise its alerts
        wait_for(lambda: api.get("/v1/alerts").json()["total"], timeout=60, interval=0.5)

    with run_stack(
        api_url=server.url, tenant=tenant, dashboard_port=free_port(), refresh_seconds=0, log_dir=tmp_path
    ) as stack:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(stack.dashboard_url)
        settle(page, "Orders by stage")
        assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1  # the funnel, from the summary endpoint
        if "/v1/kpis" in served:
            assert page.get_by_text("Order cycle time", exact=True).count() == 1
            assert page.locator('[data-testid="stMetric"]').count() >= 4
        else:
            assert page.get_by_text("/v1/kpis is not available on the server").count() == 1
        shoot(page, tmp_path, "executive", "Orders by stage")

        page.set_viewport_size({"width": 1440, "height": 1000})
        page.get_by_text("Stuck orders by stage and warehouse").click()  # the funnel's link to operations
        page.wait_for_url("**/operations")
        settle(page, "Dead letters")
        settle(page, "Stuck orders")
        assert page.get_by_text("Drill into").count() == 1  # the heatmap has cells: four orders are stuck
        if "/v1/alerts" in served:
            assert page.get_by_role("button", name="Silence alerts like it").count() == 1  # an alert to act on
        else:
            assert page.get_by_text("/v1/alerts is not available on the server").count() == 1
        shoot(page, tmp_path, "operations", "Dead letters")

        page.set_viewport_size({"width": 1440, "height": 1000})
        page.get_by_role("link", name="Order trace").click()  # the navigation
        page.wait_for_url("**/order_trace")
        settle(page, "Find an order by any identifier")
        box = page.get_by_label("Find an order by any identifier")
        box.fill(traffic.TRACKING_LATE)
        box.press("Enter")
        settle(page, "Segments against their thresholds")
        settle(page, "Late: shipment")
        assert f"q={traffic.TRACKING_LATE}" in page.url
        assert page.get_by_text("SO-5007").count() >= 1  # the ERP's number, among the identifiers
        if "/v1/traces" in served:
            assert page.get_by_text("order.accepted · from erp/netsuite · 3 spans").count() == 1
        shoot(page, tmp_path, "order_trace", "Late: shipment")

        # An order's link from the operations tables opens its trace by journey id.
        journey_id = api.get("/v1/lookup", params={"q": "SO-5009"}).json()["matches"][0]["journeys"][0]
        page.goto(f"{stack.dashboard_url}/order_trace?journey={journey_id}")
        settle(page, f"Journey {journey_id}")
        assert errors == [], errors


def test_pages_refresh_themselves(
    server: ServerProcess, api: httpx.Client, tenant: str, browser: Browser, tmp_path: Path
) -> None:
    post_events(api, traffic.orders())
    wait_for(lambda: correlated(api))
    with run_stack(
        api_url=server.url, tenant=tenant, dashboard_port=free_port(), refresh_seconds=2, log_dir=tmp_path
    ) as stack:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(f"{stack.dashboard_url}/operations")
        stuck = page.locator('[data-testid="stMetric"]', has_text="Stuck orders")
        stuck.get_by_text("4", exact=True).wait_for(timeout=60_000)
        # One more order waits past its threshold; the open page shows it without being reloaded.
        late = {**traffic.orders()[0], "id": "o-extra"}
        late["data"] = {**late["data"], "objects": [{"type": "order", "ids": {"shopify/acme": "#EXTRA"}}]}
        post_events(api, [late])
        wait_for(lambda: correlated(api))
        stuck.get_by_text("5", exact=True).wait_for(timeout=30_000)


def test_the_simulated_business_in_chromium(
    start_server: Callable[..., ServerProcess], browser: Browser, tmp_path: Path
) -> None:
    """Simulated traffic through the real adapters (an ERP outage and a UPS outage among it), the
    dashboard on it, an order found by its tracking number; a screenshot of each page."""
    from simulator.run import Plan, deliver, secrets_env

    start = datetime(2026, 10, 5, tzinfo=UTC)
    server = start_server(env={**secrets_env(), "TOWER_CLOCK": "2026-10-05T00:00:00Z"})
    scenarios = [
        "erp-maintenance:start=1d9h,duration=2h",
        "carrier-outage:start=1d15h,duration=5h,target=ups",
        "malformed:start=1d10h,duration=4h,intensity=0.1",
    ]
    plan = Plan(start, days=2, orders_per_day=300, seed=21, scenarios=scenarios)
    simulation, report = deliver(plan, server.url)
    assert report.unexpected == []
    with httpx.Client(base_url=server.url, timeout=60) as api:
        assert api.post("/v1/slos/evaluate").status_code == 200
        assert api.get("/v1/alerts").json()["total"] > 0  # the ERP outage paged
    parcel = next(
        s
        for o in simulation.truth.orders.values()
        for s in o.shipments
        if s.carrier == "ups" and "shipment.delivered" in s.milestones
    )

    with run_stack(api_url=server.url, dashboard_port=free_port(), refresh_seconds=0, log_dir=tmp_path) as stack:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(stack.dashboard_url)
        settle(page, "Orders by stage")
        shoot(page, tmp_path, "executive", "Orders by stage")

        page.set_viewport_size({"width": 1440, "height": 1000})
        page.goto(f"{stack.dashboard_url}/operations")
        settle(page, "Dead letters")
        settle(page, "Stuck orders")
        assert page.get_by_role("button", name="Silence alerts like it").count() == 1
        shoot(page, tmp_path, "operations", "Dead letters")

        page.set_viewport_size({"width": 1440, "height": 1000})
        page.goto(f"{stack.dashboard_url}/order_trace")
        settle(page, "Find an order by any identifier")
        box = page.get_by_label("Find an order by any identifier")
        box.fill(parcel.tracking)
        box.press("Enter")
        settle(page, "Segments against their thresholds")
        assert f"q={parcel.tracking}" in page.url
        order = next(o for o in simulation.truth.orders.values() if parcel in o.shipments)
        assert page.get_by_text(order.ids["erp"]).count() >= 1  # the ERP's number among the identifiers
        shoot(page, tmp_path, "order_trace", "Segments against their thresholds")
        assert errors == [], errors
