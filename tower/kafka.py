"""Kafka between the stages (aiokafka): topics, the routing key, positions as seqs, clients, lag.

With `TOWER_KAFKA_BOOTSTRAP` set, the collector produces every accepted event to the events topic
and answers `202` once the broker has acknowledged it (`acks="all"`): the event is durable in
Kafka. A writer consumer group stores events in ClickHouse and commits offsets after the write;
the correlator reads every partition of the topic itself. See README "Scale-out" for the design.

What every stage agrees on lives here:
- the routing key is the idempotency key (tenant, source, id), so every copy of one event lands on
  one partition and "the first copy in partition order" is the one that is stored;
- an event's `seq` is its position in the log, `((offset + 1) << 10) | partition`: the writer
  stores it and the correlator applies the event under it, without talking to each other;
- an event's ingest time (`events.ingested_at`) is its message's timestamp, when the broker
  accepted it (`ingested_us`): the writer stores it, and the correlator writes the same time
  beside the payload in `journey_events`, again without talking to the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import OffsetOutOfRangeError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord

from tower.events import Event
from tower.settings import Settings
from tower.store import Store

PARTITION_BITS = 10
MAX_PARTITIONS = 1 << PARTITION_BITS
PARTITION_MASK = MAX_PARTITIONS - 1  # seq & PARTITION_MASK is the partition a message was read from


def writer_group(settings: Settings) -> str:
    """The writers' consumer group, named after the topic (deployments sharing a broker stay apart)."""
    return f"{settings.kafka_topic}.writer"


def correlator_group(settings: Settings) -> str:
    return f"{settings.kafka_topic}.correlator"


def routing_key(event: Event) -> bytes:
    """The message key: the idempotency key, so every copy of an event goes to the same partition."""
    return key_of(event.tenant, event.source, event.id)


def key_of(tenant: str, source: str, event_id: str) -> bytes:
    """The message key of the event with this idempotency key."""
    return f"{tenant}\x1f{source}\x1f{event_id}".encode()


HEADERS = ("tenant", "source", "id", "type", "time_us", "traceparent", "system", "carrier", "operation")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def event_headers(event: Event) -> list[tuple[str, bytes]]:
    """The columns the writer stores besides the payload, so it stores without parsing JSON."""
    time_us = (event.time - EPOCH) // timedelta(microseconds=1)
    values = (
        event.tenant,
        event.source,
        event.id,
        event.type,
        str(time_us),
        event.traceparent,
        event.system,
        event.carrier,
        event.operation,
    )
    return [(name, value.encode()) for name, value in zip(HEADERS, values, strict=True)]


def kafka_seq(partition: int, offset: int) -> int:
    """The seq of the message at (partition, offset): unique, never 0, stable across readers.

    `offset` is the *virtual* offset: the log's offset plus the partition's epoch base (`bases`).
    """
    return ((offset + 1) << PARTITION_BITS) | partition


def ingested_us(message: ConsumerRecord[Any, Any]) -> int:
    """When the broker took the message (its timestamp, create or log-append time, ms → µs); 0 if it has none.

    Both the writer and the correlator read it off the same message, so they agree on it."""
    timestamp = message.timestamp
    return timestamp * 1000 if isinstance(timestamp, int) and timestamp > 0 else 0


def bases(store: Store, topic: str) -> dict[int, int]:
    """Each partition's epoch base: what its offsets count on from (0 until a log was begun again).

    A broker that loses its log (Tansu on in-memory storage restarted, a cluster rebuilt) hands out
    offsets from 0 again. Seqs made from those would repeat seqs already stored, so the writer that
    finds a partition begun again (`new_epochs`) records a base past everything stored, and the
    writer and the correlator both count that partition's offsets on from it.
    """
    rows = store.query(
        "SELECT partition, max(base) FROM {db}.kafka_epochs WHERE topic = {topic:String} GROUP BY partition",
        {"topic": topic},
        role="writer",
    )
    return {int(p): int(b) for p, b in rows}


def stored_since(store: Store, partition: int, base: int) -> bool:
    """Whether any event of `partition` is stored at a virtual offset at or past `base`. Blocking."""
    rows = store.query(
        "SELECT count() FROM {db}.events "
        "WHERE seq % {n:UInt64} = {p:UInt64} AND intDiv(seq, {n:UInt64}) > {base:UInt64}",
        {"n": MAX_PARTITIONS, "p": partition, "base": base},
        role="writer",
    )
    return bool(rows[0][0])


async def log_holds_what_is_stored(settings: Settings, store: Store, partition: int, base: int) -> bool:
    """Whether the broker's log of `partition` is the one the events stored since `base` were read from.

    A writer group with no committed offset but events stored is one of two things: a writer that
    stored a batch and died before its first commit (the log is the same: read it again from the
    start and every message is found stored under its own seq), or a broker that lost its log (the
    offsets now name other messages: a new epoch must keep their seqs apart). The last stored
    message tells them apart: this log holds its offset, under the same key, only in the first case.
    """
    rows = await asyncio.to_thread(
        store.query,
        "SELECT seq, tenant, source, id FROM {db}.events WHERE seq % {n:UInt64} = {p:UInt64} "
        "AND intDiv(seq, {n:UInt64}) > {base:UInt64} ORDER BY seq DESC LIMIT 1",
        {"n": MAX_PARTITIONS, "p": partition, "base": base},
        "writer",
    )
    if not rows:
        return True  # nothing stored past the base: nothing to keep apart
    seq, tenant, source, event_id = rows[0]
    offset = (int(seq) >> PARTITION_BITS) - 1 - base  # the message's offset in the log
    # No reset: an offset past this log's end raises at once instead of waiting at the end.
    reader = consumer(settings, None, auto_offset_reset="none")
    await reader.start()
    try:
        tp = TopicPartition(settings.kafka_topic, partition)
        reader.assign([tp])
        reader.seek(tp, offset)
        try:
            fetched = await reader.getmany(tp, timeout_ms=5_000, max_records=1)
        except OffsetOutOfRangeError:
            return False  # the log does not reach what was read from it
        messages = fetched.get(tp, [])
        return bool(messages) and messages[0].offset == offset and messages[0].key == key_of(tenant, source, event_id)
    finally:
        await reader.stop()


def new_epochs(store: Store, topic: str, partitions: Iterable[int], known: dict[int, int]) -> dict[int, int]:
    """For partitions the writer group holds no committed offset of: a new base where the store already
    holds events at or past the current one (the log was begun again, or the group's offsets were
    lost; either way a re-read gets seqs past every stored one, and keys stored are found by key).
    Records and returns the new bases. Blocking."""
    found: dict[int, int] = {}
    for partition in partitions:
        rows = store.query(
            "SELECT max(intDiv(seq, {n:UInt64})) FROM {db}.events WHERE seq % {n:UInt64} = {p:UInt64}",
            {"n": MAX_PARTITIONS, "p": partition},
            role="writer",
        )
        end = int(rows[0][0] or 0)  # the next virtual offset after the last stored message
        if end > known.get(partition, 0):
            found[partition] = end
    if found:
        now = datetime.now(UTC)
        store.insert_rows(
            "kafka_epochs",
            [(topic, p, base, now) for p, base in sorted(found.items())],
            ("topic", "partition", "base", "detected_at"),
            role="writer",
        )
    return found


def seq_position(seq: int) -> tuple[int, int]:
    """(partition, offset) of a seq made by `kafka_seq`."""
    return seq & (MAX_PARTITIONS - 1), (seq >> PARTITION_BITS) - 1


def bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise ValueError("TOWER_KAFKA_BOOTSTRAP is not set")
    return settings.kafka_bootstrap


def producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """acks=all and, unless TOWER_KAFKA_IDEMPOTENCE=false, the idempotent producer."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap(settings),
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "linger_ms": 2,
        "max_request_size": max(1_048_576, settings.max_body_bytes + 65_536),
        "compression_type": None,
        **overrides,
    }
    return AIOKafkaProducer(**options)


def consumer(settings: Settings, group: str | None, *topics: str, **overrides: Any) -> AIOKafkaConsumer:
    """Manual commits, from the earliest offset for a group that never committed. Every consumer the
    project makes comes from here, so connection settings reach them all. `group` None: a reader that
    assigns itself partitions and commits nothing."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap(settings),
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1_048_576,
        "fetch_max_wait_ms": 50,
        **overrides,
    }
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(settings: Settings) -> None:
    """Create the events and dead-letter topics if they do not exist (idempotent)."""
    if settings.kafka_partitions > MAX_PARTITIONS:
        raise ValueError(f"TOWER_KAFKA_PARTITIONS is {settings.kafka_partitions}; at most {MAX_PARTITIONS}")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, partitions, settings.kafka_replication)
            for name, partitions in (
                (settings.kafka_topic, settings.kafka_partitions),
                (dead_letter_topic(settings), 1),
            )
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created it first
                await admin.create_topics(wanted)
    finally:
        await admin.close()


def dead_letter_topic(settings: Settings) -> str:
    return f"{settings.kafka_topic}.dead-letters"


async def topic_partitions(client: AIOKafkaConsumer, topic: str, attempts: int = 50) -> list[TopicPartition]:
    """Every partition of `topic` (metadata may take a moment after the topic is created)."""
    for _ in range(attempts):
        parts = client.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        await client.topics()  # refreshes the metadata
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic!r} has no partitions in the broker's metadata")


async def rewind_writers(settings: Settings, offset: int | None, when: datetime | None) -> dict[int, int]:
    """Commit the writer group's offsets back to `offset`, or to the first message at or after `when`.

    It joins the group to commit inside a generation (brokers refuse commits from outside a group
    that has had members), so the writers must be stopped: a live member would take partitions.
    """
    client = consumer(settings, writer_group(settings), settings.kafka_topic)
    await client.start()
    try:
        partitions = await topic_partitions(client, settings.kafka_topic)
        deadline = asyncio.get_running_loop().time() + 60
        while set(client.assignment()) != set(partitions):
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"the writer group holds {len(client.assignment())} of {len(partitions)} partitions here; "
                    "stop every `tower writer` before moving its offsets"
                )
            await client.getmany(timeout_ms=200, max_records=1)
        targets: dict[TopicPartition, int] = {}
        if when is not None:
            found = await client.offsets_for_times({tp: int(when.timestamp() * 1000) for tp in partitions})
            for tp in partitions:
                hit = found.get(tp)
                if hit is not None:
                    targets[tp] = hit.offset
                else:  # nothing that late: start after the last message
                    await client.seek_to_end(tp)
                    targets[tp] = await client.position(tp)
        else:
            targets = {tp: offset or 0 for tp in partitions}
        await client.commit(targets)
        return {tp.partition: o for tp, o in targets.items()}
    finally:
        await client.stop()


@dataclass
class Lag:
    """High-water marks seen in fetch responses and the positions a consumer has committed.

    Lag is computed from the fetched high-water marks, not `end_offsets()`, which some brokers
    (Tansu) answer late.
    """

    group: str
    highwater: dict[int, int] = field(default_factory=dict)
    committed: dict[int, int] = field(default_factory=dict)

    def seen(self, client: AIOKafkaConsumer, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            mark = client.highwater(tp)
            if mark is not None:
                self.highwater[tp.partition] = max(self.highwater.get(tp.partition, 0), mark)

    def by_partition(self) -> dict[int, int]:
        return {p: max(0, mark - self.committed.get(p, 0)) for p, mark in self.highwater.items()}

    @property
    def total(self) -> int:
        return sum(self.by_partition().values())

    def metrics(self) -> list[str]:
        return [
            f'tower_kafka_consumer_lag{{group="{self.group}",partition="{p}"}} {n}'
            for p, n in sorted(self.by_partition().items())
        ]


LAG_HELP = [
    "# HELP tower_kafka_consumer_lag Messages past the group's committed offset, by partition.",
    "# TYPE tower_kafka_consumer_lag gauge",
]
