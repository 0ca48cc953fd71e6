"""The correlator stage: take committed events in seq order, fold them into the graph, write the state.

Its input is the event log itself: events carry a `seq`, and the correlator keeps the last seq it
has applied. It takes committed batches from the in-process bus when they continue that seq, and
reads them back from the `events` table otherwise (after a restart, or when it fell behind).

Restart: the graph is snapshotted into `correlator_snapshots` every `snapshot_every` events (or as
many as the graph holds, if more) and at a clean shutdown; a restart loads the newest snapshot and
applies only the events after it. Rows it writes are versioned replacements, so re-applying events
after a crash rewrites the same rows.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import logging
import os
import pickle
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter
from sys import intern
from typing import Any, Protocol

import orjson
import pyarrow as pa
from opentelemetry import trace

from correlator.graph import Changes, JourneyGraph
from correlator.model import EventRecord, Journey, Obj
from correlator.state import journey_state
from tower import memory
from tower.bus import InProcessBus
from tower.clock import Clock, SystemClock
from tower.events import Event, validate_event
from tower.store import Store

log = logging.getLogger(__name__)
TRACER = trace.get_tracer("control-tower.correlator")
Stored = tuple[str, int, bytes]  # an event as `events` holds it: traceparent, time of storage µs, payload

SNAPSHOT_PARTS = ("objects", "journeys", "records", "identifiers", "parent")
# The parts made of dataclass instances go into a snapshot as tuples of their fields, keyed by the
# first (each part's dict key is its items' first field): pickling a slotted instance builds a
# state dict for it, which costs twice the tuple (records 4.0 → 1.5 µs an item, objects 7.8 → 5.0).
# Their pieces are tagged "<part>:fields"; snapshots taken before hold (key, instance) pairs.
SNAPSHOT_FIELDS: dict[str, type] = {"objects": Obj, "journeys": Journey, "records": EventRecord}
_FIELDS_OF = {
    kind: attrgetter(*(f.name for f in fields(cls) if f.metadata.get("snapshot", True)))
    for kind, cls in SNAPSHOT_FIELDS.items()
}
SNAPSHOT_ITEMS = 50_000  # dict entries per snapshot piece
SNAPSHOT_INSERT_BYTES = 32 << 20  # packed pieces per insert into correlator_snapshots
TERMINAL = frozenset({"delivered", "cancelled", "rejected"})
PACE_FACTOR = 2.0  # after a small step, wait this many times its duration before the next
PACE_MAX_SECONDS = 0.25  # … but never longer than this (or the poll interval, if longer)
# Behind by more than a batch, a step takes up to this many batches' worth: a journey's row is
# rewritten once a step whatever number of its events the step holds, so larger steps write fewer
# rows (300k events in process: 63,244 journey rows in steps of 20k, 40,341 in steps of 60k). Over
# HTTP at 1M, 2 gave 1.26 times the events/s of 1 for 1.16 times the memory (server and correlator
# summed), and 3 no more than 2 for more memory; at 10M, 1.09 the rate for 1.10 the memory. Under a
# trickle nothing changes: a step takes what has arrived.
CATCH_UP_BATCHES = 2
# Keys per read of late members' payloads (`_stored_payloads`): a step has hundreds; a journey re-keyed
# after a restart re-emits every membership it has.
LATE_PAYLOADS_PER_READ = 5_000
CHECKPOINT_SECONDS = 5.0  # how often `correlator_checkpoint` (where the correlator is, for operators) is written


@dataclass
class CorrelatorStats:
    events: int = 0
    batches: int = 0
    apply_seconds: float = 0.0
    write_seconds: float = 0.0
    insert_seconds: float = 0.0  # the part of write_seconds spent in the store's inserts
    late_payloads: int = 0  # events read back from `events` for the membership rows of late members
    late_payload_seconds: float = 0.0  # the part of write_seconds spent reading them
    seq_mismatches: int = 0  # steps a Kafka feed refused: its seqs differed from the writer's
    last_batch_events: int = 0
    snapshots: int = 0
    replayed_from_store: int = 0
    failed_events: int = 0
    evicted_journeys: int = 0
    rehydrated_journeys: int = 0
    failed_journeys: int = 0


@dataclass(frozen=True)
class CorrelatorParams:
    """How to build a correlator, from settings; picklable, for the correlator's own process."""

    levels: dict[str, int | None]
    batch_events: int
    interval: float
    hot_seconds: float | None
    idle_seconds: float | None = None
    log_level: str = "INFO"
    name: str = "default"

    @classmethod
    def from_settings(cls, settings: Any) -> CorrelatorParams:
        return cls(
            levels=dict(settings.levels),
            batch_events=settings.correlator_batch_events,
            interval=settings.correlator_interval_ms / 1000,
            hot_seconds=None if settings.journey_hot_days is None else settings.journey_hot_days * 86_400,
            idle_seconds=None if settings.journey_idle_days is None else settings.journey_idle_days * 86_400,
            log_level=os.environ.get("TOWER_LOG_LEVEL", "INFO").upper(),
        )

    def build(
        self, store: Store, bus: InProcessBus, clock: Clock | None = None, kind: type[Correlator] | None = None
    ) -> Correlator:
        return (kind or Correlator)(
            store,
            bus,
            self.levels,
            batch_events=self.batch_events,
            interval=self.interval,
            hot_seconds=self.hot_seconds,
            idle_seconds=self.idle_seconds,
            name=self.name,
            clock=clock,
        )


class Correlator:
    def __init__(
        self,
        store: Store,
        bus: InProcessBus,
        levels: dict[str, int | None],
        batch_events: int = 20_000,
        interval: float = 0.1,
        snapshot_every: int = 500_000,
        name: str = "default",
        hot_seconds: float | None = 86_400,
        clock: Clock | None = None,
        idle_seconds: float | None = 30 * 86_400,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        # The evaluation clock's reading at the last moment the correlator had applied everything
        # acknowledged before it: journeys are complete up to here, so evaluations (SLOs, stuck
        # orders) must not look past it. See `horizon_clock`.
        self.horizon: datetime = self.clock.now()
        self.bus = bus
        self.levels = levels
        self.batch_events = batch_events
        self.interval = interval
        self.snapshot_every = snapshot_every
        self.name = name
        self.graph = JourneyGraph(levels)
        # Terminal journeys (delivered, cancelled, rejected) and their last event time: once idle
        # for `hot_seconds` of event time they leave memory (`JourneyGraph.evict`) and come back
        # from the log if an event names them again (`rehydrate`). None keeps everything.
        self.hot_us = None if hot_seconds is None else int(hot_seconds * 1_000_000)
        self.terminal: dict[str, int] = {}
        # Unfinished journeys and their last event time: one idle for `idle_seconds` (an order whose
        # delivery scan never came) leaves memory too, or such journeys would pile up for ever.
        self.idle_us = None if idle_seconds is None or hot_seconds is None else int(idle_seconds * 1_000_000)
        self.open: dict[str, int] = {}
        # When each of those journeys may leave (last event time + hot_us or idle_us), so a step finds
        # them without reading every journey held (34.7 ms a step at 10M events): a heap of (due,
        # journey) pushed whenever a journey's last event time is written, its stale entries skipped
        # as they come out; `_kept` holds the due journeys `graph.evict` kept (sharing an object with
        # one that stays), tried again every step as before.
        self._due: list[tuple[int, str]] = []
        self._kept: set[str] = set()
        self.applied_seq = 0  # every event up to here is applied and its rows written
        self.graph_seq = 0  # every event up to here is in the graph (rows maybe not yet written)
        self.snapshot_seq = 0
        # Under Kafka, seqs are log positions (`tower.kafka.kafka_seq`): they come in no global
        # order, and where to resume is the next offset of every partition, kept in snapshots.
        self.ordered = True
        self.positions: dict[int, int] = {}
        self._events_at_snapshot = 0
        self.stats = CorrelatorStats()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._version = 0
        self._checkpointed = 0.0  # time.monotonic() of the last checkpoint row
        # The events of the step being applied (and those brought back from the log), by seq: a
        # membership row carries its event's payload when the event is at hand and its time of
        # storage known, so the journey page reads one range (queries.journey_events).
        self._at_hand: dict[int, Event] = {}

    @property
    def journeys_in_memory(self) -> int:
        return len(self.graph.journeys)

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.load)
        self._task = asyncio.create_task(self._run(), name="correlator")

    async def close(self, snapshot: bool = True) -> None:
        self._stopping = True
        self.bus.wake()
        if self._task:
            await self._task
        if snapshot and self.applied_seq > self.snapshot_seq:
            await asyncio.to_thread(self.snapshot)
        if snapshot and self.applied_seq:
            await asyncio.to_thread(self.checkpoint)

    def load(self) -> None:
        """Restore the newest complete snapshot, if any. Blocking."""
        rows = self.store.query(
            "SELECT seq, max(chunks) AS n, count() AS c FROM {db}.correlator_snapshots "
            "WHERE name = {name:String} GROUP BY seq HAVING c = n ORDER BY seq DESC LIMIT 1",
            {"name": self.name},
            role="correlator",
        )
        if not rows:
            log.info("correlator starts empty")
            return
        seq, pieces = int(rows[0][0]), int(rows[0][1])
        graph = JourneyGraph(self.levels)
        collecting = gc.isenabled()
        gc.disable()  # millions of new containers and no garbage: collections would only re-scan them
        shared = Shared()
        try:
            for chunk in range(pieces):  # one piece at a time: the snapshot is never all in memory twice
                ((data,),) = self.store.query(
                    "SELECT data FROM {db}.correlator_snapshots WHERE name = {name:String} "
                    "AND seq = {seq:UInt64} AND chunk = {chunk:UInt32} LIMIT 1",
                    {"name": self.name, "seq": seq, "chunk": chunk},
                    role="correlator",
                    binary=("data",),
                )
                kind, items = pickle.loads(_unpack(data))
                part, _, form = kind.partition(":")
                if kind == "meta":
                    graph.watermark_us, self.terminal, graph.evicted = items[:3]
                    self.positions = dict(items[3]) if len(items) > 3 else {}
                    self.open = dict(items[4]) if len(items) > 4 else {}  # snapshots before idle eviction had none
                elif form == "fields":
                    cls, entry = SNAPSHOT_FIELDS[part], shared.entries(part)
                    getattr(graph, part).update(entry(values[0], cls(*_upgraded(part, values))) for values in items)
                else:
                    entry = shared.entries(part)
                    getattr(graph, part).update(entry(key, value) for key, value in items)
        finally:
            if collecting:
                gc.enable()
        self.terminal = {shared(j): t for j, t in self.terminal.items()}  # the meta piece came first
        self.open = {shared(j): t for j, t in self.open.items()}
        self._due_again()
        self.graph = graph
        del shared  # its strings live on in the graph
        gc.freeze()
        memory.release()  # the pieces and the copies of strings they restored
        self.applied_seq = self.snapshot_seq = self.graph_seq = seq
        log.info("correlator restored snapshot at seq %d (%d journeys)", seq, len(graph.journeys))

    def checkpoint(self) -> None:
        """Record how far the correlator has written, for operators and for retention (which keeps the
        events it has not applied); resuming reads the snapshots. Fed from Kafka, seqs come in no
        global order, so the partitions' positions say it (`applied_seq` is only the highest seq)."""
        self.store.insert_rows(
            "correlator_checkpoint",
            [[self.name, self.applied_seq, datetime.now(UTC), self.positions]],
            ["name", "seq", "at", "positions"],
            role="correlator",
        )
        self._checkpointed = time.monotonic()

    def snapshot(self) -> None:
        """Write the graph as of `applied_seq`. Blocking; called between batches."""
        if self.graph_seq != self.applied_seq:
            log.warning("not snapshotting: rows up to seq %d are not all written yet", self.graph_seq)
            return
        g = self.graph
        seq = self.applied_seq
        # (kind, items, how each item is pickled): a piece's field tuples are made only as it is
        # pickled, so the snapshot never holds more than one piece's worth of them.
        pieces: list[tuple[str, Any, Callable[[Any], Any] | None]] = [
            ("meta", (g.watermark_us, self.terminal, g.evicted, self.positions, self.open), None)
        ]
        for kind in SNAPSHOT_PARTS:
            part = getattr(g, kind)
            fields_of = _FIELDS_OF.get(kind)
            items = list(part.values() if fields_of else part.items())
            tag = f"{kind}:fields" if fields_of else kind
            pieces.extend((tag, items[i : i + SNAPSHOT_ITEMS], fields_of) for i in range(0, len(items), SNAPSHOT_ITEMS))
        now = datetime.now(UTC)
        size = 0
        rows: list[list[Any]] = []
        pending = 0
        for i, (tag, chunk, getter) in enumerate(pieces):
            # Piece by piece, with a pause between: pickling holds the interpreter lock, and one
            # pickle of a large graph would stall every request for as long as it takes.
            piece = (tag, chunk if getter is None else list(map(getter, chunk)))
            data = _pack(pickle.dumps(piece, protocol=5))
            size += len(data)
            pending += len(data)
            rows.append([self.name, seq, i, len(pieces), data, now])
            # Inserted a few at a time: an insert costs the store the same whatever its size, and
            # from the correlator's process each is a round trip to a busy server (one insert a
            # piece took 23 of 30 s of a correlator at 2M events, the snapshot alone).
            if pending >= SNAPSHOT_INSERT_BYTES or i == len(pieces) - 1:
                columns = ["name", "seq", "chunk", "chunks", "data", "taken_at"]
                self.store.insert_rows("correlator_snapshots", rows, columns, role="correlator")
                rows, pending = [], 0
            time.sleep(0.001)
        self.store.command(
            "ALTER TABLE {db}.correlator_snapshots DELETE WHERE name = {name:String} AND seq < {seq:UInt64}",
            {"name": self.name, "seq": seq},
            role="correlator",
        )
        self.snapshot_seq = seq
        self._events_at_snapshot = self.stats.events
        self.stats.snapshots += 1
        log.info("correlator snapshot at seq %d: %d pieces, %.1f MB", seq, len(pieces), size / 1e6)

    # --- the loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            # the clock first, then the high water: every event acknowledged before the clock read
            # `observed` has a seq at or below `due`
            observed, due = self.clock.now(), self.bus.high_water
            if self.applied_seq >= due:
                self.horizon = max(self.horizon, observed)
            batches = self.bus.take(self.applied_seq, CATCH_UP_BATCHES * self.batch_events)
            try:
                if batches:
                    pairs = [(b.first_seq + i, e) for b in batches for i, e in enumerate(b.events)]
                    began = time.perf_counter()
                    await asyncio.to_thread(self.step, pairs)
                    if self.applied_seq >= due:
                        self.horizon = max(self.horizon, observed)
                    if len(pairs) < self.batch_events:
                        # A step costs mostly its inserts (one new part per table), whatever its
                        # size: after a small one, let events gather for twice as long as it took
                        # (at most PACE_MAX_SECONDS), so under a steady trickle the correlator
                        # takes at most a third of a core and steps grow instead of multiplying,
                        # while an idle tower still answers at once.
                        took = time.perf_counter() - began
                        await asyncio.sleep(min(PACE_FACTOR * took, max(self.interval, PACE_MAX_SECONDS)))
                elif self.bus.high_water > self.applied_seq:
                    limit = CATCH_UP_BATCHES * self.batch_events
                    pairs = await asyncio.to_thread(self.read_from_store, self.applied_seq, limit)
                    if pairs:
                        await asyncio.to_thread(self.step, pairs)
                    else:
                        await self.bus.wait(self.interval)
                elif self._stopping:
                    return
                else:
                    await self.bus.wait(self.interval)
                    continue
            except Exception:
                log.exception("correlator step after seq %d failed; retrying", self.applied_seq)
                await asyncio.sleep(1.0)
                continue
            if self._stopping and self.bus.high_water <= self.applied_seq:
                return

    def read_from_store(self, after_seq: int, limit: int) -> list[tuple[int, Event]]:
        """Up to `limit` events after `after_seq` from the log, stopping at the first gap.

        Two reads: the seqs first, then the payloads of that range. One read sorting on seq with a
        limit would unpack the payload of every row past `after_seq` to keep `limit` of them, for
        `events` is sorted by the event's key, so a range of seqs is spread over whole parts: 1M
        events behind on a 10M-event store, a step of 40k took 0.3-0.5 s and up to 0.5 GB more
        memory that way, and 0.17 s and under 0.1 GB this way."""
        ((last,),) = self.store.query(
            "SELECT max(seq) FROM "
            "(SELECT seq FROM {db}.events WHERE seq > {after:UInt64} ORDER BY seq LIMIT {n:UInt32})",
            {"after": after_seq, "n": limit},
            role="correlator",
        )
        if not last or last <= after_seq:
            return []
        rows = self.store.query(
            "SELECT seq, payload, toUnixTimestamp64Micro(ingested_at) FROM {db}.events "
            "WHERE seq > {after:UInt64} AND seq <= {last:UInt64} ORDER BY seq",
            {"after": after_seq, "last": last},
            role="correlator",
            binary=("payload",),
        )
        pairs = []
        expected = after_seq + 1
        for seq, payload, stored_us in rows:
            if seq != expected:
                break  # a gap: that insert is not visible yet; take it on the next round
            event = stored_event(seq, payload, stored_us)
            if event is not None:
                pairs.append((int(seq), event))
            expected += 1
        self.stats.replayed_from_store += len(pairs)
        return pairs

    def step(self, pairs: list[tuple[int, Event]], positions: dict[int, int] | None = None) -> None:
        """Apply a batch of events in seq order and write what changed. Blocking.

        The graph's changes are cleared only once written, and events already in the graph are not
        applied again, so a failed write is retried whole on the next step without corrupting state.
        Unordered (Kafka), `positions` are the partitions' next offsets once this batch is applied.
        """
        started = time.perf_counter()
        if not self.ordered:
            pairs = [(seq, e) for seq, e in pairs if seq not in self.graph.records]
            if not pairs:
                self.positions.update(positions or {})
                return
        attributes = {"tower.events": len(pairs), "tower.seq.first": pairs[0][0], "tower.seq.last": pairs[-1][0]}
        with TRACER.start_as_current_span("correlator.step", attributes=attributes) as span:
            failed = self.stats.failed_events
            # Their payloads go into the membership rows (a failed write keeps them for the retry).
            self._at_hand.update(pairs)
            with TRACER.start_as_current_span("correlator.apply"):
                self.rehydrate([e for seq, e in pairs if seq > self.graph_seq or not self.ordered])
                for seq, event in pairs:
                    if self.ordered and seq <= self.graph_seq:
                        continue
                    try:
                        self.graph.apply(event, seq)
                    except Exception:  # one bad event must not stop correlation for everyone
                        self.stats.failed_events += 1
                        log.exception("correlating event %s/%s (seq %d) failed; skipped", event.source, event.id, seq)
                    self.graph_seq = max(self.graph_seq, seq)
            applied = time.perf_counter()
            changed = len(self.graph.changes.journeys)
            with TRACER.start_as_current_span("correlator.write", attributes={"tower.journeys.changed": changed}):
                self.write(self.graph.changes)
            self.graph.take_changes()
            self._at_hand = {}
            span.set_attribute("tower.journeys.changed", changed)
            span.set_attribute("tower.events.failed", self.stats.failed_events - failed)
        last = max(seq for seq, _ in pairs)
        self.applied_seq = max(self.applied_seq, last)
        self.positions.update(positions or {})
        if time.monotonic() - self._checkpointed >= CHECKPOINT_SECONDS:
            self.checkpoint()
        self.stats.events += len(pairs)
        self.stats.batches += 1
        self.stats.last_batch_events = len(pairs)
        self.stats.apply_seconds += applied - started
        self.stats.write_seconds += time.perf_counter() - applied
        self.evict_cold()
        since = self.applied_seq - self.snapshot_seq if self.ordered else self.stats.events - self._events_at_snapshot
        # A snapshot costs what the graph holds: taking one at most once per that many events keeps
        # its cost per event flat as the graph grows (and a restart replays at most that many).
        if since >= max(self.snapshot_every, len(self.graph.records)):
            self.snapshot()
        # What the graph holds now lives until merged away and has no reference cycles: keep the
        # cyclic garbage collector from re-scanning it on every collection.
        gc.freeze()
        memory.release()  # the step's events, rows and evicted journeys are garbage now: give it back

    # --- memory -----------------------------------------------------------------------------------

    def evict_cold(self) -> None:
        """Journeys finished and idle `hot_us`, or unfinished and idle `idle_us`, leave memory."""
        if self.hot_us is None:
            return
        candidates = self.due_journeys()
        if not candidates:
            self._kept = set()
            return
        evicted = self.graph.evict(candidates)
        for j in evicted:
            self.terminal.pop(j, None)
            self.open.pop(j, None)
        self._kept = candidates - evicted
        self.stats.evicted_journeys += len(evicted)

    def due_journeys(self) -> set[str]:
        """The journeys due to leave at the graph's watermark: those popped from the heap whose due
        time still holds, and those kept the step before (sharing an object with one that stayed)."""
        watermark = self.graph.watermark_us
        candidates = {j for j in self._kept if (due := self._due_at(j)) is not None and due <= watermark}
        while self._due and self._due[0][0] <= watermark:
            due, j = heapq.heappop(self._due)
            if self._due_at(j) == due:  # else stale: the journey had events since, or left
                candidates.add(j)
        return candidates

    def _due_at(self, journey_id: str) -> int | None:
        """The event time at which this journey may leave memory, if it may."""
        assert self.hot_us is not None
        last = self.terminal.get(journey_id)
        if last is not None:
            return last + self.hot_us
        last = self.open.get(journey_id)
        if last is not None and self.idle_us is not None:
            return last + self.idle_us
        return None

    def _mark_due(self, journey_id: str) -> None:
        """The journey's last event time was written: it may leave at a new time."""
        if self.hot_us is None:
            return
        self._kept.discard(journey_id)
        due = self._due_at(journey_id)
        if due is not None:
            heapq.heappush(self._due, (due, journey_id))
        if len(self._due) > 2 * (len(self.terminal) + len(self.open)) + 4096:
            self._due_again()  # mostly stale entries: start over from what is held

    def _due_again(self) -> None:
        """The heap of due times from `terminal` and `open` (after a restore, or to drop stale entries)."""
        self._kept = set()
        if self.hot_us is None:
            self._due = []
            return
        due = [(last + self.hot_us, j) for j, last in self.terminal.items()]
        if self.idle_us is not None:
            due.extend((last + self.idle_us, j) for j, last in self.open.items())
        heapq.heapify(due)
        self._due = due

    def rehydrate(self, events: list[Event]) -> None:
        """Bring back the evicted journeys these events name, by re-applying their events from the log."""
        if self.hot_us is None:
            return
        # Find the whole set first, then apply: applying an old event would create a fresh object
        # for an identifier of another evicted journey and hide that it had to come back too.
        found: set[str] = set()
        old: dict[int, Event] = {}
        pending = events
        for _ in range(32):  # each round follows shared objects one journey further
            journeys = self._stored_journeys(self.graph.evicted_identifiers(pending)) - found - set(self.graph.journeys)
            if not journeys:
                break
            found |= journeys
            more = [(seq, e) for seq, e in self._journey_events_from_log(journeys) if seq not in old]
            old.update(more)
            pending = [e for _, e in more]
        else:
            log.warning("bringing back %d journeys did not settle in 32 rounds", len(found))
        self._at_hand.update(old)
        for seq in sorted(old):
            self.graph.apply(old[seq], seq)
        self.stats.rehydrated_journeys += len(found)

    def _stored_journeys(self, keys: set[tuple[str, str, str, str]]) -> set[str]:
        """Journeys the store knows for these identifiers (following merges)."""
        by_tenant: dict[str, list[tuple[str, str, str]]] = {}
        for tenant, otype, ns, value in keys:
            by_tenant.setdefault(tenant, []).append((value, ns, otype))
        journeys: set[str] = set()
        for tenant, triples in by_tenant.items():
            object_ids = {
                r[0]
                for start in range(0, len(triples), 10_000)
                for r in self.store.query(
                    "SELECT object_id FROM {db}.identifiers WHERE tenant = {tenant:String} "
                    "AND (value, namespace, type) IN {keys:Array(Tuple(String, String, String))} "
                    "ORDER BY version DESC LIMIT 1 BY value, namespace, type",
                    {"tenant": tenant, "keys": triples[start : start + 10_000]},
                    role="correlator",
                )
            }
            for _ in range(8):
                if not object_ids:
                    break
                rows = self.store.query(
                    "SELECT object_id, alive, merged_into, journeys FROM {db}.objects WHERE tenant = {tenant:String} "
                    "AND object_id IN {ids:Array(String)} ORDER BY version DESC LIMIT 1 BY object_id",
                    {"tenant": tenant, "ids": sorted(object_ids)},
                    role="correlator",
                )
                object_ids = set()
                for _object_id, alive, merged_into, object_journeys in rows:
                    if alive:
                        journeys.update(object_journeys)
                    elif merged_into:
                        object_ids.add(merged_into)
        return journeys

    def _journey_events_from_log(self, journeys: set[str]) -> list[tuple[int, Event]]:
        rows = self.store.query(
            "SELECT DISTINCT e.seq, e.payload, toUnixTimestamp64Micro(e.ingested_at) FROM {db}.events AS e "
            "WHERE (e.tenant, e.source, e.id) IN ("
            "  SELECT tenant, source, event_id FROM {db}.journey_events WHERE journey_id IN {ids:Array(String)}) "
            "ORDER BY e.seq",
            {"ids": sorted(journeys)},
            role="correlator",
            binary=("payload",),
        )
        return stored_events(rows)

    # --- rows ------------------------------------------------------------------------------------

    def _next_version(self) -> int:
        self._version = max(self._version + 1, time.time_ns())
        return self._version

    def write(self, changes: Changes) -> None:
        """Turn what changed into rows; every table goes in with one `insert_arrow`.

        One table at a time, each inserted before the next is made: a step holds one table's rows
        (as tuples, then as Arrow, then pickled for the server) at a time, not all six. In the order
        a reader follows them backwards: a lookup goes identifiers → objects → journeys → their
        events, so by the time an identifier is visible, what it leads to is too (written the other
        way, a lookup could name a journey whose row was not there yet: 404)."""
        if not changes:
            return
        version = self._next_version()
        self._insert("journey_events", self._member_rows(changes))
        self._insert("journeys", self._journey_rows(changes, version))
        self._insert("merges", _merge_rows(changes))
        relations = Rows(RELATION_SCHEMA)
        for row in changes.relations:
            relations.add(row)
        self._insert("relations", relations)
        objects, identifiers = self._object_rows(changes, version)
        self._insert("objects", objects)
        self._insert("identifiers", identifiers)

    def _insert(self, table: str, rows: Rows) -> None:
        if not rows:
            return
        data = rows.table()
        rows.rows.clear()  # the tuples are in `data` now
        began = time.perf_counter()
        self.store.insert_arrow(table, data, role="correlator")
        self.stats.insert_seconds += time.perf_counter() - began

    def _member_rows(self, changes: Changes) -> Rows:
        """The new memberships, each with its event as stored: the events of this step are at hand; an
        event that joins a journey later (a shipment related to its order after its scans, a journey
        re-keyed) is read back from `events` by its key, so the journey page stays one range read."""
        g = self.graph
        at_hand = self._at_hand
        wanted: list[tuple[str, str, EventRecord]] = []
        for journey_id in changes.rekeyed_journeys:
            journey = g.journeys.get(journey_id)
            if journey is not None:
                wanted.extend((journey.tenant, journey_id, g.records[seq]) for seq in journey.events)
        for journey_id, seq in changes.members:
            if journey_id in g.journeys and journey_id not in changes.rekeyed_journeys:
                wanted.append((g.journeys[journey_id].tenant, journey_id, g.records[seq]))
        known: list[Stored | None] = []
        late: dict[int, EventRecord] = {}
        for _, _, rec in wanted:
            event = at_hand.get(rec.seq)
            if event is not None and event.ingested_at_us:
                known.append((event.traceparent, event.ingested_at_us, event.payload))
            else:
                known.append(None)
                late[rec.seq] = rec
        stored = self._stored_payloads(list(late.values())) if late else {}
        members = Rows(MEMBER_SCHEMA)
        for (tenant, journey_id, rec), as_stored in zip(wanted, known, strict=True):
            members.add(_member(tenant, journey_id, rec, as_stored or stored.get(rec.seq)))
        return members

    def _stored_payloads(self, records: list[EventRecord]) -> dict[int, Stored]:
        """seq → (traceparent, time of storage µs, payload) of these events as `events` holds them, read
        by their primary key. Under Kafka an event of this step may not be stored yet: it is left out,
        and its row goes without (the journey page reads it from `events` then)."""
        found: dict[int, Stored] = {}
        began = time.perf_counter()
        for i in range(0, len(records), LATE_PAYLOADS_PER_READ):
            chunk = records[i : i + LATE_PAYLOADS_PER_READ]
            by_key = {(r.tenant, r.source, r.id): r.seq for r in chunk}
            rows = self.store.query(
                "SELECT tenant, source, id, traceparent, toUnixTimestamp64Micro(ingested_at), payload "
                "FROM {db}.events WHERE (tenant, source, id) IN {keys:Array(Tuple(String, String, String))}",
                {"keys": list(by_key)},
                role="correlator",
                binary=("payload",),
            )
            for tenant, source, event_id, traceparent, stored_us, payload in rows:
                seq = by_key.get((tenant, source, event_id))
                if seq is not None and stored_us:
                    found[seq] = (traceparent, int(stored_us), payload)
        self.stats.late_payloads += len(found)
        self.stats.late_payload_seconds += time.perf_counter() - began
        return found

    def _object_rows(self, changes: Changes, version: int) -> tuple[Rows, Rows]:
        g = self.graph
        objects = Rows(OBJECT_SCHEMA)
        identifiers = Rows(IDENTIFIER_SCHEMA)
        for object_id in changes.objects:
            obj = g.objects.get(object_id)
            if obj is None:
                continue
            provenance = {ns: {"source": src, "event_id": eid, "time": _iso(t)} for ns, src, eid, t in obj.provenance}
            ids = list(obj.ids.items())
            reach = list(obj.reach)  # sorted
            objects.add(
                (
                    obj.tenant,
                    object_id,
                    version,
                    1,
                    "",
                    obj.type,
                    -1 if obj.level is None else obj.level,
                    ids,
                    orjson.dumps(provenance).decode(),
                    reach,
                    obj.key[0],
                    len(obj.conflicts),
                )
            )
            for ns, value in ids:
                identifiers.add((obj.tenant, value, ns, obj.type, object_id, version, ids, reach))
        for object_id in changes.dead_objects:
            if object_id in g.objects:
                continue
            into = g.find(object_id)
            survivor = g.objects.get(into)
            if survivor is not None:
                objects.add(
                    (survivor.tenant, object_id, version, 0, into, survivor.type, -1, [], "{}", [], survivor.key[0], 0)
                )
        return objects, identifiers

    def _journey_rows(self, changes: Changes, version: int) -> Rows:
        g = self.graph
        journeys = Rows(JOURNEY_SCHEMA)
        for journey_id in changes.journeys:
            if journey_id in g.journeys:
                try:
                    journeys.add(self._journey_row(journey_id, version))
                except Exception:  # a state bug on one journey must not stop every other journey
                    self.stats.failed_journeys += 1
                    log.exception("computing the state of journey %s failed; its row is not rewritten", journey_id)
        for gone in changes.dead_journeys:
            self.terminal.pop(gone, None)
            self.open.pop(gone, None)
            if gone in g.journeys:
                continue
            into = g.find(gone)
            if into in g.journeys:
                journeys.add(
                    (
                        g.journeys[into].tenant,
                        gone,
                        version,
                        0,
                        into,
                        "merged",
                        "merged",
                        "",
                        "",
                        "",
                        "",
                        0,
                        None,
                        None,
                        None,
                        None,
                        0,
                        0,
                        0,
                        [],
                        None,
                        None,
                        [],
                        "{}",
                    )
                )
        return journeys

    def _journey_row(self, journey_id: str, version: int) -> tuple[Any, ...]:
        g = self.graph
        journey = g.journeys[journey_id]
        objects = {o: g.objects[o] for o in journey.objects if o in g.objects}
        state = journey_state(journey_id, (g.records[s] for s in journey.events), objects, g.find)
        relations = sorted(  # each pair once, lower id first (a conditional, not min/max: half the cost)
            {
                (a, b, q) if a < b else (b, a, q)
                for a, obj in objects.items()
                for b, q in obj.neighbours.items()
                if b in objects
            }
        )
        if state["status"] in TERMINAL:
            self.terminal[journey_id] = state["last_event_at"] or 0
            self.open.pop(journey_id, None)
        else:
            self.terminal.pop(journey_id, None)
            self.open[journey_id] = state["last_event_at"] or 0
        self._mark_due(journey_id)
        dims = state["dims"]
        doc = {
            "milestones": state["milestones"],
            "shipments": state["shipments"],
            "durations": state["durations"],
            "anomalies": state["anomalies"],
            "dims": dims,
            "promised": state["promised"],
            "relations": [list(r) for r in relations],
            # What the journey page asks `span_links` for, so it need not wait for the objects first.
            "identifier_values": sorted({v for obj in objects.values() for v in obj.ids.values()}),
            # The objects whose audit the page reads from `merges` (most have none: a read saved).
            "audited": sorted(o for o, obj in objects.items() if obj.audited is not False),
            # The row's own columns again, times in µs: the journey page reads this one column, not
            # eleven more (each column read costs chDB about 0.15 ms a part).
            "summary": {
                "stage": state["stage"],
                "status": state["status"],
                "stage_at": state["stage_at"],
                "started_at": state["started_at"] or 0,
                "received_at": state["received_at"],
                "departed_at": state["departed_at"],
                "delivered_at": state["delivered_at"],
                "last_event_at": state["last_event_at"] or 0,
                "event_count": state["event_count"],
                "on_time_ship": state["on_time_ship"],
                "on_time_delivery": state["on_time_delivery"],
            },
        }
        return (
            journey.tenant,
            journey_id,
            version,
            1,
            "",
            state["stage"],
            state["status"],
            dims.get("channel", ""),
            dims.get("warehouse", ""),
            dims.get("carrier", ""),
            dims.get("customer", ""),
            state["started_at"] or 0,
            state["stage_at"],
            state["received_at"],
            state["departed_at"],
            state["delivered_at"],
            state["last_event_at"] or 0,
            state["event_count"],
            len(state["anomalies"]),
            sorted({a["kind"] for a in state["anomalies"]}),
            None if state["on_time_ship"] is None else int(state["on_time_ship"]),
            None if state["on_time_delivery"] is None else int(state["on_time_delivery"]),
            sorted(objects),
            orjson.dumps(doc).decode(),
        )


class Rows:
    """Rows gathered as tuples, then turned column-wise into one Arrow table for `insert_arrow`."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows: list[tuple[Any, ...]] = []

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def table(self) -> pa.Table:
        arrays = []
        for field, values in zip(self.schema, zip(*self.rows, strict=True), strict=True):
            if pa.types.is_timestamp(field.type):
                arrays.append(pa.array(values, pa.int64()).cast(field.type))
            else:
                arrays.append(pa.array(values, field.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)


def _merge_rows(changes: Changes) -> Rows:
    now_us = int(time.time() * 1_000_000)
    merges = Rows(MERGE_SCHEMA)
    for m in changes.merges:
        merges.add(
            (
                m["tenant"],
                m["object_id"],
                m["merged_id"],
                m["type"],
                m["reason"],
                m["source"],
                m["event_id"],
                m["event_time_us"],
                m["detail"],
                now_us,
            )
        )
    return merges


def _member(tenant: str, journey_id: str, rec: EventRecord, stored: Stored | None) -> tuple[Any, ...]:
    """A membership row; with the event's traceparent, time of storage and payload as stored when known
    (otherwise empty: the journey page reads that event from `events`)."""
    if stored is None:
        return (tenant, journey_id, rec.time_us, rec.source, rec.id, rec.seq, rec.type, "", 0, b"")
    traceparent, stored_us, payload = stored
    return (tenant, journey_id, rec.time_us, rec.source, rec.id, rec.seq, rec.type, traceparent, stored_us, payload)


_TS = pa.timestamp("us", tz="UTC")
_STR = pa.string()
MEMBER_SCHEMA = pa.schema(
    [
        ("tenant", _STR),
        ("journey_id", _STR),
        ("time", _TS),
        ("source", _STR),
        ("event_id", _STR),
        ("seq", pa.uint64()),
        ("type", _STR),
        ("traceparent", _STR),
        ("ingested_at", _TS),
        ("payload", pa.binary()),
    ]
)
OBJECT_SCHEMA = pa.schema(
    [
        ("tenant", _STR),
        ("object_id", _STR),
        ("version", pa.uint64()),
        ("alive", pa.uint8()),
        ("merged_into", _STR),
        ("type", _STR),
        ("level", pa.int16()),
        ("ids", pa.map_(_STR, _STR)),
        ("provenance", _STR),
        ("journeys", pa.list_(_STR)),
        ("first_seen", _TS),
        ("conflicts", pa.uint32()),
    ]
)
IDENTIFIER_SCHEMA = pa.schema(
    [
        ("tenant", _STR),
        ("value", _STR),
        ("namespace", _STR),
        ("type", _STR),
        ("object_id", _STR),
        ("version", pa.uint64()),
        ("ids", pa.map_(_STR, _STR)),
        ("journeys", pa.list_(_STR)),
    ]
)
RELATION_SCHEMA = pa.schema(
    [
        ("tenant", _STR),
        ("a", _STR),
        ("b", _STR),
        ("qualifier", _STR),
        ("source", _STR),
        ("event_id", _STR),
        ("event_time", _TS),
    ]
)
MERGE_SCHEMA = pa.schema(
    [
        ("tenant", _STR),
        ("object_id", _STR),
        ("merged_id", _STR),
        ("type", _STR),
        ("reason", _STR),
        ("source", _STR),
        ("event_id", _STR),
        ("event_time", _TS),
        ("detail", _STR),
        ("recorded_at", _TS),
    ]
)
JOURNEY_SCHEMA = pa.schema(
    [
        ("tenant", _STR),
        ("journey_id", _STR),
        ("version", pa.uint64()),
        ("alive", pa.uint8()),
        ("merged_into", _STR),
        ("stage", _STR),
        ("status", _STR),
        ("channel", _STR),
        ("warehouse", _STR),
        ("carrier", _STR),
        ("customer", _STR),
        ("started_at", _TS),
        ("stage_at", _TS),
        ("received_at", _TS),
        ("departed_at", _TS),
        ("delivered_at", _TS),
        ("last_event_at", _TS),
        ("event_count", pa.uint32()),
        ("anomaly_count", pa.uint32()),
        ("anomaly_kinds", pa.list_(_STR)),
        ("on_time_ship", pa.uint8()),
        ("on_time_delivery", pa.uint8()),
        ("objects", pa.list_(_STR)),
        ("state", _STR),
    ]
)


def stored_event(seq: int, payload: bytes, stored_us: int) -> Event | None:
    """An event read back from the log, stamped with when the writer stored it; None (logged) if it
    no longer validates (a contract tightened since it was accepted)."""
    event, problems = validate_event(orjson.loads(payload), raw=payload)
    if event is None:
        log.error("stored event seq %d no longer validates: %s", seq, problems)
        return None
    event.ingested_at_us = stored_us
    return event


def stored_events(rows: Iterable[tuple[int, bytes, int]]) -> list[tuple[int, Event]]:
    """(seq, event) for rows of (seq, payload, time of storage µs) read back from the log, leaving out
    (logged) any that no longer validate."""
    stamped = ((int(seq), stored_event(seq, payload, stored_us)) for seq, payload, stored_us in rows)
    return [(seq, event) for seq, event in stamped if event is not None]


class Shared:
    """Restoring a snapshot: one string for each object id and identifier value again.

    Live, an object's id is one string wherever the graph names it (its neighbours, the journeys it
    reaches, the events it is lowest of, its identifiers); pickled piece by piece, each piece
    restores its own copy. On the 10M-event bench store that made a restored graph take 2.08 GB
    where sharing them takes 1.62 GB (the table costs the load about 7 s there)."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        return self.strings.setdefault(value, value)

    def entries(self, part: str) -> Callable[[Any, Any], tuple[Any, Any]]:
        """For one part of the graph: (key, value) as restored → (key, value) sharing strings."""
        one = self.strings.setdefault

        def obj(key: str, o: Obj) -> tuple[Any, Any]:
            oid = o.id = one(o.id, o.id)
            o.key = (o.key[0], oid if o.key[1] == oid else one(o.key[1], o.key[1]))  # mostly its own id
            o.ids = {intern(ns): one(v, v) for ns, v in o.ids.items()}
            o.provenance = tuple([(intern(ns), intern(src), eid, t) for ns, src, eid, t in o.provenance])
            o.neighbours = {one(n, n): q for n, q in o.neighbours.items()}
            o.reach = tuple([one(j, j) for j in o.reach])
            return oid, o

        def journey(key: str, j: Journey) -> tuple[Any, Any]:
            jid = j.id = one(j.id, j.id)
            j.objects = {one(x, x) for x in j.objects}
            return jid, j

        def record(key: int, r: EventRecord) -> tuple[Any, Any]:  # its event id is its own: not shared
            r.lowest = tuple([one(x, x) for x in r.lowest])
            if r.shipments:
                r.shipments = tuple([one(x, x) for x in r.shipments])
            return key, r

        def identifier(key: tuple[str, str, str, str], object_id: str) -> tuple[Any, Any]:
            tenant, otype, ns, v = key
            return (intern(tenant), intern(otype), intern(ns), one(v, v)), one(object_id, object_id)

        def parent(key: str, value: str) -> tuple[Any, Any]:  # an id merged away is named here alone
            return key, one(value, value)

        entries: dict[str, Callable[[Any, Any], tuple[Any, Any]]] = {
            "objects": obj,
            "journeys": journey,
            "records": record,
            "identifiers": identifier,
            "parent": parent,
        }
        return entries[part]


def _upgraded(part: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A snapshot's fields in the types the classes take now (compiled, they check them): snapshots
    taken before held an object's provenance as a dict (namespace → (source, event id, time)) and
    its reach as a set, and a journey's events as a set."""
    if part == "objects":
        old = list(values)
        provenance, reach = old[_OBJ_PROVENANCE], old[_OBJ_REACH]
        if isinstance(provenance, dict):
            old[_OBJ_PROVENANCE] = tuple((ns, *linked) for ns, linked in provenance.items())
        if not isinstance(reach, tuple):
            old[_OBJ_REACH] = tuple(sorted(reach))
        return tuple(old)
    if part == "journeys" and not isinstance(values[_JOURNEY_EVENTS], array):
        old = list(values)
        old[_JOURNEY_EVENTS] = array("q", sorted(old[_JOURNEY_EVENTS]))
        return tuple(old)
    return values


def _field_index(cls: type, name: str) -> int:
    return next(i for i, f in enumerate(fields(cls)) if f.name == name)


_OBJ_PROVENANCE, _OBJ_REACH = _field_index(Obj, "provenance"), _field_index(Obj, "reach")
_JOURNEY_EVENTS = _field_index(Journey, "events")


def _pack(raw: bytes) -> bytes:
    return len(raw).to_bytes(8, "little") + pa.compress(raw, codec="zstd", asbytes=True)


def _unpack(data: bytes) -> bytes:
    return pa.decompress(data[8:], int.from_bytes(data[:8], "little"), codec="zstd", asbytes=True)


def _iso(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1_000_000, UTC).isoformat().replace("+00:00", "Z")


class HasHorizon(Protocol):
    horizon: datetime


class HorizonClock:
    """The evaluation clock, held back to what the correlator has caught up with.

    A simulator moves the clock once a step's traffic is acknowledged; the correlator applies it a
    moment later. Evaluating at the clock alone would see orders received but not yet accepted
    (the acceptance acknowledged, not yet applied) as waiting past their threshold."""

    def __init__(self, clock: Clock, correlator: HasHorizon) -> None:
        self.clock = clock
        self.correlator = correlator

    def now(self) -> datetime:
        return min(self.clock.now(), self.correlator.horizon)
