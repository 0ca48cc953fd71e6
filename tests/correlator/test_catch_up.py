"""A correlator behind by more than a batch takes larger steps (up to `CATCH_UP_BATCHES` batches):
fewer journey rows rewritten, and a store that ends exactly as with steps of one batch."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

from collector.app import MIGRATIONS
from correlator.engine import CATCH_UP_BATCHES, Correlator
from tests.support.ocel import OCEL_ORDER_MANAGEMENT, load_ocel, ocel_to_canonical
from tower.bus import Committed, InProcessBus
from tower.events import Event, validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS
from tower.store import Store

EVENTS = 6_000
BATCH = 1_000
COMMIT = 500  # events per writer commit on the bus


def ocel_events() -> list[Event]:
    out = []
    for raw in ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT))[:EVENTS]:
        event, problems = validate_event(raw, "")
        assert event is not None, problems
        event.ingested_at_us = 1_700_000_000_000_000
        out.append(event)
    return out


def stored_state(store: Store) -> dict[str, Any]:
    return {
        "journeys": store.query(
            "SELECT journey_id, alive, merged_into, stage, status, event_count, anomaly_count, objects, state "
            "FROM {db}.journeys FINAL ORDER BY journey_id"
        ),
        "members": store.query("SELECT DISTINCT journey_id, seq FROM {db}.journey_events ORDER BY journey_id, seq"),
        "identifiers": store.query(
            "SELECT value, namespace, object_id, journeys FROM {db}.identifiers FINAL ORDER BY value, namespace"
        ),
    }


class Counting:
    """A store that counts the rows inserted into each table."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows: dict[str, int] = {}

    def insert_arrow(self, table: str, data: Any, role: str = "writer", settings: Any = None) -> None:
        self.rows[table] = self.rows.get(table, 0) + data.num_rows
        self.store.insert_arrow(table, data, role=role, settings=settings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def run_behind(store: Store, events: list[Event]) -> Correlator:
    """Every event committed before the correlator starts: it is EVENTS behind."""

    async def run() -> Correlator:
        bus = InProcessBus(max_events=EVENTS)
        correlator = Correlator(store, bus, DEFAULT_OBJECT_LEVELS, batch_events=BATCH, hot_seconds=None)
        for i in range(0, EVENTS, COMMIT):
            bus.publish(Committed(i + 1, events[i : i + COMMIT]))
        await correlator.start()
        deadline = time.monotonic() + 120
        while correlator.applied_seq < EVENTS and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await correlator.close(snapshot=False)
        return correlator

    return asyncio.run(run())


def test_behind_the_correlator_takes_larger_steps_and_stores_the_same(tmp_path: Path) -> None:
    events = ocel_events()
    store = Store(f"chdb://{tmp_path / 'one-batch-steps'}")
    counted = Counting(store)
    try:
        store.migrate(MIGRATIONS)
        stepwise = Correlator(
            cast(Store, counted), InProcessBus(), DEFAULT_OBJECT_LEVELS, batch_events=BATCH, hot_seconds=None
        )
        pairs = list(enumerate(events, start=1))
        for i in range(0, EVENTS, BATCH):
            stepwise.step(pairs[i : i + BATCH])
        expected = stored_state(store)
    finally:
        store.close()

    store = Store(f"chdb://{tmp_path / 'catch-up'}")
    caught_up = Counting(store)
    try:
        store.migrate(MIGRATIONS)
        done = run_behind(cast(Store, caught_up), events)
        assert done.applied_seq == EVENTS and done.stats.events == EVENTS
        # every step but the last took CATCH_UP_BATCHES batches' worth
        assert done.stats.batches == -(-EVENTS // (CATCH_UP_BATCHES * BATCH))
        assert stored_state(store) == expected
        # the same journeys, fewer of their rows rewritten
        assert caught_up.rows["journeys"] < counted.rows["journeys"]
    finally:
        store.close()
