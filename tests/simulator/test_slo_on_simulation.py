"""The SLO engine and the detections scored on simulated business against its ground truth.

Two simulated runs, each shared by the tests of its fixture:

- every fault scenario in a window of its own, with quiet hours between (4 days at 250 orders a
  day, a catalogue of 30 SKUs): each raises the alert `simulator/score.py` says is right for it,
  at the severity it says, within ten simulated minutes of the moment its SLI can tell (of the
  incident's start, where its data shows it at once), and the alert resolves after the incident
  ends; deduplicated resends and refused payloads page nobody; no page fires outside the
  incidents; the stuck-order, missing-tracking and inventory-mismatch lists at the end agree with
  the truth with precision and recall of at least 0.95;
- a whole month without incidents at 40 orders a day, a catalogue of 12 SKUs and the integration
  platform's flows every 30 minutes, delivered in steps of two simulated hours (the engine still
  judges every minute), so it fits in CI: no page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulator.business import Business
from simulator.engine import Step
from simulator.run import Plan, deliver, secrets_env
from simulator.score import NO_ALERT, render, score, score_detections, scorecard
from simulator.send import Sender
from slo.detections import Calendars
from tests.conftest import ServerProcess
from tower.settings import Settings

START = datetime(2026, 10, 19, tzinfo=UTC)  # a Monday
SCENARIOS = [
    "carrier-outage:start=0d10h,duration=3h,target=ups",
    "erp-maintenance:start=0d20h,duration=6h",  # orders wait past their 4 hours: scored at MIDWAY
    "wms-delay:start=1d08h,duration=3h,target=dc-east",
    "duplicate-orders:start=1d13h,duration=3h,intensity=0.3",
    "stale-inventory:start=1d19h,duration=4h,target=dc-central",
    "rate-limit:start=2d06h,duration=2h,intensity=0.5",
    "malformed:start=2d11h,duration=3h,intensity=0.1",
    "status-lag:start=2d18h,duration=4h",
    "missing-tracking:start=3d08h,duration=6h,intensity=0.3",
]
MIDWAY = START + timedelta(days=1, hours=1)  # inside the ERP outage: stuck orders scored here too
# Incidents whose data shows them at once (a flow failing, an ERP refusing orders) page within ten
# simulated minutes of their start. The others cannot: a stale feed's last picture must first grow
# older than the freshness threshold (15 min), and a status lag delays syncs that only the evening's
# first scans ask for; they page within ten minutes of the moment their SLI can tell (`observable_at`).
FROM_START = {"carrier-outage", "erp-maintenance", "wms-delay", "rate-limit"}


@dataclass
class Scored:
    card: dict[str, Any]
    midway: dict[str, Any]  # detections scored at MIDWAY
    alerts: list[dict[str, Any]]
    url: str

    def row(self, kind: str) -> dict[str, Any]:
        return next(r for r in self.card["alerts"]["scenarios"] if r["scenario"] == kind)


def until(steps: Iterator[Step], at: datetime) -> Iterator[Step]:
    """The steps up to the one ending at `at`, leaving the rest of `steps` to be sent later."""
    for step in steps:
        yield step
        if step.end >= at:
            return


@pytest.fixture(scope="module")
def scored(start_module_server: Callable[..., ServerProcess]) -> Scored:
    server = start_module_server(env={**secrets_env(), "TOWER_CLOCK": START.strftime("%Y-%m-%dT%H:%M:%SZ")})
    plan = Plan(START, days=4.1, orders_per_day=250, seed=17, scenarios=SCENARIOS, business=Business(skus=30))
    simulation = plan.simulation()
    sender = Sender(server.url)
    settings = Settings()
    calendars = Calendars.from_settings(settings.warehouse_shifts, settings.carrier_cutoffs, settings.scan_grace_hours)
    with httpx.Client(base_url=server.url, timeout=300) as api:
        try:
            sender.prepare(START)
            steps = simulation.steps()
            sender.deliver(until(steps, MIDWAY))
            sender.wait_correlated()
            api.post("/v1/slos/evaluate").raise_for_status()
            kinds = ("stuck_orders", "missing_tracking")
            midway = score_detections(api, simulation.truth.as_dict(), MIDWAY, calendars, kinds)
            report = sender.deliver(steps)
            sender.wait_correlated()
        finally:
            sender.close()
        assert report.unexpected == []
        card = scorecard(api, simulation.truth.as_dict(), calendars)
        alerts = api.get("/v1/alerts", params={"limit": 1000}).json()["items"]
    print(render(card))  # the figures the README quotes (pytest -s shows them)
    print("midway", {k: v for k, v in midway.items() if k != "at"})
    return Scored(card, midway, alerts, server.url)


ALERTING = sorted({kind for kind in (s.split(":")[0] for s in SCENARIOS) if kind not in NO_ALERT})


@pytest.mark.parametrize("kind", ALERTING)
def test_each_incident_raises_its_alert_soon_after_it_can_be_seen(scored: Scored, kind: str) -> None:
    row = scored.row(kind)
    assert row["fired_at"] is not None, (row, [a["labels"] for a in scored.alerts if a["severity"] == "page"])
    assert 0 <= row["minutes_from_observable"] <= 10.0, row
    assert row["minutes_from_start"] >= 0, row


@pytest.mark.parametrize("kind", sorted(FROM_START))
def test_an_incident_its_data_shows_at_once_pages_within_ten_minutes_of_its_start(scored: Scored, kind: str) -> None:
    row = scored.row(kind)
    assert row["expected"].startswith("page") and row["minutes_from_start"] <= 10.0, row


@pytest.mark.parametrize("kind", [k for k in ALERTING if k != "missing-tracking"])
def test_each_alert_resolves_after_its_incident_ends(scored: Scored, kind: str) -> None:
    row = scored.row(kind)
    assert row["resolved_after_end"], row


def test_parcels_never_scanned_keep_their_ticket_open(scored: Scored) -> None:
    """The incident is over, its parcels are still unscanned: the ticket stays until someone acts."""
    row = scored.row("missing-tracking")
    assert row["state"] == "firing", row


@pytest.mark.parametrize("kind", sorted(NO_ALERT))
def test_resent_and_refused_input_pages_nobody(scored: Scored, kind: str) -> None:
    assert scored.row(kind)["pages_in_window"] == []


def test_no_page_outside_the_incidents(scored: Scored) -> None:
    assert scored.card["alerts"]["unexplained_pages"] == []


@pytest.mark.parametrize(
    "path", ["/v1/alerts", "/v1/reconciliation/stuck", "/v1/reconciliation/tracking", "/v1/reconciliation/inventory"]
)
def test_lists_page_with_a_cursor(scored: Scored, path: str) -> None:
    with httpx.Client(base_url=scored.url, timeout=120) as api:
        whole = api.get(path, params={"limit": 1000}).json()
        assert whole["next"] is None and whole["total"] == len(whole["items"]) > 1
        size = max(1, whole["total"] // 4)  # a few pages whatever the list's length
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            body = api.get(path, params={"limit": size, **({"cursor": cursor} if cursor else {})}).json()
            assert len(body["items"]) <= size and body["total"] == whole["total"]
            seen.extend(body["items"])
            cursor = body["next"]
            if cursor is None:
                break
        bad = api.get(path, params={"cursor": "not-a-cursor"})
    assert [i.get("id") or i.get("journey_id") or (i.get("warehouse"), i.get("sku")) for i in seen] == [
        i.get("id") or i.get("journey_id") or (i.get("warehouse"), i.get("sku")) for i in whole["items"]
    ]
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("detection", ["stuck_orders", "missing_tracking", "inventory_mismatches"])
def test_detections_agree_with_the_truth(scored: Scored, detection: str) -> None:
    result = scored.card["detections"][detection]
    assert result["truth"] > 0, result  # the run gives each detection something to find
    assert result["precision"] >= 0.95 and result["recall"] >= 0.95, result


def test_orders_the_erp_has_not_accepted_for_four_hours_are_stuck(scored: Scored) -> None:
    """Midway through the ERP outage, the orders it has not accepted for 4 hours are the stuck ones."""
    result = scored.midway["stuck_orders"]
    assert result["by_stage"].get("received", 0) > 0, result
    assert result["precision"] >= 0.95 and result["recall"] >= 0.95, result


# A small catalogue (one SKU a stock report) and the integration platform's flows every 30 minutes
# instead of 5: fewer good events, no fewer chances to page, a third of the traffic.
QUIET = Business(skus=12, poll_minutes=30)


QUIET_START = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def quiet_month(start_module_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, Any]:
    start = QUIET_START
    server = start_module_server(env={**secrets_env(), "TOWER_CLOCK": start.strftime("%Y-%m-%dT%H:%M:%SZ")})
    plan = Plan(start, days=30, orders_per_day=40, seed=23, scenarios=[], step_minutes=120, business=QUIET)
    simulation, report = deliver(plan, server.url)
    assert report.unexpected == []
    return server, simulation


def test_a_month_of_journeys_agrees_with_the_ground_truth(quiet_month: tuple[ServerProcess, Any]) -> None:
    server, simulation = quiet_month
    with httpx.Client(base_url=server.url, timeout=300) as api:
        result = score(api, simulation.truth, sample=200, seed=5)
    assert result["journeys"] == result["orders"] > 1_000, result
    assert result["disagreements"] == [], result["disagreements"]
    for label, counts in {**result["by_stage"], **result["by_status"]}.items():
        assert counts["tower"] == counts["truth"], (label, counts)


def test_a_quiet_month_pages_nobody(quiet_month: tuple[ServerProcess, Any]) -> None:
    server, _ = quiet_month
    start = QUIET_START
    with httpx.Client(base_url=server.url, timeout=300) as api:
        assert api.post("/v1/slos/evaluate").status_code == 200
        clock = api.get("/v1/admin/clock").json()
        pages = api.get("/v1/alerts", params={"severity": "page", "limit": 1000}).json()
        slos = api.get("/v1/slos").json()["items"]
    assert clock["evaluated_to"] >= (start + timedelta(days=30) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    assert pages["total"] == 0, [(a["labels"], a["starts_at"], a["annotations"]) for a in pages["items"]]
    assert all(s["status"] == "ok" for s in slos), [(s["name"], s["status"], s["budget_remaining"]) for s in slos]
    assert sum(s["slices"][0]["total"] for s in slos if s["slices"]) > 0  # the month was measured
