"""Each fault scenario leaves the mark it should in what the tower stored — checked against the ground truth.

One simulated stretch with every scenario in its own window; the server is stopped afterwards and
its store read directly, since the tests ask about stored events, not about any one API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from simulator.engine import Simulation
from simulator.run import Plan, deliver, secrets_env
from simulator.send import Report
from simulator.truth import Incident
from tests.conftest import ServerProcess
from tower.settings import Settings
from tower.store import Store

START = datetime(2026, 10, 12, tzinfo=UTC)
SCENARIOS = [
    "duplicate-orders:start=0d10h,duration=12h,intensity=0.3",
    "missing-tracking:start=0d12h,duration=24h,intensity=0.3",
    "stale-inventory:start=1d,duration=24h,target=dc-east",
    "erp-maintenance:start=1d3h,duration=2h",
    "carrier-outage:start=1d14h,duration=6h,target=ups",
    "rate-limit:start=2d1h,duration=4h,intensity=0.5",
    "malformed:start=2d9h,duration=6h,intensity=0.1",
    "status-lag:start=2d16h,duration=8h",
    "wms-delay:start=3d8h,duration=6h,target=dc-east",
]


@dataclass
class Run:
    simulation: Simulation
    report: Report
    dead_letters: int
    store: Store

    def incident(self, kind: str) -> Incident:
        return self.simulation.incidents[kind]

    def window(self, kind: str) -> tuple[datetime, datetime]:
        s = next(s for s in self.simulation.scenarios if s.kind == kind)
        return s.start, s.end

    def events(self, where: str, **params: Any) -> list[dict[str, Any]]:
        rows = self.store.read(
            "SELECT source, id, type, time, ingested_at, payload FROM {db}.events "
            f"WHERE tenant = {{tenant:String}} AND {where} ORDER BY time",
            "",
            params,
        )
        for row in rows:
            row["data"] = orjson.loads(row["payload"]).get("data", {})
        return rows


@pytest.fixture(scope="module")
def run(start_module_server: Callable[..., ServerProcess]) -> Iterator[Run]:
    server = start_module_server(env={**secrets_env(), "TOWER_CLOCK": "2026-10-12T00:00:00Z"})
    plan = Plan(START, days=4, orders_per_day=150, seed=5, scenarios=SCENARIOS)
    simulation, report = deliver(plan, server.url)
    with httpx.Client(base_url=server.url) as client:
        dead_letters = client.get("/v1/dead-letters", params={"limit": 1}).json()["total"]
    server.stop()
    store = Store(Settings(data_dir=server.data_dir).dsn)
    try:
        yield Run(simulation, report, dead_letters, store)
    finally:
        store.close()


def test_nothing_but_the_broken_payloads_is_refused(run: Run) -> None:
    assert run.report.unexpected == []


def test_carrier_outage_no_scans_inside_the_window_then_the_backlog(run: Run) -> None:
    start, end = run.window("carrier-outage")
    scans = run.events("source = 'easypost' AND time >= {a:DateTime64(6)} AND time < {b:DateTime64(6)}", a=start, b=end)
    assert scans == []
    affected = run.incident("carrier-outage").shipments
    assert affected, "the outage touched no parcel: the window is misplaced"
    after = run.events("source = 'easypost' AND time >= {b:DateTime64(6)}", b=end)
    scanned_after = {o["ids"]["tracking:ups"] for e in after for o in e["data"]["objects"]}
    assert affected <= scanned_after | run.incident("missing-tracking").shipments
    failures = run.events(
        "type = 'sync.failed' AND time >= {a:DateTime64(6)} AND time < {b:DateTime64(6)}", a=start, b=end
    )
    assert any(f["data"]["facts"]["system"] == "carrier/ups" for f in failures)


def test_erp_maintenance_accepts_nothing_then_works_through_the_backlog(run: Run) -> None:
    start, end = run.window("erp-maintenance")
    accepted = run.events(
        "type = 'order.accepted' AND source = 'erp/netsuite' AND "
        "time >= {a:DateTime64(6)} AND time < {b:DateTime64(6)}",
        a=start,
        b=end,
    )
    assert accepted == []
    affected = run.incident("erp-maintenance").orders
    failed = run.events(
        "type = 'sync.failed' AND time >= {a:DateTime64(6)} AND time < {b:DateTime64(6)} "
        "AND position(payload, 'maintenance') > 0",
        a=start,
        b=end,
    )
    assert len(failed) >= len([o for o in affected if run.simulation.truth.orders[o].received_at >= start])
    burst = run.events(
        "type = 'order.accepted' AND source = 'erp/netsuite' AND "
        "time >= {b:DateTime64(6)} AND time < {c:DateTime64(6)}",
        b=end,
        c=end + timedelta(minutes=35),
    )
    assert len(burst) >= len([o for o in affected if run.simulation.truth.orders[o].received_at >= start]) > 0


def test_duplicate_orders_are_counted_never_stored(run: Run) -> None:
    incident = run.incident("duplicate-orders")
    assert incident.messages > 0
    assert run.report.duplicates == incident.events
    rows = run.store.read(
        "SELECT count() AS n, uniqExact(source, id) AS u FROM {db}.events WHERE tenant = {tenant:String}", "", {}
    )
    assert rows[0]["n"] == rows[0]["u"]


def test_malformed_payloads_are_refused_and_quarantined_and_their_fixed_resends_land(run: Run) -> None:
    incident = run.incident("malformed")
    assert incident.messages > 0
    assert run.report.refused_messages == incident.messages
    assert run.dead_letters == incident.messages
    # the fixed resends made it: every order the simulation knows has its journey's first milestone
    received = run.store.read(
        "SELECT count() AS n FROM {db}.events WHERE tenant = {tenant:String} AND type = 'order.received'", "", {}
    )[0]["n"]
    assert received >= len(run.simulation.truth.orders)


def test_missing_tracking_parcels_are_never_scanned(run: Run) -> None:
    parcels = run.incident("missing-tracking").shipments
    assert parcels
    carriers = run.events("source IN ('easypost', 'carrier/usps') OR type = 'shipment.in_transit'")
    scanned = {value for e in carriers for o in e["data"]["objects"] for value in o["ids"].values()}
    assert parcels.isdisjoint(scanned)


def test_rate_limited_calls_fail_with_429_and_are_retried(run: Run) -> None:
    start, end = run.window("rate-limit")
    failed = [
        e
        for e in run.events("type = 'sync.failed'")
        if "429" in e["data"]["facts"]["error"] and start <= e["time"].replace(tzinfo=UTC) < end
    ]
    retried = run.events("type = 'sync.retried' AND time >= {a:DateTime64(6)}", a=start)
    assert failed
    assert len(retried) >= len(failed)
    assert run.incident("rate-limit").orders


def test_status_lag_milestones_reach_the_erp_hours_late(run: Run) -> None:
    lagged = run.incident("status-lag").shipments
    assert lagged
    synced = run.events("type = 'order.status_synced' AND source = 'erp/netsuite'")
    delays = {}
    for e in synced:
        tracking = next(v for o in e["data"]["objects"] if o["type"] == "shipment" for v in o["ids"].values())
        first = datetime.fromisoformat(e["data"]["facts"]["first_scan_at"].replace("Z", "+00:00"))
        delays[tracking] = e["time"].replace(tzinfo=UTC) - first
    late = [delays[t] for t in lagged if t in delays]
    on_time = [d for t, d in delays.items() if t not in lagged]
    assert late and min(late) >= timedelta(hours=2)
    assert max(on_time) < timedelta(hours=1)


def test_stale_inventory_snapshots_are_stale_and_out_of_order_and_allocations_oversell(run: Run) -> None:
    start, end = run.window("stale-inventory")
    snapshots = run.events(
        "type = 'inventory.snapshot' AND source = 'erp/netsuite' AND "
        "time >= {a:DateTime64(6)} AND time < {b:DateTime64(6)}",
        a=start,
        b=end,
    )
    east = [s for s in snapshots if s["data"]["facts"]["warehouse"] == "dc-east"]
    as_of = [datetime.fromisoformat(s["data"]["facts"]["as_of"].replace("Z", "+00:00")) for s in east]
    assert any(s["time"].replace(tzinfo=UTC) - a > timedelta(hours=2) for s, a in zip(east, as_of, strict=True))
    oversold = run.incident("stale-inventory").orders
    assert oversold
    short = run.events("type = 'inventory.backordered' AND position(payload, 'short pick') > 0")
    short_orders = {o["ids"]["erp"] for e in short for o in e["data"]["objects"]}
    # oversold: the ERP allocated what the shelf did not hold, and the pick came up short
    truth = run.simulation.truth.orders
    assert short_orders == {o.ids["erp"] for o in truth.values() if o.oversold}
    assert {truth[k].ids["erp"] for k in oversold} <= short_orders


def test_wms_delay_confirmations_arrive_after_later_traffic(run: Run) -> None:
    start, end = run.window("wms-delay")
    late = run.events(
        "source = 'wms/dc-east' AND type != 'inventory.snapshot' AND time >= {a:DateTime64(6)} "
        "AND time < {m:DateTime64(6)}",
        a=start,
        m=end - timedelta(hours=3),
    )
    assert late
    # traffic of the same hours from every other system was acknowledged before the late files came
    # (2.5 simulated hours apart is beyond the sender's window of steps in flight)
    others = run.events(
        "source != 'wms/dc-east' AND time >= {a:DateTime64(6)} AND time < {m:DateTime64(6)}",
        a=start,
        m=end - timedelta(hours=2.5),
    )
    assert min(e["ingested_at"] for e in late) > max(e["ingested_at"] for e in others)
    assert run.incident("wms-delay").orders
