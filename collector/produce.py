"""The collector's append under Kafka: events go to the events topic, `202` once the broker has them.

`KafkaAppender.submit` has the group-commit writer's interface, so the ingest routes do not know
which one they talk to. What the `202` means here: every accepted event was acknowledged by the
broker with `acks="all"` (durable in Kafka, not yet in ClickHouse; the writer group stores it).

While the broker does not acknowledge (stopped, unreachable, or back without the topic), the
collector answers `503` with the reason and `Retry-After` at once instead of holding requests:
a send not acknowledged within `TOWER_KAFKA_ACK_TIMEOUT_MS` marks the broker down, and a probe
(cluster metadata every second, the topics made again if the broker lost them) marks it up.
`/readyz` says which. A send that timed out may still reach the broker later: it was not
acknowledged, so the client sends it again, and the writer stores the first copy only.

Duplicates: repeats inside one request are dropped here; repeats of an event already stored are
recognised when this process can read the store (a fingerprint hit confirmed against the
primary key, as the embedded writer does) and answered as duplicates without being produced.
A repeat that races its original (both in flight at once, or sent to two collector replicas) is
produced twice and the writer stores the first copy only: counted, never stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from collector.writer import Backpressure, Unavailable, WriteResult, WriterStats
from tower.events import Event, event_key_hash
from tower.fingerprints import KeyIndex
from tower.kafka import ensure_topics, event_headers, producer, routing_key
from tower.settings import Settings
from tower.store import Store, stored_seqs

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0  # a broker that cannot answer a metadata request in this long is down


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
        self.ack_timeout = settings.kafka_ack_timeout_ms / 1000
        self.broker_error: str | None = None  # why the broker cannot take events now
        self._down = asyncio.Event()  # set while `broker_error` is
        self._probe: asyncio.Task[None] | None = None
        # Called, in order, when the broker came back without the topic (its log lost) and the topic
        # was made again, before any event is produced into it: the writer and the correlator of
        # this process move their positions to the new log (`KafkaWriter.begin_again`).
        self.on_new_log: list[Callable[[], Awaitable[None]]] = []

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def next_seq(self) -> int:
        return 0  # seqs are positions in the log under Kafka

    def correlator_behind(self) -> Backpressure | None:
        """Never: under Kafka the correlator reads the topic at its own pace and the broker holds the backlog."""
        return None

    def backlog_seconds(self) -> float:
        return 0.0  # sends wait at most TOWER_KAFKA_ACK_TIMEOUT_MS; `pending_max` bounds them

    async def start(self) -> None:
        if self.store is not None:
            hashes = await asyncio.to_thread(
                self.store.query_column, "SELECT key_hash FROM {db}.events", None, "writer"
            )
            self._index = KeyIndex(hashes)
        self._producer = producer(self.settings)
        await self._producer.start()
        self._probe = asyncio.create_task(self._watch(), name="kafka-broker-probe")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self._producer is not None:
            await self._producer.stop()  # flushes what is in flight

    def _mark_down(self, reason: str) -> None:
        self.broker_error = reason
        self._down.set()

    async def _watch(self) -> None:
        """Every second: is the broker there with the topic? Marks it down or up, never raises."""
        while True:
            await asyncio.sleep(1.0)
            try:
                made = await asyncio.wait_for(self._check(), timeout=PROBE_TIMEOUT_S)
                if made:
                    self._mark_down(f"the Kafka broker at {self.settings.kafka_bootstrap} lost the topic")
                    for hook in self.on_new_log:
                        await hook()
            except Exception as exc:  # any failure to reach or read the broker means down
                if self.broker_error is None:
                    log.error("the Kafka broker is unreachable: %r", exc)
                self._mark_down(f"the Kafka broker at {self.settings.kafka_bootstrap} does not answer ({exc!r})")
            else:
                if self.broker_error is not None:
                    log.warning("the Kafka broker answers again; accepting events")
                self.broker_error = None
                self._down.clear()

    async def _check(self) -> bool:
        """Raises unless the broker answers with the topic; True when the topic had to be made again."""
        assert self._producer is not None
        metadata = await self._producer.client.fetch_all_metadata()
        partitions = metadata.partitions_for_topic(self.topic)
        if not partitions:  # a broker that lost its log (in-memory storage, a new cluster): make them again
            log.warning("the topic %s is missing on the broker; creating it", self.topic)
            await ensure_topics(self.settings)
            return True
        if len(partitions) != self.settings.kafka_partitions:
            raise KafkaError(
                f"the topic {self.topic} has {len(partitions)} partitions; TOWER_KAFKA_PARTITIONS says "
                f"{self.settings.kafka_partitions}"
            )
        return False

    async def submit(self, events: list[Event]) -> WriteResult:
        if not events:
            return WriteResult(0, 0)
        if self._producer is None:
            raise Backpressure(1)
        if self.broker_error is not None:
            raise Unavailable("broker_unavailable", f"{self.broker_error}; nothing of this request was accepted")
        if self._pending + len(events) > self.pending_max and self._pending > 0:
            raise Backpressure(1)
        self._pending += len(events)
        try:
            fresh = await asyncio.to_thread(self._fresh, events)
            await self._acknowledged(fresh)
        except (TimeoutError, KafkaError) as exc:
            reason = (
                f"the Kafka broker at {self.settings.kafka_bootstrap} did not acknowledge within {self.ack_timeout:g}s"
                if isinstance(exc, TimeoutError)
                else self.broker_error or f"the Kafka broker refused: {exc!r}"
            )
            if self.broker_error is None:
                log.error("%s; answering 503 until it answers again", reason)
            self._mark_down(reason)
            raise Unavailable(
                "broker_unavailable", f"{reason}; none of this request is acknowledged, send it again"
            ) from None
        finally:
            self._pending -= len(events)
        self._index.add(event_key_hash(e.tenant, e.source, e.id) for e in fresh)
        self.stats.batches += 1
        self.stats.events += len(fresh)
        self.stats.duplicates += len(events) - len(fresh)
        return WriteResult(len(fresh), len(events) - len(fresh))

    async def _acknowledged(self, events: list[Event]) -> None:
        """Produce and wait for every acknowledgement: at most `ack_timeout`, and no longer than the
        probe takes to find the broker gone (a slow broker is waited for, a dead one is not)."""
        send = asyncio.ensure_future(self._send(events))
        down = asyncio.ensure_future(self._down.wait())
        try:
            done, _ = await asyncio.wait({send, down}, timeout=self.ack_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            down.cancel()
        if send in done:
            send.result()  # raises what the producer raised
            return
        send.cancel()
        if down in done:
            raise KafkaError(self.broker_error or "the Kafka broker went away")
        raise TimeoutError

    async def _send(self, events: list[Event]) -> None:
        assert self._producer is not None
        futures = [
            await self._producer.send(self.topic, value=e.payload, key=routing_key(e), headers=event_headers(e))
            for e in events
        ]
        await asyncio.gather(*futures)  # every one acknowledged by the broker (acks=all)

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
