"""Every event that got a 202 survives SIGKILL of the server, and none is stored twice."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import REPO, ServerProcess, correlated, post_events, wait_for

pytestmark = pytest.mark.slow


def order_event(n: int) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": f"evt-{n}",
        "source": "shopify/crash",
        "type": "order.received",
        "time": f"2026-11-20T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "data": {"objects": [{"type": "order", "ids": {"shopify/crash": f"#{n}"}}]},
    }


def stored_counts(data_dir: Path) -> tuple[int, int, int]:
    """(rows, distinct keys, journeys) read straight from the store by a separate process."""
    code = (
        "import sys; from tower.store import Store; "
        f"s = Store('chdb://{data_dir / 'clickhouse'}'); "
        "r = s.query(\"SELECT count(), uniqExact(source, id) FROM {db}.events WHERE tenant = ''\")[0]; "
        'j = s.query("SELECT count() FROM {db}.journeys FINAL WHERE alive = 1")[0][0]; '
        "print(r[0], r[1], j)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    rows, keys, journeys = (int(x) for x in out.stdout.split())
    return rows, keys, journeys


def test_sigkill_while_streaming_loses_no_acknowledged_event(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "store")
    acked: set[int] = set()
    sent_upto = [0]
    stop = threading.Event()

    def stream() -> None:
        n = 0
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                batch = list(range(n, n + 250))
                body = b"\n".join(orjson.dumps(order_event(i)) for i in batch)
                n += 250
                sent_upto[0] = n
                try:
                    response = client.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
                except httpx.HTTPError:
                    return  # the server is gone: these were never acknowledged
                if response.status_code == 202:
                    acked.update(batch)

    writer = threading.Thread(target=stream)
    writer.start()
    wait_for(lambda: len(acked) >= 5_000, timeout=60)
    server.kill()
    stop.set()
    writer.join(30)
    assert acked, "nothing was acknowledged before the kill"

    restarted = start_server(tmp_path / "store", port=server.port)
    with httpx.Client(base_url=restarted.url, timeout=60) as client:
        # Re-sending everything that was sent: acknowledged events must all be duplicates now.
        events = [order_event(i) for i in range(sent_upto[0])]
        totals = post_events(client, events, batch=2_000)
        assert totals["duplicates"] >= len(acked)
        assert totals["accepted"] + totals["duplicates"] == sent_upto[0]
        wait_for(lambda: correlated(client), timeout=60)
        sample = sorted(acked)[:: max(1, len(acked) // 25)]
        for n in sample:
            matches = client.get("/v1/lookup", params={"q": f"#{n}"}).json()["matches"]
            assert len(matches) == 1 and len(matches[0]["journeys"]) == 1, n
    restarted.stop()
    rows, keys, journeys = stored_counts(tmp_path / "store")
    assert rows == keys == sent_upto[0]
    assert journeys == sent_upto[0]


def test_restart_resumes_from_the_snapshot_without_replaying_everything(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "store")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        post_events(client, [order_event(i) for i in range(3_000)])
        wait_for(lambda: correlated(client), timeout=60)
    server.stop()  # clean stop: the correlator writes a snapshot
    restarted = start_server(tmp_path / "store", port=server.port)
    with httpx.Client(base_url=restarted.url, timeout=60) as client:
        metrics = client.get("/metrics").text
        assert "tower_correlator_replayed_events_total 0" in metrics
        assert "tower_journeys 3000" in metrics
        # The restored graph still merges: a new identifier on a known order joins its journey.
        journey_id = client.get("/v1/lookup", params={"q": "#42"}).json()["matches"][0]["journeys"][0]
        post_events(
            client,
            [
                {
                    "specversion": "1.0",
                    "id": "link-42",
                    "source": "erp",
                    "type": "order.accepted",
                    "time": "2026-11-20T11:00:00Z",
                    "data": {"objects": [{"type": "order", "ids": {"shopify/crash": "#42", "erp": "SO-42"}}]},
                }
            ],
        )
        wait_for(lambda: correlated(client))
        assert client.get("/v1/lookup", params={"q": "SO-42"}).json()["matches"][0]["journeys"] == [journey_id]


def test_a_journey_evicted_before_a_restart_comes_back_for_a_late_event(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    env = {"TOWER_JOURNEY_HOT_DAYS": "0"}
    order = {"type": "order", "ids": {"erp": "SO-9"}}
    parcel = {"type": "shipment", "ids": {"tracking:ups": "1ZLATE"}}

    def ev(eid: str, etype: str, time: str, *objects: dict[str, object]) -> dict[str, object]:
        return {
            "specversion": "1.0",
            "id": eid,
            "source": "s",
            "type": etype,
            "time": time,
            "data": {"objects": list(objects)},
        }

    server = start_server(tmp_path / "store", env=env)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        post_events(
            client,
            [
                ev("r", "order.received", "2026-11-20T08:00:00Z", order),
                ev("m", "shipment.manifested", "2026-11-20T12:00:00Z", order, parcel),
                ev("d", "shipment.delivered", "2026-11-21T12:00:00Z", parcel),
            ],
        )
        wait_for(lambda: correlated(client))
        assert 'tower_correlator_evictions_total{what="evicted"} 1' in client.get("/metrics").text
    server.stop()
    restarted = start_server(tmp_path / "store", env=env, port=server.port)
    with httpx.Client(base_url=restarted.url, timeout=60) as client:
        post_events(client, [ev("pod", "shipment.delivered", "2026-11-21T12:05:00Z", parcel)])  # proof of delivery
        wait_for(lambda: correlated(client))
        assert 'tower_correlator_evictions_total{what="rehydrated"} 1' in client.get("/metrics").text
        journey_id = client.get("/v1/lookup", params={"q": "SO-9"}).json()["matches"][0]["journeys"][0]
        journey = client.get(f"/v1/journeys/{journey_id}").json()
        assert [e["id"] for e in journey["events"]] == ["r", "m", "d", "pod"]
        assert any(a["kind"] == "duplicate_milestone" for a in journey["anomalies"])
