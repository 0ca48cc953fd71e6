"""The embedded correlator's own process SIGKILLed mid-stream: ingest goes on, the server starts it
again, it resumes from the log, and every order ends in exactly one journey holding both its ids.

The same drill under Kafka (writer and correlator as stages) is in test_faults_stages.py; this one
is the default install, where the correlator is a child of the server that owns the chDB store.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ServerProcess, correlated, wait_for

pytestmark = pytest.mark.slow
ORDERS = 3_000


def order_events(n: int) -> list[dict[str, Any]]:
    """The web store's order, then the ERP's acceptance linking its own number (a merge)."""
    minute = f"2026-11-20T{10 + n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
    shop = {"type": "order", "ids": {"shopify/drill": f"#{n}"}}
    return [
        {
            "specversion": "1.0",
            "id": f"rcv-{n}",
            "source": "shopify/drill",
            "type": "order.received",
            "time": minute,
            "data": {"objects": [shop]},
        },
        {
            "specversion": "1.0",
            "id": f"acc-{n}",
            "source": "erp/drill",
            "type": "order.accepted",
            "time": minute,
            "data": {"objects": [{"type": "order", "ids": {"shopify/drill": f"#{n}", "erp": f"SO-{n}"}}]},
        },
    ]


def test_correlator_process_killed_mid_stream(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(tmp_path / "store", {"TOWER_SLO_ENGINE": "false"})
    with httpx.Client(base_url=server.url, timeout=60) as client:
        first = client.get("/readyz").json()["checks"]["correlator"]["process"]
        assert first["running"] and first["restarts"] == 0
        sent = [0]
        refused: list[str] = []

        def stream() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                for start in range(0, ORDERS, 100):
                    events = [e for n in range(start, start + 100) for e in order_events(n)]
                    r = c.post(
                        "/v1/events",
                        content=b"\n".join(orjson.dumps(e) for e in events),
                        headers={"content-type": "application/x-ndjson"},
                    )
                    if r.status_code != 202:
                        refused.append(r.text)
                    sent[0] = start + 100
                    time.sleep(0.02)

        streamer = threading.Thread(target=stream)
        streamer.start()
        wait_for(lambda: sent[0] >= ORDERS // 3, timeout=120)
        os.kill(first["pid"], signal.SIGKILL)
        # /readyz says so while it is down, stays ready (ingest goes on), and reports the restart
        states = [client.get("/readyz") for _ in range(3)]
        assert all(s.status_code == 200 for s in states)
        streamer.join(timeout=300)
        assert not refused, refused[:3]

        def restarted() -> dict[str, Any] | None:
            process = client.get("/readyz").json()["checks"]["correlator"]["process"]
            return process if process["running"] and process["restarts"] == 1 else None

        again = wait_for(restarted, timeout=120)
        assert again["pid"] != first["pid"]
        wait_for(lambda: correlated(client), timeout=300)

        summary = client.get("/v1/journeys/summary").json()
        assert sum(item["count"] for item in summary["items"]) == ORDERS
        for n in range(0, ORDERS, 97):
            by_shop = client.get("/v1/lookup", params={"q": f"#{n}"}).json()["matches"]
            by_erp = client.get("/v1/lookup", params={"q": f"SO-{n}"}).json()["matches"]
            assert len(by_shop) == 1 and by_shop[0]["journeys"] == by_erp[0]["journeys"], n
            journey = client.get(f"/v1/journeys/{by_shop[0]['journeys'][0]}").json()
            assert sorted(e["id"] for e in journey["events"]) == [f"acc-{n}", f"rcv-{n}"], n
        metrics = client.get("/metrics").text
        assert "tower_correlator_restarts_total 1" in metrics
        # Memory, per process: the restarted child's, the server's, and what its ClickHouse engine tracks.
        gauges = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line and not line.startswith("#"))
        server_rss = int(gauges['tower_process_resident_bytes{process="server"}'])
        assert 50e6 < server_rss < 8e9 and int(gauges['tower_process_resident_bytes{process="correlator"}']) > 10e6
        assert 0 < int(gauges["tower_clickhouse_memory_bytes"]) < server_rss
