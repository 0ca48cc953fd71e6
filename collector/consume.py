"""The writer under Kafka: a consumer group that stores the events topic in ClickHouse.

Each round takes what the fetcher holds (up to `TOWER_COMMIT_MAX_EVENTS`), drops repeats, inserts
the rest into `events` with one `insert_arrow` carrying an insert deduplication token (the topic
positions of the batch), and commits the offsets only after the insert returned. Committing is
always the last step, so a writer killed anywhere re-reads what it had not committed.

Nothing is stored twice, whatever is re-read: every copy of one event has the same routing key and
so sits on one partition, and the copy stored is the first in partition order. Each event is
stored under the seq of its position (`tower.kafka.kafka_seq`), so when a re-read finds the key
already stored under its *own* seq, it was written before a crash or a rebalance (not counted);
under another seq it is a repeat (counted in `tower_events_duplicate_total`).

A message that does not decode or validate goes to the dead-letter topic and the `dead_letters`
table with its reason; the pipeline keeps going.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from collector.produce import dead_letter_value
from collector.quarantine import DeadLetter, Quarantine
from collector.writer import EVENT_TIME, WriterStats, event_table
from tower.events import Event, event_key_hash, validate_event
from tower.fingerprints import KeyIndex
from tower.kafka import (
    EPOCH,
    HEADERS,
    Lag,
    bases,
    consumer,
    dead_letter_topic,
    ingested_us,
    kafka_seq,
    log_holds_what_is_stored,
    new_epochs,
    producer,
    stored_since,
    writer_group,
)
from tower.settings import Settings
from tower.store import Store, stored_seqs

log = logging.getLogger(__name__)

ENDPOINT = "kafka"


class KafkaWriter:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.topic = settings.kafka_topic
        self.group = writer_group(settings)
        self.max_events = settings.commit_max_events
        self.stats = WriterStats()
        self.lag = Lag(self.group)
        self.replayed = 0  # re-read events found stored under their own seq
        self.assignments = 0  # times the group handed this writer its partitions
        self._index = KeyIndex()
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: AIOKafkaProducer | None = None
        self._quarantine = Quarantine(store)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.failure: str | None = None  # why the last write failed; None once one succeeds
        self.bases: dict[int, int] = {}  # each partition's epoch base (`tower.kafka.bases`)

    async def start(self) -> None:
        await self._reload_index()
        self.bases = await asyncio.to_thread(bases, self.store, self.topic)
        await asyncio.to_thread(self._allow_token_dedup)
        self._dlq = producer(self.settings)
        await self._dlq.start()
        self._consumer = consumer(self.settings, self.group, max_poll_interval_ms=600_000)
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"kafka-writer-{self.group}")

    async def close(self) -> None:
        """Finish the batch in hand, commit it, and leave the group (its partitions move at once)."""
        self._stopping = True
        if self._task:
            try:
                await self._task
            except Exception:  # the batch in hand stays uncommitted: the next owner re-reads it
                log.exception("the writer stopped without committing its last batch")
        if self._consumer:
            await self._consumer.stop()
        if self._dlq:
            await self._dlq.stop()

    async def abort(self) -> None:
        """Stop without finishing the batch in hand or committing: what a crash leaves behind."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()
        if self._dlq:
            await self._dlq.stop()

    async def begin_again(self) -> None:
        """The broker lost the topic's log and it was made again, empty: read it from its beginning,
        its offsets counted on past every stored seq (`tower.kafka.new_epochs`). What the old log
        held and this writer had not stored is gone with the broker."""
        assert self._consumer is not None
        async with self._lock:  # the batch in hand is written (and its commit tried) first
            partitions = list(range(self.settings.kafka_partitions))
            begun = await asyncio.to_thread(new_epochs, self.store, self.topic, partitions, self.bases)
            self.bases.update(begun)
            self.lag.highwater.clear()  # marks of the lost log
            self.lag.committed.clear()
        # The group (re)joined on the broker that came back: read the new log from its start, before
        # the collector produces into it (its positions still point into the lost log).
        deadline = asyncio.get_running_loop().time() + 30
        while not self._consumer.assignment() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        for tp in self._consumer.assignment():
            await self._consumer.seek_to_beginning(tp)
        log.warning("the topic %s was made again on the broker; offsets count on from %s", self.topic, begun)

    async def _reload_index(self) -> None:
        hashes = await asyncio.to_thread(self.store.query_column, "SELECT key_hash FROM {db}.events", None, "writer")
        self._index = KeyIndex(hashes)

    def _allow_token_dedup(self) -> None:
        """A plain MergeTree honours insert_deduplication_token only with a deduplication window."""
        engine = self.store.query(
            "SELECT engine FROM system.tables WHERE database = {db:String} AND name = 'events'",
            {"db": self.store.database},
            role="writer",
        )
        if engine and engine[0][0] == "MergeTree":
            self.store.command(
                "ALTER TABLE {db}.events MODIFY SETTING non_replicated_deduplication_window = 1000", role="writer"
            )

    async def _run(self) -> None:
        assert self._consumer is not None
        while not self._stopping:
            try:
                fetched = await self._consumer.getmany(timeout_ms=100, max_records=self.max_events)
            except Exception:
                log.exception("fetching from %s failed; retrying", self.topic)
                await asyncio.sleep(1.0)
                continue
            self.lag.seen(self._consumer, self._consumer.assignment())
            if not fetched:
                continue
            async with self._lock:
                await self._write_and_commit(fetched)

    async def _write_and_commit(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self._consumer is not None
        # Offsets behind what this writer committed: the broker lost the log and hands it out again
        # from 0 (a rewind by `tower replay` needs the writers stopped, so it cannot look like this).
        went_back = [tp for tp, ms in fetched.items() if ms and ms[0].offset < self.lag.committed.get(tp.partition, 0)]
        if went_back:
            partitions = [tp.partition for tp in went_back]
            begun = await asyncio.to_thread(new_epochs, self.store, self.topic, partitions, self.bases)
            self.bases.update(begun)
            log.warning(
                "partitions %s of %s went back behind their committed offsets: the log was begun again; "
                "offsets count on from %s",
                partitions,
                self.topic,
                begun,
            )
            for tp in went_back:
                self.lag.committed[tp.partition] = 0
                self.lag.highwater.pop(tp.partition, None)
                if fetched[tp][0].offset > 0:  # not from the new log's start: read it from there
                    del fetched[tp]
                    await self._consumer.seek_to_beginning(tp)
            if not fetched:
                return
        while True:
            try:
                letters = await asyncio.to_thread(self.write, fetched)
                self.failure = None
                break
            except Exception as exc:
                if self._stopping:
                    raise
                self.failure = f"storing fetched events failed, retrying every second: {exc}"
                log.exception("writing %d messages failed; retrying", sum(len(m) for m in fetched.values()))
                await asyncio.sleep(1.0)
        for letter, raw in letters:
            assert self._dlq is not None
            await self._dlq.send_and_wait(dead_letter_topic(self.settings), dead_letter_value(letter.reason, raw))
        offsets = {tp: messages[-1].offset + 1 for tp, messages in fetched.items()}
        try:
            await self._consumer.commit(offsets)
        except Exception as exc:  # a rebalance took the partitions: the next owner re-reads, finds them stored
            log.warning("committing offsets failed (%s); the partitions' next owner re-reads them", exc)
            return
        for tp, offset in offsets.items():
            self.lag.committed[tp.partition] = offset

    def write(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> list[tuple[DeadLetter, bytes]]:
        """Decode, dedupe and insert one batch; runs in a worker thread. Returns the dead letters."""
        started = time.perf_counter()
        events: list[tuple[int, Envelope]] = []
        letters: list[tuple[DeadLetter, bytes]] = []
        for tp, messages in fetched.items():
            for m in messages:
                raw = m.value or b""
                envelope, letter = _envelope(m, f"{tp.topic}[{tp.partition}]@{m.offset}")
                if letter is not None:
                    letters.append((letter, raw))
                elif envelope is not None:
                    events.append((kafka_seq(tp.partition, self.bases.get(tp.partition, 0) + m.offset), envelope))
        hashes = [event_key_hash(e.tenant, e.source, e.id) for _, e in events]
        maybe = self._index.candidates(hashes)
        stored = stored_seqs(self.store, [e.key for (_, e), m in zip(events, maybe, strict=True) if m], role="writer")
        keep: list[int] = []
        seen: set[tuple[str, str, str]] = set()
        duplicates = 0
        for i, (seq, event) in enumerate(events):
            key = event.key
            if key in stored:
                if stored[key] == seq:
                    self.replayed += 1
                else:
                    duplicates += 1
                continue
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            keep.append(i)
        if keep:
            now = datetime.now(UTC)
            kept = [events[i] for i in keep]
            envelopes = [e for _, e in kept]
            times = pa.array([e.time_us for e in envelopes], pa.int64()).cast(EVENT_TIME)
            now_us = (now - EPOCH) // timedelta(microseconds=1)
            ingested = pa.array([e.ingested_us or now_us for e in envelopes], pa.int64()).cast(EVENT_TIME)
            table = event_table(envelopes, [seq for seq, _ in kept], [hashes[i] for i in keep], times, ingested)
            # Virtual offsets: a log begun again must not repeat an earlier batch's token.
            token = ",".join(
                f"{tp.topic}:{tp.partition}:{self.bases.get(tp.partition, 0) + ms[0].offset}-"
                f"{self.bases.get(tp.partition, 0) + ms[-1].offset}"
                for tp, ms in sorted(fetched.items())
            )
            self.store.insert_arrow("events", table, role="writer", settings={"insert_deduplication_token": token})
            self._index.add(hashes[i] for i in keep)
            self.stats.events += len(kept)
            self.stats.batches += 1
            self.stats.lag_seconds = (now - EPOCH).total_seconds() - max(e.time_us for _, e in kept) / 1e6
        self._quarantine.record([letter for letter, _ in letters])
        self.stats.duplicates += duplicates
        elapsed = time.perf_counter() - started
        self.stats.write_seconds += elapsed
        self.stats.last_write_seconds = elapsed
        self.stats.last_batch_events = len(events)
        return letters


@dataclass(slots=True)
class Envelope:
    """What the writer stores of one event: the columns and the payload as the collector accepted it."""

    tenant: str
    source: str
    id: str
    type: str
    time_us: int
    traceparent: str
    payload: bytes
    system: str
    carrier: str
    operation: str
    ingested_us: int  # the message's timestamp (`tower.kafka.ingested_us`); 0: the time of the write

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tenant, self.source, self.id)


def _envelope(message: ConsumerRecord, where: str) -> tuple[Envelope | None, DeadLetter | None]:
    """The columns from the collector's headers; a message without them is parsed and validated."""
    raw = message.value or b""
    headers = dict(message.headers or ())
    if all(name in headers for name in HEADERS):  # one from a collector before `system`…`operation`: parsed
        try:
            t, s, i, ty, us, tp, system, carrier, operation = (headers[name].decode() for name in HEADERS)
            return Envelope(t, s, i, ty, int(us), tp, raw, system, carrier, operation, ingested_us(message)), None
        except (UnicodeDecodeError, ValueError):
            pass  # not what the collector writes: judge the payload itself
    event, letter = _decode(raw, where)
    if event is None:
        return None, letter
    time_us = (event.time - EPOCH) // timedelta(microseconds=1)
    envelope = Envelope(
        event.tenant,
        event.source,
        event.id,
        event.type,
        time_us,
        event.traceparent,
        event.payload,
        event.system,
        event.carrier,
        event.operation,
        ingested_us(message),
    )
    return envelope, None


def _decode(raw: bytes, where: str) -> tuple[Event | None, DeadLetter | None]:
    """The event in a message, or the dead letter saying why there is none."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        value, event, reason = None, None, f"not valid JSON: {exc}"
    else:
        event, problems = validate_event(value, raw=raw)
        reason = "; ".join(f"{p.field or 'event'}: {p.reason}" for p in problems)
    if event is not None:
        return event, None
    fields = value if isinstance(value, dict) else {}
    tenant, event_id = fields.get("tenant"), fields.get("id")
    return None, DeadLetter(
        tenant if isinstance(tenant, str) else "",
        ENDPOINT,
        "application/cloudevents+json",
        400,
        -1,
        event_id if isinstance(event_id, str) else "",
        "",
        reason,
        raw,
        {"kafka": where},
    )


class _Rebalance(ConsumerRebalanceListener):
    """Partitions leave only between batches; partitions that arrive bring their stored keys along."""

    def __init__(self, writer: KafkaWriter) -> None:
        self.writer = writer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.writer._lock:  # the batch in hand is written and committed first
            for tp in revoked:
                self.writer.lag.highwater.pop(tp.partition, None)
                self.writer.lag.committed.pop(tp.partition, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # Another writer may have stored keys of these partitions since this one last looked.
        writer = self.writer
        writer.assignments += 1
        async with writer._lock:  # the batch in hand keeps the bases it was read under
            await writer._reload_index()
            writer.bases = await asyncio.to_thread(bases, writer.store, writer.topic)
            consumer = writer._consumer
            if consumer is None:
                return
            uncommitted = []
            for tp in assigned:
                committed = await consumer.committed(tp)
                if committed and not await asyncio.to_thread(
                    stored_since, writer.store, tp.partition, writer.bases.get(tp.partition, 0)
                ):
                    # A commit of a lost log that reached the broker after it came back empty (a
                    # commit retried across the restart): nothing of this epoch is stored, so it
                    # cannot be this log's. Read the log from its start instead of skipping it.
                    log.warning(
                        "partition %d: committed offset %d belongs to a lost log; reading from 0",
                        tp.partition,
                        committed,
                    )
                    await consumer.seek_to_beginning(tp)
                    committed = 0
                writer.lag.committed[tp.partition] = committed or 0
                if committed is None:
                    uncommitted.append(tp.partition)
            # No commit yet, events stored: a writer that died before its first commit, when this log
            # still holds what was stored; otherwise a log begun again.
            uncommitted = [
                p
                for p in uncommitted
                if not await log_holds_what_is_stored(writer.settings, writer.store, p, writer.bases.get(p, 0))
            ]
            if uncommitted:
                begun = await asyncio.to_thread(new_epochs, writer.store, writer.topic, uncommitted, writer.bases)
                if begun:
                    log.warning(
                        "partitions %s of %s hold no committed offset but events of them are stored: the log was "
                        "begun again (a broker that lost it?); their offsets count on from %s",
                        sorted(begun),
                        writer.topic,
                        begun,
                    )
                    writer.bases.update(begun)
