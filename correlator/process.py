"""The correlator in a process of its own, beside the server that owns the embedded store.

Correlation is Python work (the graph, journey states, rows); in the server's interpreter it
competes for the interpreter lock with parsing and validating requests, so a 2-core machine runs
ingest and correlation one at a time. `CorrelatorProcess` runs the very same `Correlator` in a
child process and keeps only what the server needs of it here:

- **Events.** Every batch the writer commits goes to the child as its stored payloads (bytes are
  cheaper to send than to pickle `Event`s; the child validates them again, on its own core). When
  the child is far behind, batches are not sent: its bus sees the gap and it reads the log, as the
  in-process correlator does after a restart.
- **The store.** chDB allows one process per data directory, so the child's reads and inserts are
  calls over a pipe, served here by a thread on the server's `Store` (`StoreProxy`).
- **Progress.** After each step the child reports its applied seq and counters; the evaluation
  horizon (`HorizonClock`) is kept here from them, with the server's own clock.
- **Failure.** A child that dies is started again; it resumes from its last snapshot and the log,
  and the rows it rewrites are versioned replacements.

Under Kafka, or with `TOWER_CORRELATOR_PROCESS=false`, the correlator runs in the server instead.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ctypes.util
import dataclasses
import gc
import logging
import multiprocessing
import os
import queue
import signal
import threading
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, cast

import orjson

from correlator.engine import Correlator, CorrelatorParams, CorrelatorStats
from tower.bus import Committed, InProcessBus
from tower.clock import Clock
from tower.events import validate_event
from tower.store import Store
from tower.telemetry import configure_tracing, shutdown_tracing

log = logging.getLogger(__name__)

STORE_CALLS = frozenset({"query", "query_column", "insert_rows", "insert_arrow", "command"})
AHEAD_BATCHES = 4  # send the child at most this many correlator batches beyond what it applied
RESTART_DELAY_SECONDS = 1.0
PR_SET_PDEATHSIG = 1  # prctl(2)


# --- in the child ---------------------------------------------------------------------------------


class StoreProxy:
    """The calls the correlator makes on a `Store`, carried out by the server process."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._conn.send((method, args, kwargs))
            ok, value = self._conn.recv()
        if not ok:
            raise RemoteStoreError(value)
        return value

    def query(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("query", *args, **kwargs)

    def query_column(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("query_column", *args, **kwargs)

    def insert_rows(self, *args: Any, **kwargs: Any) -> None:
        self._call("insert_rows", *args, **kwargs)

    def insert_arrow(self, *args: Any, **kwargs: Any) -> None:
        self._call("insert_arrow", *args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("command", *args, **kwargs)


class RemoteStoreError(RuntimeError):
    """The server's store refused a call the child made; the message is the server's error."""


class _ReportingCorrelator(Correlator):
    """Reports its progress to the server after every step."""

    report: Any = None

    def step(self, pairs: Any, positions: dict[int, int] | None = None) -> None:
        super().step(pairs, positions)
        if self.report is not None:
            self.report(self)


def child_main(
    params: CorrelatorParams, high_water: int, feed: Connection, status: Connection, calls: Connection
) -> None:
    """The child process: a correlator fed by the server's commits, writing through the server's store."""
    _die_with_parent()
    logging.basicConfig(level=params.log_level, format="%(asctime)s %(levelname)s %(name)s[correlator]: %(message)s")
    # a large, long-lived graph without reference cycles: the default thresholds walk it over and over
    gc.set_threshold(100_000, 50, 100)
    # the correlator's own spans (service control-tower, this process its own instance), when OTEL_* asks
    tracing = configure_tracing("control-tower")
    try:
        asyncio.run(_child(params, high_water, feed, status, calls))
    finally:
        shutdown_tracing(tracing)


async def _child(
    params: CorrelatorParams, high_water: int, feed: Connection, status: Connection, calls: Connection
) -> None:
    loop = asyncio.get_running_loop()
    bus = InProcessBus(max_events=4 * params.batch_events)
    bus.high_water = high_water
    # the store is the calls the correlator makes, over the pipe
    store = cast(Store, StoreProxy(calls))
    correlator = cast(_ReportingCorrelator, params.build(store, bus, kind=_ReportingCorrelator))
    status_lock = threading.Lock()

    def report(c: Correlator) -> None:
        with status_lock:
            status.send(("progress", c.applied_seq, dataclasses.asdict(c.stats), len(c.graph.journeys)))

    correlator.report = report
    stop = loop.create_future()

    def read_feed() -> None:
        while True:
            try:
                message = feed.recv()
            except EOFError:  # the server is gone, and its store with it: nothing left to write
                log.error("the server went away; the correlator process exits")
                os._exit(1)
            kind = message[0]
            if kind == "batch":
                _, first_seq, payloads, stored_us = message
                events = []
                for i, payload in enumerate(payloads):
                    event, problems = validate_event(orjson.loads(payload), raw=payload)
                    if event is None:  # stored, so valid when stored: read it back from the log instead
                        log.error("committed event seq %d does not validate: %s", first_seq + i, problems)
                        break
                    event.ingested_at_us = stored_us
                    events.append(event)
                if events:
                    loop.call_soon_threadsafe(bus.publish, Committed(first_seq, events))
            elif kind == "high_water":
                loop.call_soon_threadsafe(_raise_high_water, bus, message[1])
            elif kind == "stop":
                loop.call_soon_threadsafe(_resolve, stop, bool(message[1]))
                return

    await correlator.start()
    report(correlator)
    threading.Thread(target=read_feed, name="correlator-feed", daemon=True).start()
    snapshot = await stop
    await correlator.close(snapshot=snapshot)
    report(correlator)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the server dies (a SIGKILLed server cannot stop it)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the feed's end-of-file still stops it
        log.debug("no parent-death signal on this platform", exc_info=True)
    if os.getppid() == 1:  # the server died before the line above
        os._exit(1)


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _raise_high_water(bus: InProcessBus, seq: int) -> None:
    bus.high_water = max(bus.high_water, seq)
    bus.wake()


# --- in the server ----------------------------------------------------------------------------------


class CorrelatorProcess:
    """What the server holds of a correlator running in a child process (see the module docstring)."""

    def __init__(self, store: Store, bus: InProcessBus, params: CorrelatorParams, clock: Clock) -> None:
        self.store = store
        self.bus = bus
        self.params = params
        self.clock = clock
        self.horizon: datetime = clock.now()
        self.applied_seq = 0
        self.stats = CorrelatorStats()
        self.journeys_in_memory = 0
        self.restarts = 0
        self._child: Any = None
        self._feed: Connection | None = None
        self._outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._dues: collections.deque[tuple[int, datetime]] = collections.deque()
        self._stopping = False
        self._ready = threading.Event()  # the child loaded its state and reported
        self._supervisor: asyncio.Task[None] | None = None
        self._stats_base = CorrelatorStats()  # counters of children that died, so totals only grow
        bus.subscribers.append(self._committed)

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the child and return once it has loaded its snapshot (as the in-process one does)."""
        self._spawn()
        while not await asyncio.to_thread(self._ready.wait, 0.5):
            if not self._child.is_alive():
                raise RuntimeError(f"the correlator process exited with {self._child.exitcode} while starting")
        self._supervisor = asyncio.create_task(self._supervise(), name="correlator-process")

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        feed_out, feed_in = context.Pipe(duplex=False)
        status_out, status_in = context.Pipe(duplex=False)
        calls_here, calls_there = context.Pipe(duplex=True)
        self._ready.clear()
        self._child = context.Process(
            target=child_main,
            args=(self.params, self.bus.high_water, feed_out, status_in, calls_there),
            name="tower-correlator",
            daemon=True,
        )
        self._child.start()
        for end in (feed_out, status_in, calls_there):
            end.close()
        self._feed = feed_in
        self._outbox = queue.Queue()
        threading.Thread(target=self._serve_calls, args=(calls_here,), name="correlator-store", daemon=True).start()
        threading.Thread(target=self._read_status, args=(status_out,), name="correlator-status", daemon=True).start()
        threading.Thread(target=self._send, args=(feed_in, self._outbox), name="correlator-send", daemon=True).start()
        log.info("correlator process %d started at high water %d", self._child.pid, self.bus.high_water)

    async def close(self, snapshot: bool = True) -> None:
        self._stopping = True
        self._outbox.put(("stop", snapshot))
        self._outbox.put(None)
        if self._supervisor is not None:
            self._supervisor.cancel()
        child = self._child
        if child is not None:
            await asyncio.to_thread(child.join, 300)
            if child.is_alive():
                log.error("the correlator process did not stop in 300 s; killing it")
                child.kill()
                await asyncio.to_thread(child.join, 10)

    def process_state(self) -> dict[str, Any]:
        """For /readyz: whether the child runs, its pid, and how often it was started again."""
        child = self._child
        running = child is not None and child.is_alive() and self._ready.is_set()
        return {"running": running, "pid": None if child is None else child.pid, "restarts": self.restarts}

    @property
    def pid(self) -> int | None:
        return None if self._child is None else int(self._child.pid)

    async def _supervise(self) -> None:
        """Keep the horizon moving while idle, and start the child again if it dies."""
        while not self._stopping:
            observed, due = self.clock.now(), self.bus.high_water
            if not self._dues or self._dues[-1][0] != due:
                self._dues.append((due, observed))
            self._advance()
            if self.applied_seq >= due:
                self.horizon = max(self.horizon, observed)
            if self._child is not None and not self._child.is_alive():
                log.error("the correlator process exited with %s; starting it again", self._child.exitcode)
                self._stats_base = self.stats
                self.restarts += 1
                await asyncio.sleep(RESTART_DELAY_SECONDS)
                if self._stopping:
                    return
                self._spawn()
            await asyncio.sleep(self.params.interval)

    def _advance(self) -> None:
        while self._dues and self._dues[0][0] <= self.applied_seq:
            self.horizon = max(self.horizon, self._dues.popleft()[1])

    # --- events out --------------------------------------------------------------------------------

    def _committed(self, batch: Committed) -> None:
        """The writer committed a batch: queue its payloads for the child, unless it is far behind."""
        if self._stopping:
            return
        if batch.first_seq - self.applied_seq <= AHEAD_BATCHES * self.params.batch_events:
            stored_us = batch.events[0].ingested_at_us  # one commit, one time
            self._outbox.put(("batch", batch.first_seq, [e.payload for e in batch.events], stored_us))
        else:  # not sent: the child's bus sees the gap and reads these from the log
            self._outbox.put(("high_water", batch.last_seq))

    def _send(self, conn: Connection, outbox: queue.Queue[tuple[Any, ...] | None]) -> None:
        while (message := outbox.get()) is not None:
            try:
                conn.send(message)
            except (BrokenPipeError, OSError):
                return  # the child died; the supervisor starts another

    # --- the child's calls and progress --------------------------------------------------------------

    def _serve_calls(self, conn: Connection) -> None:
        while True:
            try:
                call = conn.recv()
            except (EOFError, OSError):
                return
            reply = self._carry_out(*call)
            del call  # an insert's rows are garbage once stored, not held while the next call arrives
            try:
                conn.send(reply)
            except (BrokenPipeError, OSError):
                return
            del reply

    def _carry_out(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
        try:
            if method not in STORE_CALLS:
                raise ValueError(f"no store call {method!r}")
            value = getattr(self.store, method)(*args, **kwargs)
            if method in ("command", "insert_rows", "insert_arrow"):
                value = None  # summaries the correlator does not read (and may not pickle)
            return (True, value)
        except Exception as exc:  # the child decides what a failed call means (it retries its step)
            return (False, f"{type(exc).__name__}: {exc}")

    def _read_status(self, conn: Connection) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message[0] == "progress":
                _, applied, stats, journeys = message
                self.applied_seq = max(self.applied_seq, int(applied))
                self.stats = _add(self._stats_base, CorrelatorStats(**stats))
                self.journeys_in_memory = int(journeys)
                self._advance()
                self._ready.set()


def _add(base: CorrelatorStats, current: CorrelatorStats) -> CorrelatorStats:
    merged = {}
    for f in dataclasses.fields(CorrelatorStats):
        a, b = getattr(base, f.name), getattr(current, f.name)
        merged[f.name] = b if f.name == "last_batch_events" else a + b
    return CorrelatorStats(**merged)
