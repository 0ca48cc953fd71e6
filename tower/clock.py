"""The one source of "now" for every evaluation, so tests and replays can drive time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told: `set` or `advance`, until `release` hands it to the system
    clock for good (a simulated month replayed, then live traffic). Thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self.released = False

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) if self.released else self._now

    def release(self) -> None:
        """From now on follow the system clock; never earlier than the instant it was driven to."""
        with self._lock:
            if not self.released and self._now > datetime.now(UTC):
                raise ValueError(f"the clock is at {self._now.isoformat()}, ahead of the system clock")
            self.released = True

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def clock_from_setting(value: str) -> Clock:
    if value == "system":
        return SystemClock()
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"TOWER_CLOCK={value!r}: expected 'system' or an RFC 3339 instant") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return ManualClock(instant)
