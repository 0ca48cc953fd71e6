"""Named fault scenarios, each a window of simulated time with an intensity and, where it has one, a target.

On the command line: `--scenario carrier-outage` takes the scenario's defaults;
`--scenario carrier-outage:start=3d12h,duration=6h,intensity=0.8,target=fedex` sets any of them.
`start` counts from the beginning of the simulation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    summary: str
    start: timedelta  # default offset, as a share of the simulated span when `relative`
    duration: timedelta
    intensity: float
    target: str | None
    targets: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "carrier-outage",
            "the carrier's tracking systems are down: no scans, its API answers 503",
            timedelta(days=0.4),
            timedelta(hours=6),
            1.0,
            "ups",
            ("ups", "fedex", "usps"),
        ),
        Kind(
            "erp-maintenance",
            "the ERP accepts nothing for the window, then works through the backlog",
            timedelta(days=0.55),
            timedelta(hours=3),
            1.0,
            None,
        ),
        Kind(
            "duplicate-orders",
            "channels resend order messages they already delivered",
            timedelta(days=0.3),
            timedelta(hours=12),
            0.3,
            None,
        ),
        Kind(
            "wms-delay",
            "a warehouse's confirmations reach the ERP hours late",
            timedelta(days=0.5),
            timedelta(hours=8),
            1.0,
            "dc-west",
            ("dc-east", "dc-west", "dc-central"),
        ),
        Kind(
            "stale-inventory",
            "the ERP's stock for a warehouse stops updating; snapshots arrive stale and out of "
            "order, and allocations oversell",
            timedelta(days=0.6),
            timedelta(hours=24),
            1.0,
            "dc-east",
            ("dc-east", "dc-west", "dc-central"),
        ),
        Kind(
            "rate-limit",
            "the ERP's API answers 429 to a share of sync calls, which retry with backoff",
            timedelta(days=0.45),
            timedelta(hours=4),
            0.5,
            None,
        ),
        Kind(
            "malformed",
            "a share of messages arrive broken; the sender fixes and resends them later",
            timedelta(days=0.35),
            timedelta(hours=6),
            0.05,
            None,
        ),
        Kind(
            "status-lag",
            "shipment milestones reach the ERP hours late",
            timedelta(days=0.65),
            timedelta(hours=6),
            1.0,
            None,
        ),
        Kind(
            "missing-tracking",
            "a share of shipments labelled in the window are never scanned",
            timedelta(days=0.25),
            timedelta(hours=24),
            0.2,
            None,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Scenario:
    kind: str
    start: datetime
    end: datetime
    intensity: float
    target: str | None

    def active(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def describe(self) -> dict[str, object]:
        return {
            "scenario": self.kind,
            "start": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": self.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "intensity": self.intensity,
            "target": self.target,
            "summary": KINDS[self.kind].summary,
        }


class ScenarioError(ValueError):
    pass


_SPAN = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?$")


def span(text: str, what: str) -> timedelta:
    match = _SPAN.match(text.strip())
    if not text.strip() or match is None:
        raise ScenarioError(f"{what}={text!r}: expected a span such as 3d, 6h, 90m or 2d12h")
    days, hours, minutes = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def parse(spec: str, begin: datetime, days: float) -> Scenario:
    """`name[:key=value,…]` → a Scenario placed in the simulation that starts at `begin`."""
    name, _, rest = spec.partition(":")
    kind = KINDS.get(name.strip())
    if kind is None:
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(KINDS)}")
    # default start: the kind's share of the simulated span (its start in days on a 1-day scale)
    start = begin + timedelta(days=days * kind.start.total_seconds() / 86_400)
    duration, intensity, target = kind.duration, kind.intensity, kind.target
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ScenarioError(f"{spec!r}: {part!r} is not key=value")
        if key == "start":
            start = begin + span(value, "start")
        elif key == "duration":
            duration = span(value, "duration")
        elif key == "intensity":
            try:
                intensity = float(value)
            except ValueError:
                raise ScenarioError(f"{spec!r}: intensity={value!r} is not a number") from None
            if not 0 < intensity <= 1:
                raise ScenarioError(f"{spec!r}: intensity must be in (0, 1], got {intensity}")
        elif key == "target":
            if kind.targets and value not in kind.targets:
                raise ScenarioError(f"{spec!r}: target {value!r} is not one of {', '.join(kind.targets)}")
            if not kind.targets:
                raise ScenarioError(f"{spec!r}: {kind.name} takes no target")
            target = value
        else:
            raise ScenarioError(f"{spec!r}: unknown key {key!r}; expected start, duration, intensity or target")
    if duration <= timedelta(0):
        raise ScenarioError(f"{spec!r}: duration must be positive")
    return Scenario(kind.name, start, start + duration, intensity, target)


def with_window(scenario: Scenario, start: datetime, end: datetime) -> Scenario:
    return replace(scenario, start=start, end=end)
