"""The correlator's Kafka feed: it applies every message the writer stored, under the writer's seq.

A step that fails puts back what it took, and a feed whose seqs differ from the writer's applies
nothing until they agree (two events under one seq corrupt journeys: see `SeqMismatch`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collector.app import MIGRATIONS
from collector.consume import KafkaWriter
from correlator.engine import Correlator
from correlator.feed import KafkaFeed
from tests.kafka.test_writer import kafka_settings, make_events, produce
from tests.support.tansu import Tansu
from tower.bus import InProcessBus
from tower.kafka import MAX_PARTITIONS, ensure_topics
from tower.settings import DEFAULT_OBJECT_LEVELS, Settings
from tower.store import Store

pytestmark = pytest.mark.slow

EVENTS = 400


async def write_all(settings: Settings, store: Store) -> None:
    """Produce the events and let a writer store and commit every one."""
    await ensure_topics(settings)
    await produce(settings, make_events("feed", EVENTS))
    writer = KafkaWriter(store, settings)
    await writer.start()
    try:
        deadline = time.monotonic() + 60
        while sum(writer.lag.committed.values()) < EVENTS and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        await writer.close()
    assert sum(writer.lag.committed.values()) == EVENTS


async def feed_until(
    settings: Settings, store: Store, done: Callable[[Correlator], bool], prepare: Callable[[KafkaFeed], None]
) -> Correlator:
    correlator = Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=None)
    feed = KafkaFeed(correlator, store, settings)
    prepare(feed)
    await feed.start()
    try:
        deadline = time.monotonic() + 60
        while not done(correlator) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await feed.close()
    return correlator


def applied_by_partition(store: Store) -> dict[int, int]:
    """Memberships per partition whose seq is the one `events` holds their event under."""
    rows = store.query(
        "SELECT m.seq % {n:UInt64}, countIf(m.seq = e.seq), countIf(m.seq != e.seq) FROM {db}.journey_events AS m "
        "INNER JOIN {db}.events AS e ON m.tenant = e.tenant AND m.source = e.source AND m.event_id = e.id "
        "GROUP BY 1",
        {"n": MAX_PARTITIONS},
    )
    assert [(p, wrong) for p, _, wrong in rows if wrong] == []
    return {int(p): int(right) for p, right, _ in rows}


def test_a_step_that_fails_puts_back_what_it_took(broker: Tansu, kafka_env: dict[str, str], tmp_path: Path) -> None:
    settings = kafka_settings(broker, kafka_env, tmp_path)
    store = Store(settings.dsn, settings.database)
    failures: list[int] = []

    def fail_once(feed: KafkaFeed) -> None:
        pairs = feed._pairs

        def flaky(ready: list[Any]) -> Any:
            if not failures:
                failures.append(len(ready))
                raise ConnectionError("the store went away for a moment")
            return pairs(ready)

        feed._pairs = flaky  # type: ignore[method-assign]

    try:
        store.migrate(MIGRATIONS)
        asyncio.run(write_all(settings, store))
        correlator = asyncio.run(feed_until(settings, store, lambda c: c.stats.events >= EVENTS, fail_once))
        assert failures and failures[0] > 0
        assert correlator.stats.events == EVENTS  # before: the first step's messages were passed over
        applied = applied_by_partition(store)
        assert sum(applied.values()) == EVENTS
        # Its checkpoint says how far each partition is applied: what retention keeps events by.
        correlator.checkpoint()
        ((positions,),) = store.query("SELECT argMax(positions, at) FROM {db}.correlator_checkpoint")
        assert positions == correlator.positions and set(positions) == set(applied)
    finally:
        store.close()  # one chDB path per process at a time: the next test opens its own


def test_a_feed_whose_seqs_differ_from_the_writers_applies_nothing(
    broker: Tansu, kafka_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer stored partition 0 under an epoch base the feed does not know (as when a writer began
    a new epoch after the correlator read the bases, the bug `1fc1f5e` fixed): the feed refuses to
    apply, says why, and keeps refusing while they differ."""
    settings = kafka_settings(broker, kafka_env, tmp_path)
    store = Store(settings.dsn, settings.database)
    try:
        store.migrate(MIGRATIONS)
        store.insert_rows(
            "kafka_epochs",
            [[settings.kafka_topic, 0, 1_000, datetime.now(UTC)]],
            ["topic", "partition", "base", "detected_at"],
            role="writer",
        )
        asyncio.run(write_all(settings, store))
        (shifted,) = store.query_column(
            "SELECT count() FROM {db}.events WHERE seq % {n:UInt64} = 0 AND intDiv(seq, {n:UInt64}) > 1000",
            {"n": MAX_PARTITIONS},
        )
        assert shifted > 0  # the writer stored partition 0 past the base
        store.command("TRUNCATE TABLE {db}.kafka_epochs")  # … which the feed will not find
        with caplog.at_level(logging.ERROR, logger="correlator.feed"):
            correlator = asyncio.run(feed_until(settings, store, lambda c: c.stats.seq_mismatches >= 2, lambda _: None))
        assert correlator.stats.seq_mismatches >= 2  # refused, bases read again, refused again
        assert correlator.stats.events == 0
        assert applied_by_partition(store) == {}
        assert "the correlator's seqs differ from the writer's: partition 0: seq " in caplog.text
        assert "(base 0), stored under seq " in caplog.text
    finally:
        store.close()
