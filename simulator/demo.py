"""`tower demo`: a month of a distributor's business, then the tower running live on it.

First run: simulate the month (ending now) into a fresh store on a driven clock, hand the clock to
the system, and keep a live trickle of new traffic flowing. Later runs find the month already
there and only start the server and the trickle. Keys are made once and kept with the data.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from simulator import run as sim
from tower.processes import ServerProcess, run_stack


@dataclass(slots=True)
class Keys:
    admin: str
    read: str
    ingest: str

    def setting(self) -> str:
        return f"{self.admin}=ingest+read+admin,{self.read}=read,{self.ingest}=ingest"


def keys_for(data_dir: Path) -> Keys:
    path = data_dir / "demo-keys.json"
    if path.exists():
        return Keys(**json.loads(path.read_text()))
    keys = Keys(*(f"ct_{role}_{secrets.token_urlsafe(18)}" for role in ("admin", "read", "ingest")))
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"admin": keys.admin, "read": keys.read, "ingest": keys.ingest}))
    path.chmod(0o600)
    return keys


def run_demo(
    data_dir: Path,
    *,
    days: float,
    orders_per_day: float,
    seed: int,
    port: int,
    fresh: bool,
    live_orders_per_day: float,
    dashboard_port: int | None = 8501,
    out: TextIO = sys.stderr,
    wait: Callable[[], None] | None = None,
) -> None:
    """Simulate (once), then serve with the dashboard (unless `dashboard_port` is None) and a live trickle;
    `wait` blocks until the demo should stop (Ctrl-C by default)."""
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    keys = keys_for(data_dir)
    state_path = data_dir / "simulation" / "state.json"
    env = {**sim.secrets_env(), "TOWER_API_KEYS": keys.setting()}
    simulated = state_path.exists()
    if not simulated:
        start = sim.default_start(days)
        plan = sim.Plan(start, days, orders_per_day, seed, sim.demo_scenarios(days))
        print(f"simulating {days:g} days of business at {orders_per_day:g} orders/day, with a few incidents:", file=out)
        for spec in plan.scenarios:
            print(f"  · {spec}", file=out)
        with ServerProcess(data_dir, {**env, "TOWER_CLOCK": start.strftime("%Y-%m-%dT%H:%M:%SZ")}, port) as server:
            simulation, report = sim.deliver(plan, server.url, api_key=keys.admin, progress=sim.Progress(start, days))
            release = httpx.post(
                f"{server.url}/v1/admin/clock",
                json={"mode": "system"},
                headers={"Authorization": f"Bearer {keys.admin}"},
            )
            release.raise_for_status()
        sim.write_truth(simulation, data_dir / "simulation" / "truth.json", {"delivery": report.as_dict()})
        state_path.write_text(json.dumps(simulation.state()))
        print(
            f"simulated {report.accepted:,} events in {report.seconds:.0f}s "
            f"({report.accepted / max(report.seconds, 1e-9):,.0f} events/s); ground truth in "
            f"{data_dir / 'simulation' / 'truth.json'}",
            file=out,
        )
    stopping = threading.Event()
    with contextlib.ExitStack() as running:
        if dashboard_port:
            stack = running.enter_context(
                run_stack(
                    port=port,
                    dashboard_port=dashboard_port,
                    data_dir=data_dir,
                    api_key=keys.admin,
                    server_env=env,
                    log_dir=data_dir / "logs",
                )
            )
            api_url, dashboard_url = stack.api_url, stack.dashboard_url
        else:
            api_url, dashboard_url = running.enter_context(ServerProcess(data_dir, env, port)).url, None
        trickle = threading.Thread(
            target=sim.live,
            kwargs={
                "url": api_url,
                "seed": seed + 1,
                "orders_per_day": live_orders_per_day,
                "api_key": keys.admin,
                "resume": json.loads(state_path.read_text()),
                "state_path": state_path,
                "stop": stopping.is_set,
            },
            name="live-trickle",
            daemon=True,
        )
        trickle.start()

        def stop_trickle() -> None:
            stopping.set()
            trickle.join(timeout=30)

        running.callback(stop_trickle)  # the trickle stops before the processes do
        print(
            "\nControl Tower is running on the simulated business, with live traffic trickling in.\n"
            f"  API        {api_url}  (docs: {api_url}/docs)\n"
            + (f"  dashboard  {dashboard_url}\n" if dashboard_url else "")
            + f"  admin key  {keys.admin}\n"
            f"  read key   {keys.read}\n"
            f"  ingest key {keys.ingest}\n"
            f"  try        curl -H 'Authorization: Bearer {keys.read}' \\\n"
            f"               '{api_url}/v1/journeys?status=stuck&limit=5'\n"
            "Ctrl-C stops it; the data stays in " + str(data_dir) + ".",
            file=out,
            flush=True,
        )
        if wait is not None:
            wait()
        else:
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
