"""The collector's append under Kafka: events go to the events topic, `202` once the broker has them.

`KafkaAppender.submit` has the group-commit writer's interface, so the ingest routes do not know
which one they talk to. What the `202` means here: every accepted event was acknowledged by the
broker with `acks="all"` (durable in Kafka, not yet in ClickHouse; the writer group stores it).

Duplicates: repeats inside one request are dropped here; repeats of an event already stored are
recognised when this process can read the store (a fingerprint hit confirmed against the
primary key, as the embedded writer does) and answered as duplicates without being produced.
A repeat that races its original (both in flight at once, or sent to two collector replicas) is
produced twice and the writer stores the first copy only: counted, never stored twice.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaProducer

from collector.writer import Backpressure, WriteResult, WriterStats
from tower.events import Event, event_key_hash
from tower.fingerprints import KeyIndex
from tower.kafka import event_headers, producer, routing_key
from tower.settings import Settings
from tower.store import Store, stored_seqs

log = logging.getLogger(__name__)


class KafkaAppender:
    def __init__(self, settings: Settings, store: Store | None) -> None:
        self.settings = settings
        self.topic = settings.kafka_topic
        self.store = store  # None when another process owns an embedded store
        self.pending_max = settings.pending_max_events
        self.stats = WriterStats()
        self._pending = 0
        self._index = KeyIndex()
        self._producer: AIOKafkaProducer | None = None

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def next_seq(self) -> int:
        return 0  # seqs are positions in the log under Kafka

    async def start(self) -> None:
        if self.store is not None:
            hashes = await asyncio.to_thread(
                self.store.query_column, "SELECT key_hash FROM {db}.events", None, "writer"
            )
            self._index = KeyIndex(hashes)
        self._producer = producer(self.settings)
        await self._producer.start()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()  # flushes what is in flight

    async def submit(self, events: list[Event]) -> WriteResult:
        if not events:
            return WriteResult(0, 0)
        if self._producer is None:
            raise Backpressure(1)
        if self._pending + len(events) > self.pending_max and self._pending > 0:
            raise Backpressure(1)
        self._pending += len(events)
        try:
            fresh = await asyncio.to_thread(self._fresh, events)
            futures = [
                await self._producer.send(self.topic, value=e.payload, key=routing_key(e), headers=event_headers(e))
                for e in fresh
            ]
            await asyncio.gather(*futures)  # every one acknowledged by the broker (acks=all)
        finally:
            self._pending -= len(events)
        self._index.add(event_key_hash(e.tenant, e.source, e.id) for e in fresh)
        self.stats.batches += 1
        self.stats.events += len(fresh)
        self.stats.duplicates += len(events) - len(fresh)
        return WriteResult(len(fresh), len(events) - len(fresh))

    def _fresh(self, events: list[Event]) -> list[Event]:
        """The events that are neither repeated in this request nor known to be stored."""
        seen: set[tuple[str, str, str]] = set()
        unique = []
        for e in events:
            if e.key not in seen:
                seen.add(e.key)
                unique.append(e)
        if self.store is None:
            return unique
        maybe = self._index.candidates([event_key_hash(e.tenant, e.source, e.id) for e in unique])
        stored = stored_seqs(self.store, [e.key for e, m in zip(unique, maybe, strict=True) if m], role="writer")
        return [e for e in unique if e.key not in stored]


def dead_letter_value(reason: str, raw: bytes) -> bytes:
    """A dead-letter topic message: why, and the bytes as they were."""
    return orjson.dumps({"reason": reason, "raw": raw.decode("utf-8", "replace")})
