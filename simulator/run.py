"""`tower simulate` and `tower demo`: a simulation delivered to an embedded or a remote tower."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from simulator.business import Business
from simulator.engine import Simulation, Step
from simulator.scenarios import Scenario, parse
from simulator.send import DeliveryError, Report, Sender


def demo_scenarios(days: float) -> list[str]:
    """A few incidents spread over the demo's span, placed where they are easy to find."""

    def at(share: float) -> str:
        return f"{days * share:.3f}d"

    return [
        f"carrier-outage:start={at(0.3)},duration=6h,target=ups",
        f"erp-maintenance:start={at(0.5)},duration=2h",
        f"duplicate-orders:start={at(0.6)},duration=12h,intensity=0.2",
        f"missing-tracking:start={at(0.7)},duration=24h,intensity=0.15",
        f"malformed:start={at(0.8)},duration=6h,intensity=0.05",
        f"wms-delay:start={at(0.9)},duration=6h,target=dc-west",
    ]


@dataclass(slots=True)
class Plan:
    start: datetime
    days: float
    orders_per_day: float
    seed: int
    scenarios: list[str]
    step_minutes: float = 5.0
    tenant: str | None = None
    business: Business | None = None  # the default distributor unless given (a smaller catalogue, say)

    def simulation(self, resume: dict[str, Any] | None = None) -> Simulation:
        placed: list[Scenario] = [parse(spec, self.start, self.days) for spec in self.scenarios]
        return Simulation(
            start=self.start,
            days=self.days,
            orders_per_day=self.orders_per_day,
            seed=self.seed,
            scenarios=placed,
            business=self.business,
            step=timedelta(minutes=self.step_minutes),
            tenant=self.tenant,
            resume=resume,
        )


def default_start(days: float) -> datetime:
    """The simulation ends at the current hour, so live traffic can carry on from it."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(days=days)


def secrets_env(business: Business | None = None) -> dict[str, str]:
    """The webhook secrets an embedded tower needs to check the simulator's signatures, and a webhook
    tolerance of a day: a simulated EasyPost delivery is stamped with its scan's simulated time, and
    the sender runs steps ahead of the clock it drives (tens of simulated minutes)."""
    b = business or Business()
    return {
        "TOWER_SHOPIFY_WEBHOOK_SECRET": b.shopify_secret,
        "TOWER_EASYPOST_WEBHOOK_SECRET": b.easypost_secret,
        "TOWER_WEBHOOK_TOLERANCE_S": "86400",
    }


class Progress:
    """One line per simulated day on stderr: how far, how much, how fast."""

    def __init__(self, start: datetime, total_days: float, out: TextIO = sys.stderr) -> None:
        self.start = start
        self.total = total_days
        self.out = out
        self.last_day = -1

    def __call__(self, step: Step, report: Report) -> None:
        day = int((step.end - self.start).total_seconds() // 86_400)
        if day != self.last_day:
            self.last_day = day
            rate = report.accepted / max(report.seconds, 1e-9)
            print(
                f"  day {day:>3}/{self.total:g} · {report.messages:,} messages · {report.accepted:,} events "
                f"({report.duplicates:,} duplicates) · {rate:,.0f} events/s",
                file=self.out,
                flush=True,
            )


def deliver(
    plan: Plan,
    url: str,
    *,
    api_key: str | None = None,
    concurrency: int = 32,
    drive_clock: bool = True,
    progress: Callable[[Step, Report], None] | None = None,
    resume: dict[str, Any] | None = None,
    batch: bool = True,
) -> tuple[Simulation, Report]:
    """Send the plan's traffic to the tower at `url`. `batch`: each step's adapter deliveries in one
    `POST /v1/deliveries` (a month in minutes); otherwise one request per delivery, as in life."""
    simulation = plan.simulation(resume)
    sender = Sender(url, api_key=api_key, concurrency=concurrency, drive_clock=drive_clock, batch=batch)
    try:
        sender.prepare(plan.start)
        report = sender.deliver(simulation.steps(), progress)
        sender.wait_correlated()
    finally:
        sender.close()
    return simulation, report


def generate(plan: Plan) -> tuple[Simulation, dict[str, Any]]:
    """The same traffic without sending it: its digest, size and time (the benchmark's baseline)."""
    simulation = plan.simulation()
    digest = hashlib.sha256()
    messages = events = 0
    began = time.perf_counter()
    for step in simulation.steps():
        for m in step.messages:
            digest.update(m.route.encode())
            digest.update(b"\0")
            digest.update(json.dumps(m.headers, sort_keys=True).encode())
            digest.update(b"\0")
            digest.update(m.body)
            messages += 1
            events += m.events
    return simulation, {
        "messages": messages,
        "sha256": digest.hexdigest(),
        "seconds": round(time.perf_counter() - began, 2),
    }


def write_truth(simulation: Simulation, path: Path, extra: dict[str, Any] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = simulation.truth.as_dict() | (extra or {})
    path.write_text(json.dumps(body, indent=1, sort_keys=False) + "\n")


def live(
    url: str,
    *,
    seed: int,
    orders_per_day: float,
    api_key: str | None = None,
    resume: dict[str, Any] | None = None,
    state_path: Path | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Traffic in real time from now on, until `stop()`: the demo's live trickle."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    plan = Plan(start=start, days=365, orders_per_day=orders_per_day, seed=seed, scenarios=[], step_minutes=1)
    simulation = plan.simulation(resume)
    sender = Sender(url, api_key=api_key, drive_clock=False)
    try:
        for step in simulation.steps():
            while datetime.now(UTC) < step.end:
                if stop():
                    return
                time.sleep(1)
            try:
                for future in sender.submit(step):
                    future.result()
            except DeliveryError:
                if stop():  # the tower went down while we were stopping anyway
                    return
                raise
            sender.flush_spans()  # live: each minute's spans go out with it
            if state_path is not None:
                state_path.write_text(json.dumps(simulation.state()))
    finally:
        sender.close()
