"""The correlator under Kafka: it reads every partition of the events topic, as far as the writer stored.

Why every partition, in one correlator: the objects of one journey arrive on different partitions
(the ERP's event names the SO number, the carrier's only the tracking number; the routing key is
the event's idempotency key, so they hash anywhere). A journey is a connected piece of a graph
that is global per tenant, and only a reader that sees all of it can join the pieces. So the
correlator assigns itself all partitions (no group rebalancing splits them) and folds events from
all of them into one graph. The graph is built so that its result does not depend on the order
events arrive in (identity by earliest event time, membership by the graph, state by event
time), so the interleaving of partitions cannot change a journey; `tests/correlator/
test_partitions.py` applies the OCEL log partition by partition in shuffled orders to prove it.

Exactly what the writer stored, no more: a partition is read only up to the offset the writer
group has committed, which it commits only after the insert returned. So every event the
correlator applies is in `events` under its seq, and a repeat the writer dropped is dropped here
too: when a key was seen before (a fingerprint hit), the event is applied only if the store holds
it under this very position.

Resuming: the snapshot keeps each partition's next offset; a restart loads it and seeks there.
Offsets here are virtual (`tower.kafka.bases`): a log begun again by a broker that lost it counts
on from the base the writer recorded, so its events get new seqs and are applied, not mistaken for
events applied before.
The offsets it commits under its own group (`<topic>.correlator`) show its progress and lag.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from correlator.engine import Correlator, stored_events
from tower.events import Event, event_key_hash, validate_event
from tower.fingerprints import KeyIndex
from tower.kafka import (
    MAX_PARTITIONS,
    PARTITION_BITS,
    PARTITION_MASK,
    Lag,
    bases,
    consumer,
    correlator_group,
    ingested_us,
    kafka_seq,
    topic_partitions,
    writer_group,
)
from tower.settings import Settings
from tower.store import Store, stored_seqs

log = logging.getLogger(__name__)


class SeqMismatch(Exception):
    """The writer stored a message under another seq than this feed computes for it: their partition
    bases differ. Applied under the wrong seq, the message would give two events one seq in the graph,
    and journeys other orders' events, so nothing is applied until they agree."""

    def __init__(self, wrong: dict[int, tuple[int, int | None]], bases: dict[int, int]) -> None:
        self.wrong = wrong
        where = "; ".join(
            f"partition {p}: seq {seq} here (base {bases.get(p, 0)}), "
            + ("not stored" if stored is None else f"stored under seq {stored}")
            for p, (seq, stored) in sorted(wrong.items())
        )
        super().__init__(f"the correlator's seqs differ from the writer's: {where}")


class KafkaFeed:
    def __init__(
        self,
        correlator: Correlator,
        store: Store,
        settings: Settings,
    ) -> None:
        self.correlator = correlator
        self.store = store
        self.settings = settings
        self.topic = settings.kafka_topic
        self.group = correlator_group(settings)
        self.writer_group = writer_group(settings)
        self.batch = settings.correlator_batch_events
        self.interval = settings.correlator_interval_ms / 1000
        self.lag = Lag(self.group)
        self.dropped = 0  # repeats the writer did not store
        self._index = KeyIndex()
        self._consumer: AIOKafkaConsumer | None = None
        self._gate_reader: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._gate: dict[int, int] = {}
        self._buffers: dict[int, deque[ConsumerRecord]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.bases: dict[int, int] = {}
        self._step = asyncio.Lock()  # one fetch-and-apply at a time, or `begin_again`

    @property
    def lag_events(self) -> int:
        """Messages in the topic (as of the last fetch) the correlator has not yet applied or passed."""
        positions = self.correlator.positions
        return sum(max(0, self.bases.get(p, 0) + mark - positions.get(p, 0)) for p, mark in self.lag.highwater.items())

    def _virtual(self, partition: int, offset: int) -> int:
        return self.bases.get(partition, 0) + offset

    async def _reload_bases(self) -> None:
        """A partition begun again: its offsets now count on from the base the writer recorded.

        What the writer stored of the lost log and this correlator had not applied is read back
        from the store (the writer may have stored past its last commit, the gate, and past what was
        fetched here); messages of the lost log still buffered are dropped."""
        fresh = await asyncio.to_thread(bases, self.store, self.topic)
        for partition, base in sorted(fresh.items()):
            if base == self.bases.get(partition, 0):
                continue
            log.warning("partition %d of %s begun again: offsets count on from %d", partition, self.topic, base)
            old_raw = self.correlator.positions.get(partition, 0) - self.bases.get(partition, 0)
            start = self.correlator.positions.get(partition, 0)
            while start < base:
                pairs = await asyncio.to_thread(self._stored_between, partition, start, base)
                if not pairs:
                    break
                start = pairs[-1][0] >> PARTITION_BITS  # a seq shifted right is the next virtual offset
                await asyncio.to_thread(self.correlator.step, pairs, {partition: start})
            self.correlator.positions[partition] = max(base, self.correlator.positions.get(partition, 0))
            self.lag.highwater.pop(partition, None)
            buffered = list(self._buffers.get(partition, ()))
            cut = 0  # the new log starts where offsets go back, or at once if they start behind
            for i in range(1, len(buffered)):
                if buffered[i].offset < buffered[i - 1].offset:
                    cut = i
            if cut == 0 and buffered and buffered[0].offset >= old_raw:
                cut = len(buffered)
            self._buffers[partition] = deque(buffered[cut:])
        self.bases = fresh

    async def start(self) -> None:
        self.correlator.ordered = False
        await asyncio.to_thread(self.correlator.load)
        hashes = await asyncio.to_thread(
            self.store.query_column, "SELECT key_hash FROM {db}.events", None, "correlator"
        )
        self._index = KeyIndex(hashes)
        self.bases = await asyncio.to_thread(bases, self.store, self.topic)
        self._consumer = consumer(self.settings, self.group)
        await self._consumer.start()
        self._partitions = await topic_partitions(self._consumer, self.topic)
        self._consumer.assign(self._partitions)
        for tp in self._partitions:
            position = self.correlator.positions.get(tp.partition)
            if position is None or position <= self.bases.get(tp.partition, 0):
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, position - self.bases.get(tp.partition, 0))
            self._buffers[tp.partition] = deque()
        # Reads the writer group's committed offsets; it never subscribes, so it never joins that group.
        self._gate_reader = consumer(self.settings, self.writer_group)
        await self._gate_reader.start()
        self._task = asyncio.create_task(self._run(), name="kafka-correlator")
        log.info(
            "correlator reads %d partitions of %s from %s",
            len(self._partitions),
            self.topic,
            self.correlator.positions or "the beginning",
        )

    async def close(self) -> None:
        """Apply what the writer stored and is fetched, then snapshot and stop."""
        self._stopping = True
        if self._task:
            await self._task
        if self.correlator.applied_seq > self.correlator.snapshot_seq:
            await asyncio.to_thread(self.correlator.snapshot)
        for client in (self._consumer, self._gate_reader):
            if client is not None:
                await client.stop()

    async def begin_again(self) -> None:
        """The broker lost the topic's log and it was made again, empty (after the writer's
        `begin_again` recorded the new bases): apply what is buffered and stored, then read every
        partition from the new log's beginning."""
        assert self._consumer is not None
        async with self._step:
            await self._reload_bases()
            for buffer in self._buffers.values():
                buffer.clear()
            self._gate = {}
            for tp in self._partitions:
                await self._consumer.seek_to_beginning(tp)
        log.warning("the topic %s was made again on the broker; reading it from its beginning", self.topic)

    def _stored_between(self, partition: int, start: int, end: int) -> list[tuple[int, Event]]:
        """(seq, event) stored from `partition` at virtual offsets in [start, end), a batch at most."""
        rows = self.store.query(
            "SELECT seq, payload, toUnixTimestamp64Micro(ingested_at) FROM {db}.events "
            "WHERE seq % {n:UInt64} = {p:UInt64} "
            "AND intDiv(seq, {n:UInt64}) > {start:UInt64} AND intDiv(seq, {n:UInt64}) <= {end:UInt64} "
            "ORDER BY seq LIMIT {limit:UInt32}",
            {"n": MAX_PARTITIONS, "p": partition, "start": start, "end": end, "limit": self.batch},
            role="correlator",
            binary=("payload",),
        )
        pairs = stored_events(rows)
        self._index.add(event_key_hash(e.tenant, e.source, e.id) for _, e in pairs)
        return pairs

    async def _run(self) -> None:
        while True:
            async with self._step:
                done = await self._iteration()
            if done:
                return

    async def _iteration(self) -> bool:
        """One fetch and step; True when stopping and nothing is left to apply."""
        assert self._consumer is not None
        try:
            observed = self.correlator.clock.now()  # before fetching: see Correlator.horizon
            await self._read_gates()
            buffered = sum(len(b) for b in self._buffers.values())
            if buffered < 2 * self.batch and not self._stopping:
                # Messages waiting for the writers: look at their offsets again soon.
                wait = 0.02 if buffered else self.interval
                fetched = await self._consumer.getmany(
                    *self._partitions, timeout_ms=int(wait * 1000), max_records=self.batch
                )
                for tp, messages in fetched.items():
                    self._buffers[tp.partition].extend(messages)
                self.lag.seen(self._consumer, self._partitions)
            ready, positions = self._take_ready()
            if ready:
                try:
                    pairs = await asyncio.to_thread(self._pairs, ready)
                    await asyncio.to_thread(self.correlator.step, pairs, positions)
                except BaseException:
                    # Taken from the buffers but not applied: put back, or the next step would pass
                    # them over (what a failed step did apply, it finds in the graph and skips).
                    self._put_back(ready)
                    raise
                await self._commit(positions)
            elif self._stopping:
                return True
            elif buffered >= 2 * self.batch:
                await asyncio.sleep(self.interval)
            if self.lag_events == 0:  # everything acknowledged before `observed` is applied
                self.correlator.horizon = max(self.correlator.horizon, observed)
        except SeqMismatch as exc:
            self.correlator.stats.seq_mismatches += 1
            log.error("%s; reading the partitions' bases again and retrying", exc)
            await self._reload_bases()  # bases recorded after this feed read them heal it; others do not
            if self._stopping:
                return True
            await asyncio.sleep(1.0)
        except Exception:
            log.exception("correlator step failed; retrying")
            if self._stopping:
                return True
            await asyncio.sleep(1.0)
        return False

    def _put_back(self, ready: list[tuple[int, ConsumerRecord]]) -> None:
        for partition, message in reversed(ready):
            self._buffers[partition].appendleft(message)

    async def _read_gates(self) -> None:
        assert self._gate_reader is not None
        for tp in self._partitions:
            self._gate[tp.partition] = await self._gate_reader.committed(tp) or 0
        # Below the gate, a message behind the applied position is either one applied before (a
        # re-read) or the first of a log begun again; the writer recorded the new base before
        # committing anything of it, so reading the bases now tells them apart.
        behind = any(
            buffer
            and buffer[0].offset < self._gate.get(p, 0)
            and self._virtual(p, buffer[0].offset) < self.correlator.positions.get(p, 0)
            for p, buffer in self._buffers.items()
        )
        if behind:
            await self._reload_bases()

    def _take_ready(self) -> tuple[list[tuple[int, ConsumerRecord]], dict[int, int]]:
        """Buffered messages the writer has stored (below its committed offsets), up to a batch.

        Positions are virtual offsets (base + offset); a message behind its partition's position
        was applied already and is passed over."""
        ready: list[tuple[int, ConsumerRecord]] = []
        positions: dict[int, int] = {}
        for partition, buffer in self._buffers.items():
            gate = self._gate.get(partition, 0)
            applied = self.correlator.positions.get(partition, 0)
            while buffer and buffer[0].offset < gate and len(ready) < self.batch:
                message = buffer.popleft()
                virtual = self._virtual(partition, message.offset)
                if virtual < applied:
                    continue
                ready.append((partition, message))
                positions[partition] = virtual + 1
        return ready, positions

    def _pairs(self, ready: list[tuple[int, ConsumerRecord]]) -> list[tuple[int, Event]]:
        """(seq, event) of the messages the writer stored under their own position."""
        decoded: list[tuple[int, Event]] = []
        for partition, message in ready:
            try:
                value = message.value or b""
                event, _ = validate_event(orjson.loads(value), raw=value)
            except orjson.JSONDecodeError:
                event = None
            if event is not None:  # the writer sent the others to the dead-letter topic
                # The time the writer stored it under: its payload goes into the membership rows too.
                event.ingested_at_us = ingested_us(message)
                decoded.append((kafka_seq(partition, self._virtual(partition, message.offset)), event))
        hashes = [event_key_hash(e.tenant, e.source, e.id) for _, e in decoded]
        maybe = self._index.candidates(hashes)
        # The guard: the writer computed each message's seq from the same offset and base, so a key never
        # seen before is stored under this very seq (the gate says it is stored: the last such message
        # of each partition is checked), and a repeat's first copy came earlier in the same partition,
        # under a smaller seq. Read in the one query the repeats need anyway.
        checked: dict[int, tuple[int, tuple[str, str, str]]] = {}
        firsts: set[tuple[str, str, str]] = set()
        for (seq, event), hit in zip(decoded, maybe, strict=True):
            if not hit and event.key not in firsts:  # a repeat within the batch is stored under its first
                firsts.add(event.key)
                checked[seq & PARTITION_MASK] = (seq, event.key)
        stored = stored_seqs(
            self.store,
            [e.key for (_, e), hit in zip(decoded, maybe, strict=True) if hit] + [key for _, key in checked.values()],
            role="correlator",
        )
        wrong = {p: (seq, stored.get(key)) for p, (seq, key) in checked.items() if stored.get(key) != seq}
        for (seq, event), hit in zip(decoded, maybe, strict=True):
            at = stored.get(event.key) if hit else None
            if at is not None and at > seq and at & PARTITION_MASK == seq & PARTITION_MASK:
                wrong.setdefault(seq & PARTITION_MASK, (seq, at))
        if wrong:
            raise SeqMismatch(wrong, self.bases)
        pairs = []
        seen: set[tuple[str, str, str]] = set()
        for (seq, event), hit in zip(decoded, maybe, strict=True):
            if (hit and stored.get(event.key) != seq) or event.key in seen:
                self.dropped += 1
                continue
            seen.add(event.key)
            pairs.append((seq, event))
        self._index.add(hashes)
        return pairs

    async def _commit(self, positions: dict[int, int]) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit({TopicPartition(self.topic, p): o for p, o in positions.items()})
        except Exception as exc:  # informational: the snapshot is what a restart resumes from
            log.warning("committing the correlator's offsets failed: %s", exc)
            return
        self.lag.committed.update(positions)
