"""The evaluation clock: system time, or a frozen instant that tests and replays move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tower.clock import ManualClock, SystemClock, clock_from_setting


def test_frozen_clock_moves_only_when_told() -> None:
    clock = clock_from_setting("2026-11-20T10:00:00Z")
    assert isinstance(clock, ManualClock)
    assert clock.now() == datetime(2026, 11, 20, 10, tzinfo=UTC)
    clock.advance(timedelta(hours=2))
    assert clock.now() == datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_system_clock_and_bad_values() -> None:
    assert isinstance(clock_from_setting("system"), SystemClock)
    with pytest.raises(ValueError, match="expected 'system' or an RFC 3339 instant"):
        clock_from_setting("tomorrow")
