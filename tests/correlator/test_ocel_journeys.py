"""The OCEL 2.0 order-management log, posted over HTTP, gives exactly the journeys the log implies."""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, correlated, post_events, wait_for
from tests.support.ocel import OCEL_ORDER_MANAGEMENT, expected_journey_events, load_ocel, ocel_to_canonical

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ocel_log() -> dict[str, Any]:
    return load_ocel(OCEL_ORDER_MANAGEMENT)


def all_journeys(client: httpx.Client) -> list[dict[str, Any]]:
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/journeys", params=params).json()
        ids.extend(item["id"] for item in page["items"])
        cursor = page["next"]
        if not cursor:
            break

    def fetch(journey_id: str) -> dict[str, Any]:
        response = client.get(f"/v1/journeys/{journey_id}")
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(fetch, ids))


def by_order(journeys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Journeys keyed by their order's OCEL id (object ids differ per tenant; OCEL ids do not)."""
    out = {}
    for j in journeys:
        order = next(o for o in j["objects"] if o["id"] == j["id"])
        out[order["ids"]["ocel"]] = j
    return out


def test_ocel_log_gives_one_journey_per_order_with_exactly_its_events(
    server: ServerProcess, api: httpx.Client, ocel_log: dict[str, Any]
) -> None:
    events = ocel_to_canonical(ocel_log)
    assert len(events) == 21_008
    totals = post_events(api, events, batch=5_000)
    assert totals == {"accepted": 21_008, "duplicates": 0}
    wait_for(lambda: correlated(api), timeout=120)

    listing = api.get("/v1/journeys", params={"limit": 1}).json()
    assert listing["total"] == 2_000

    journeys = by_order(all_journeys(api))
    expected = expected_journey_events(ocel_log)
    assert set(journeys) == set(expected)
    wrong = {
        order: (len(expected[order]), len(j["events"]))
        for order, j in journeys.items()
        if {e["id"] for e in j["events"]} != expected[order]
    }
    assert wrong == {}

    # Packages holding items of several orders show in each of those orders' journeys, and no
    # journey picks up another order's items.
    packages_in = {}
    for order, j in journeys.items():
        for obj in j["objects"]:
            if obj["type"] == "shipment":
                packages_in.setdefault(obj["ids"]["ocel"], set()).add(order)
            if obj["type"] == "order_line":
                assert obj["journeys"] == [j["id"]]
    shared = sum(1 for orders in packages_in.values() if len(orders) > 1)
    assert len(packages_in) == 1_128
    assert shared == 1_061

    # Every order was delivered (every package of the log has a "package delivered").
    assert {j["stage"] for j in journeys.values()} == {"delivered"}

    # Reposting the whole log stores nothing twice.
    assert post_events(api, events, batch=5_000) == {"accepted": 0, "duplicates": 21_008}


def summarise(journeys: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What must not depend on arrival order, with per-tenant object ids replaced by OCEL ids."""
    out = {}
    for order, j in journeys.items():
        names = {o["id"]: o["ids"].get("ocel", o["id"]) for o in j["objects"]}
        out[order] = {
            "stage": j["stage"],
            "status": j["status"],
            "stage_at": j["stage_at"],
            "received_at": j["received_at"],
            "departed_at": j["departed_at"],
            "delivered_at": j["delivered_at"],
            "events": sorted((e["source"], e["id"]) for e in j["events"]),
            "objects": sorted(names.values()),
            "durations": j["durations"],
            "milestones": sorted(
                # a scope is an object id, or None for a milestone not (yet) tied to one: "" sorts it
                (m["type"], names.get(m["scope"], m["scope"]) or "", m["first"], m["last"], m["count"])
                for m in j["milestones"]
            ),
            "anomalies": sorted((a["kind"], a.get("milestone", ""), a.get("missing", "")) for a in j["anomalies"]),
        }
    return out


def test_arrival_order_does_not_change_journeys(
    server: ServerProcess, start_server: Callable[..., ServerProcess], ocel_log: dict[str, Any]
) -> None:
    events = ocel_to_canonical(ocel_log)
    events.sort(key=lambda e: (e["time"], e["id"]))
    subset = events[:4_000]
    shuffled = random.Random(42).sample(subset, len(subset))
    # The last run evicts every journey, finished or not, from the correlator's memory after every
    # step, so late events can only reach them by bringing them back from the log.
    evicting = start_server(env={"TOWER_JOURNEY_HOT_DAYS": "0", "TOWER_JOURNEY_IDLE_DAYS": "0"})
    runs = [(server, subset), (server, list(reversed(subset))), (server, shuffled), (evicting, shuffled)]
    summaries = []
    for i, (target, ordering) in enumerate(runs):
        with httpx.Client(base_url=target.url, headers={"X-Tower-Tenant": f"order-indep-{i}"}, timeout=60) as client:
            post_events(client, ordering, batch=97)  # small batches: many correlator steps, late links
            wait_for(lambda c=client: correlated(c), timeout=60)
            summaries.append(summarise(by_order(all_journeys(client))))
            if target is evicting:
                metrics = client.get("/metrics").text
                assert 'tower_correlator_evictions_total{what="evicted"} 0' not in metrics
                assert 'tower_correlator_evictions_total{what="rehydrated"} 0' not in metrics
    assert len(summaries[0]) > 300
    for run, other in enumerate(summaries[1:], start=1):
        differences = {
            order: sorted(k for k in journey if journey[k] != other.get(order, {}).get(k))
            for order, journey in summaries[0].items()
            if journey != other.get(order)
        }
        assert differences == {}, (run, dict(list(differences.items())[:5]))
        assert other.keys() == summaries[0].keys()
