"""The SLO engine on simulated traffic: quiet days raise no page; an ERP outage pages order acceptance
within ten simulated minutes of its start and resolves after it ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from simulator.run import Plan, deliver, secrets_env
from tests.conftest import ServerProcess

START = datetime(2026, 10, 19, tzinfo=UTC)


def parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def test_an_erp_outage_pages_within_ten_minutes_and_quiet_days_do_not(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(env={**secrets_env(), "TOWER_CLOCK": "2026-10-19T00:00:00Z"})
    plan = Plan(START, days=2.5, orders_per_day=1200, seed=17, scenarios=["erp-maintenance:start=1d14h,duration=2h"])
    simulation, report = deliver(plan, server.url)
    assert report.unexpected == []
    outage = simulation.scenarios[0]
    with httpx.Client(base_url=server.url, timeout=120) as api:
        assert api.post("/v1/slos/evaluate").status_code == 200
        alerts = api.get("/v1/alerts", params={"limit": 500}).json()["items"]
    pages = [a for a in alerts if a["severity"] == "page"]
    before = [a for a in pages if parse(a["starts_at"]) < outage.start]  # type: ignore[operator]
    assert before == [], [(a["labels"], a["starts_at"], a["annotations"]) for a in before]  # quiet: no page
    acceptance = [
        a
        for a in pages
        if a["labels"].get("slo") == "order-acceptance"
        and not (set(a["labels"]) - {"alertname", "slo", "severity"})  # all traffic, not one slice
    ]
    assert acceptance, [a["labels"] for a in pages]
    first = min(acceptance, key=lambda a: a["starts_at"])
    fired = parse(first["starts_at"])
    assert fired is not None and outage.start <= fired <= outage.start + timedelta(minutes=10), first
    assert first["state"] == "resolved" and parse(first["ends_at"]) > outage.end, first  # type: ignore[operator]
