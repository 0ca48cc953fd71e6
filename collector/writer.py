"""Group commit: concurrent requests' events go into one insert, and each request is acked after it.

A request calls `submit`; the writer task gathers whatever is pending for at most
`commit_max_delay_ms` (or until `commit_max_events`), drops duplicates, inserts the rest into
`events` with one `insert_arrow`, and only then resolves the requests' futures. Pending events are
bounded: past `pending_max_events`, `submit` raises `Backpressure` and the edge answers 429.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pyarrow as pa

from tower import memory
from tower.bus import Committed, InProcessBus
from tower.events import Event, event_key_hash
from tower.fingerprints import KeyIndex
from tower.store import Store

log = logging.getLogger(__name__)

BUSY_SECONDS = 0.1  # a commit ending less than this before the next request means commits come back to back
BUSY_DELAY_FACTOR = 4.0  # while busy, gather for up to this many times `max_delay`

EVENT_TIME = pa.timestamp("us", tz="UTC")
EVENT_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("source", pa.string()),
        ("id", pa.string()),
        ("seq", pa.uint64()),
        ("type", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
        ("traceparent", pa.string()),
        ("key_hash", pa.uint64()),
        ("payload", pa.binary()),
        # Filled here from the parsed event, so SLIs slice by them without reading payloads
        # (tower.events.event_system; the columns' DEFAULTs compute the same for rows without them).
        ("system", pa.string()),
        ("carrier", pa.string()),
        ("operation", pa.string()),
    ]
)


class StoredColumns(Protocol):
    """What `event_table` reads of each event: an `Event`, or a Kafka envelope carrying the same."""

    @property
    def tenant(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def traceparent(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def system(self) -> str: ...
    @property
    def carrier(self) -> str: ...
    @property
    def operation(self) -> str: ...


def event_table(
    events: Sequence[StoredColumns],
    seqs: Iterable[int],
    hashes: Iterable[int],
    times: pa.Array,
    ingested_at: datetime | pa.Array,
) -> pa.Table:
    """The rows of `events` as one Arrow table in EVENT_SCHEMA, for one `insert_arrow`; `times` are
    the events' times as timestamps (each writer has them in its own form), `ingested_at` one time
    for the whole batch or one per event."""
    if isinstance(ingested_at, datetime):
        ingested_at = pa.array([ingested_at] * len(events), EVENT_TIME)
    return pa.Table.from_arrays(
        [
            pa.array([e.tenant for e in events], pa.string()),
            pa.array([e.source for e in events], pa.string()),
            pa.array([e.id for e in events], pa.string()),
            pa.array(seqs, pa.uint64()),
            pa.array([e.type for e in events], pa.string()),
            times,
            ingested_at,
            pa.array([e.traceparent for e in events], pa.string()),
            pa.array(hashes, pa.uint64()),
            pa.array([e.payload for e in events], pa.binary()),
            pa.array([e.system for e in events], pa.string()),
            pa.array([e.carrier for e in events], pa.string()),
            pa.array([e.operation for e in events], pa.string()),
        ],
        schema=EVENT_SCHEMA,
    )


class Backpressure(Exception):
    """The writer (or the correlator after it) is behind; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int, why: str = "the writer is behind") -> None:
        super().__init__(f"{why}; retry after {retry_after}s")
        self.retry_after = retry_after
        self.why = why


class Unavailable(Exception):
    """What stores events cannot take them now (the store or the broker failed); `reason` says why."""

    def __init__(self, code: str, reason: str, retry_after: int = 1) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.retry_after = retry_after


@dataclass(slots=True)
class WriteResult:
    accepted: int
    duplicates: int


@dataclass(slots=True)
class _Request:
    events: list[Event]
    future: asyncio.Future[WriteResult]


@dataclass
class WriterStats:
    batches: int = 0
    events: int = 0
    duplicates: int = 0
    write_seconds: float = 0.0
    last_write_seconds: float = 0.0
    last_batch_events: int = 0
    lag_seconds: float = 0.0  # event time → durable, of the newest event in the last batch
    extra: dict[str, float] = field(default_factory=dict)


class GroupCommitWriter:
    def __init__(
        self,
        store: Store,
        bus: InProcessBus,
        max_events: int = 20_000,
        max_delay: float = 0.005,
        pending_max: int = 100_000,
        max_wait: float = 10.0,
        correlator_lag: Callable[[], int] | None = None,
        max_correlator_lag: int = 0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.max_events = max_events
        self.max_delay = max_delay
        self.pending_max = pending_max
        self.max_wait = max_wait
        # Committed events the correlator has not applied yet: past `max_correlator_lag` (0: no
        # bound) new requests get 429, so an overload leaves journeys minutes behind, not hours,
        # and the correlator's memory follows what it can apply, not what was offered.
        self.correlator_lag = correlator_lag
        self.max_correlator_lag = max_correlator_lag
        self.stats = WriterStats()
        self._queue: list[_Request] = []
        self._pending = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._index = KeyIndex()
        self._next_seq = 1
        self._closing = False
        self._last_commit_end = 0.0  # time.perf_counter() when the last commit ended
        self.failure: str | None = None  # why the last commit failed; None once one succeeds

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def backlog_seconds(self) -> float:
        """How long what is pending takes to commit, at the speed of the last commit."""
        return self.stats.last_write_seconds * self._pending / max(1, self.stats.last_batch_events)

    def load(self) -> None:
        """Read what is stored: the fingerprints of stored keys and the next seq. Blocking."""
        hashes = self.store.query_column("SELECT key_hash FROM {db}.events", role="writer")
        self._index = KeyIndex(hashes)
        max_seq = self.store.query("SELECT max(seq) FROM {db}.events", role="writer")[0][0] or 0
        self._next_seq = int(max_seq) + 1
        self.bus.high_water = int(max_seq)
        log.info("writer resumes at seq %d with %d stored keys", self._next_seq, len(self._index))

    async def start(self) -> None:
        await asyncio.to_thread(self.load)
        self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task:
            await self._task

    def correlator_behind(self) -> Backpressure | None:
        """The refusal to send while the correlator is more than `max_correlator_lag` events behind."""
        if self.correlator_lag is None or not self.max_correlator_lag:
            return None
        lag = self.correlator_lag()
        if lag <= self.max_correlator_lag:
            return None
        # about how long the excess takes the correlator (≈10k events/s here), 1–30 s
        retry = max(1, min(30, (lag - self.max_correlator_lag) // 10_000 + 1))
        return Backpressure(retry, f"the correlator is {lag} events behind")

    async def submit(self, events: list[Event]) -> WriteResult:
        if not events:
            return WriteResult(0, 0)
        if self._closing:
            raise Backpressure(1)
        if self._pending > 0 and (
            self._pending + len(events) > self.pending_max or self.backlog_seconds() > self.max_wait
        ):
            raise Backpressure(max(1, round(self.backlog_seconds())))
        behind = self.correlator_behind()
        if behind is not None:
            raise behind
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(events, future))
        self._pending += len(events)
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            if self._pending < self.max_events and not self._closing:
                await asyncio.sleep(self._gather_delay())
            batch: list[_Request] = []
            taken = 0
            while self._queue and (not batch or taken + len(self._queue[0].events) <= self.max_events):
                request = self._queue.pop(0)
                batch.append(request)
                taken += len(request.events)
            try:
                results, committed = await asyncio.to_thread(self._commit, batch)
            except Exception as exc:
                log.exception("writing %d events failed", taken)
                self.failure = f"the store refused the write: {exc}"
                unavailable = Unavailable(
                    "store_unavailable",
                    f"{self.failure}; this request is not acknowledged, send it again "
                    "(an event that did get stored is answered as a duplicate)",
                )
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(unavailable)
            else:
                self.failure = None
                for request, result in zip(batch, results, strict=True):
                    if not request.future.done():
                        request.future.set_result(result)
                if committed is not None:
                    self.bus.publish(committed)
            finally:
                self._pending -= taken
                self._last_commit_end = time.perf_counter()

    def _gather_delay(self) -> float:
        """How long to let concurrent requests gather before a commit. A commit costs mostly its
        insert (one new part), whatever its size: while commits come back to back, wait as long as
        the last one took (at most BUSY_DELAY_FACTOR × max_delay), so under a stream of small
        requests commits grow instead of multiplying; a request after a quiet spell waits max_delay."""
        if time.perf_counter() - self._last_commit_end > BUSY_SECONDS:
            return self.max_delay
        return max(self.max_delay, min(self.stats.last_write_seconds, BUSY_DELAY_FACTOR * self.max_delay))

    def _commit(self, batch: list[_Request]) -> tuple[list[WriteResult], Committed | None]:
        """Dedupe and insert one group; runs in a worker thread. Returns per-request results."""
        started = time.perf_counter()
        flat: list[Event] = [e for r in batch for e in r.events]
        hashes = [event_key_hash(e.tenant, e.source, e.id) for e in flat]
        maybe = self._index.candidates(hashes)
        stored_keys = self._confirm([e for e, m in zip(flat, maybe, strict=True) if m])
        seen: set[tuple[str, str, str]] = set()
        keep: list[int] = []
        for i, event in enumerate(flat):
            key = event.key
            if key in seen or (maybe[i] and key in stored_keys):
                continue
            seen.add(key)
            keep.append(i)
        kept_set = set(keep)
        results = []
        offset = 0
        for request in batch:
            n = len(request.events)
            accepted = sum(1 for i in range(offset, offset + n) if i in kept_set)
            results.append(WriteResult(accepted, n - accepted))
            offset += n
        if not keep:
            self.stats.duplicates += len(flat)
            return results, None
        first_seq = self._next_seq
        events = [flat[i] for i in keep]
        now = datetime.now(UTC)
        table = event_table(
            events,
            range(first_seq, first_seq + len(events)),
            [hashes[i] for i in keep],
            pa.array([e.time for e in events], EVENT_TIME),
            now,
        )
        try:
            self.store.insert_arrow("events", table, role="writer")
        finally:
            # A failed insert may still have landed (a server that timed out after writing): the
            # fingerprints make a resend check the primary key, so it is never stored twice.
            self._index.add(hashes[i] for i in keep)
        self._next_seq += len(events)
        del table
        # the events' ingested_at, in µs as the column holds it: the correlator writes it beside each event
        stored_us = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        for e in events:
            e.ingested_at_us = stored_us
        memory.release()  # the group's parsed events and Arrow table are garbage once the futures resolve
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.duplicates += len(flat) - len(events)
        self.stats.write_seconds += elapsed
        self.stats.last_write_seconds = elapsed
        self.stats.last_batch_events = len(flat)
        self.stats.lag_seconds = (datetime.now(UTC) - max(e.time for e in events)).total_seconds()
        return results, Committed(first_seq, events)

    def _confirm(self, candidates: list[Event]) -> set[tuple[str, str, str]]:
        """Of the fingerprint hits, the keys really stored (exact match on the primary key)."""
        if not candidates:
            return set()
        found: set[tuple[str, str, str]] = set()
        by_tenant: dict[str, list[tuple[str, str]]] = {}
        for e in candidates:
            by_tenant.setdefault(e.tenant, []).append((e.source, e.id))
        for tenant, keys in by_tenant.items():
            for start in range(0, len(keys), 5_000):
                chunk = keys[start : start + 5_000]
                rows = self.store.query(
                    "SELECT source, id FROM {db}.events WHERE tenant = {tenant:String} "
                    "AND (source, id) IN {keys:Array(Tuple(String, String))}",
                    {"tenant": tenant, "keys": chunk},
                    role="writer",
                )
                found.update((tenant, s, i) for s, i in rows)
        return found
