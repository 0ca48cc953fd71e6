"""Eviction finds the journeys due to leave memory from a heap of due times instead of reading every
journey held each step: what it offers `JourneyGraph.evict` each step is exactly what reading every
journey would find, kept journeys (sharing an object with one that stays) offered again, also across
a restart from a snapshot."""

from __future__ import annotations

from pathlib import Path

from collector.app import MIGRATIONS
from correlator.engine import Correlator
from tests.support.ocel import OCEL_ORDER_MANAGEMENT, load_ocel, ocel_to_canonical
from tower.bus import InProcessBus
from tower.events import Event, validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS
from tower.store import Store

HOT, IDLE = 10 * 86_400, 20 * 86_400


def checked(correlator: Correlator, offered: list[set[str]], kept: list[int]) -> Correlator:
    """The correlator, each of its evictions compared with a scan of every journey it holds."""
    due_journeys, evict_cold = correlator.due_journeys, correlator.evict_cold

    def compared() -> None:
        watermark = correlator.graph.watermark_us
        expected = {j for j, last in correlator.terminal.items() if last + HOT * 1_000_000 <= watermark}
        expected |= {j for j, last in correlator.open.items() if last + IDLE * 1_000_000 <= watermark}
        candidates = due_journeys()
        assert candidates == expected
        # what `evict_cold` offers the graph: the candidates just checked (the graph is compiled code,
        # whose methods cannot be wrapped; the correlator's can)
        correlator.due_journeys = lambda: candidates  # type: ignore[method-assign]
        try:
            evict_cold()
        finally:
            correlator.due_journeys = due_journeys  # type: ignore[method-assign]
        if candidates:
            offered.append(candidates)
            kept.append(len(candidates & correlator.graph.journeys.keys()))

    correlator.evict_cold = compared  # type: ignore[method-assign]
    return correlator


def test_each_step_offers_exactly_the_journeys_a_scan_of_all_finds(tmp_path: Path) -> None:
    events: list[Event] = []
    for raw in ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT))[:9_000]:
        event, problems = validate_event(raw, "")
        assert event is not None, problems
        events.append(event)
    # In time order, as a live feed: a journey's next event then often comes before it is due, which
    # leaves its earlier due time in the heap, to be skipped (the log's own order is by activity).
    events.sort(key=lambda e: e.time)
    numbered = list(enumerate(events, start=1))
    store = Store(f"chdb://{tmp_path / 'ch'}")
    offered: list[set[str]] = []
    kept: list[int] = []
    try:
        store.migrate(MIGRATIONS)
        first = checked(
            Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=HOT, idle_seconds=IDLE), offered, kept
        )
        for start in range(0, 4_500, 50):
            first.step(numbered[start : start + 50])
        first.snapshot()
        second = Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=HOT, idle_seconds=IDLE)
        second.load()
        assert second.terminal == first.terminal and second.open == first.open
        checked(second, offered, kept)
        for start in range(4_500, len(numbered), 300):
            second.step(numbered[start : start + 300])
        evicted = first.stats.evicted_journeys + second.stats.evicted_journeys
        assert evicted > 100 and len(offered) > 50
        assert sum(kept) > 0  # some due journeys were kept, and offered again the next step
    finally:
        store.close()
