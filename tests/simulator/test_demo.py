"""`tower demo`: simulate once, then serve live on the simulated business; a second start resumes."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx

from simulator.demo import keys_for, run_demo
from tower.processes import free_port


def test_the_demo_simulates_once_then_serves_live_with_its_keys(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    port, dashboard_port = free_port(), free_port()
    seen: dict[str, object] = {}

    def look() -> None:
        keys = keys_for(data)
        url = f"http://127.0.0.1:{port}"
        read = {"Authorization": f"Bearer {keys.read}"}
        seen["journeys"] = httpx.get(f"{url}/v1/journeys", params={"limit": 1}, headers=read).json()["total"]
        seen["clock"] = httpx.get(f"{url}/v1/admin/clock", headers=read).json()["mode"]
        seen["anonymous"] = httpx.get(f"{url}/v1/journeys").status_code
        if "dashboard" not in seen:
            seen["dashboard"] = httpx.get(f"http://127.0.0.1:{dashboard_port}/_stcore/health").status_code
        seen["ingest_reads"] = httpx.get(
            f"{url}/v1/journeys", headers={"Authorization": f"Bearer {keys.ingest}"}
        ).status_code

    first = io.StringIO()
    run_demo(data, days=1, orders_per_day=120, seed=1, port=port, fresh=False, live_orders_per_day=100,
             dashboard_port=dashboard_port, out=first, wait=look)  # fmt: skip
    assert "simulating 1 days" in first.getvalue()
    assert "admin key  ct_admin_" in first.getvalue()
    assert seen["journeys"] and int(str(seen["journeys"])) > 50
    assert seen["clock"] == "system"  # handed over to live time after the simulated month
    assert seen["anonymous"] == 401
    assert seen["ingest_reads"] == 403
    assert seen["dashboard"] == 200
    assert f"dashboard  http://127.0.0.1:{dashboard_port}" in first.getvalue()
    assert (data / "simulation" / "truth.json").exists()

    again = io.StringIO()
    began = time.monotonic()
    run_demo(data, days=1, orders_per_day=120, seed=1, port=port, fresh=False, live_orders_per_day=100,
             dashboard_port=None, out=again, wait=look)  # fmt: skip
    assert "simulating" not in again.getvalue()  # the month is there already: straight to live
    assert time.monotonic() - began < 60
