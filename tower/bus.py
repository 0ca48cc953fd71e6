"""The in-process bus between the collector's writer and the correlator.

The event log in ClickHouse is the source of truth: every accepted event has a `seq`, and the
correlator keeps a checkpoint of the last seq it has applied. The bus only saves the correlator a
read: the writer publishes each committed batch (seq range and the events themselves), and the
correlator takes them from memory when they continue its checkpoint. The bus is bounded: when the
correlator falls behind, the oldest batches are dropped and it reads them back from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tower.events import Event


@dataclass(slots=True)
class Committed:
    """A batch the writer made durable: events with seqs first_seq … first_seq+len-1."""

    first_seq: int
    events: list[Event]

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.events) - 1


class InProcessBus:
    def __init__(self, max_events: int = 200_000) -> None:
        self._batches: deque[Committed] = deque()
        self._held = 0
        self._max = max_events
        self.high_water = 0  # highest seq known to be committed
        self._wake = asyncio.Event()
        # called with every committed batch (a correlator in another process forwards them)
        self.subscribers: list[Callable[[Committed], None]] = []

    def publish(self, batch: Committed) -> None:
        for subscriber in self.subscribers:
            subscriber(batch)
        if batch.events:
            self._batches.append(batch)
            self._held += len(batch.events)
            self.high_water = max(self.high_water, batch.last_seq)
            while self._held > self._max and self._batches:
                self._held -= len(self._batches.popleft().events)
        self._wake.set()

    def take(self, after_seq: int, limit: int) -> list[Committed]:
        """Batches continuing `after_seq` held in memory, up to about `limit` events; [] if there is a gap."""
        while self._batches and self._batches[0].last_seq <= after_seq:
            self._held -= len(self._batches.popleft().events)
        out: list[Committed] = []
        expected = after_seq + 1
        taken = 0
        for batch in self._batches:
            if batch.first_seq != expected or (out and taken + len(batch.events) > limit):
                break
            out.append(batch)
            taken += len(batch.events)
            expected = batch.last_seq + 1
        return out

    def wake(self) -> None:
        self._wake.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
