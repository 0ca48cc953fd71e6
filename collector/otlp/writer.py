"""Group commit for telemetry rows: concurrent OTLP requests' rows go into one insert per table.

A request calls `submit` with its Arrow tables; the writer gathers what is pending for at most
`max_delay` (or until `max_rows`), inserts each table's rows with one `insert_arrow`, and only then
resolves the requests: a 2xx to an exporter means its spans are stored. Past `pending_max` rows
waiting, `submit` raises `Backpressure` (the edge answers 429 with Retry-After, which OTLP
exporters honour).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import pyarrow as pa

from collector.writer import Backpressure
from tower.store import Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Request:
    tables: dict[str, pa.Table]
    rows: int
    future: asyncio.Future[None]


@dataclass
class TelemetryStats:
    batches: int = 0
    rows: int = 0
    write_seconds: float = 0.0
    last_write_seconds: float = 0.0
    last_batch_rows: int = 0
    by_table: dict[str, int] = field(default_factory=dict)


class TelemetryWriter:
    def __init__(
        self, store: Store, max_rows: int = 50_000, max_delay: float = 0.005, pending_max: int = 500_000
    ) -> None:
        self.store = store
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.pending_max = pending_max
        self.stats = TelemetryStats()
        self._queue: list[_Request] = []
        self._pending = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pending(self) -> int:
        return self._pending

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telemetry-writer")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task:
            await self._task

    async def submit(self, tables: dict[str, pa.Table]) -> None:
        """Return once every row of `tables` (table name → rows) is stored."""
        rows = sum(t.num_rows for t in tables.values())
        if not rows:
            return
        if self._closing:
            raise Backpressure(1)
        if self._pending + rows > self.pending_max and self._pending > 0:
            per_row = self.stats.last_write_seconds / max(1, self.stats.last_batch_rows)
            raise Backpressure(max(1, round(per_row * self._pending)))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(tables, rows, future))
        self._pending += rows
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            if self._pending < self.max_rows and not self._closing:
                await asyncio.sleep(self.max_delay)
            batch: list[_Request] = []
            taken = 0
            while self._queue and (not batch or taken + self._queue[0].rows <= self.max_rows):
                request = self._queue.pop(0)
                batch.append(request)
                taken += request.rows
            try:
                await asyncio.to_thread(self._commit, batch)
            except Exception as exc:
                log.exception("writing %d telemetry rows failed", taken)
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
            else:
                for request in batch:
                    if not request.future.done():
                        request.future.set_result(None)
            finally:
                self._pending -= taken

    def _commit(self, batch: list[_Request]) -> None:
        """One insert per table, in the order the requests named them (spans before their links)."""
        started = time.perf_counter()
        names: dict[str, list[pa.Table]] = {}
        for request in batch:
            for name, table in request.tables.items():
                if table.num_rows:
                    names.setdefault(name, []).append(table)
        for name, tables in names.items():
            self.store.insert_arrow(name, pa.concat_tables(tables), role="telemetry")
            self.stats.by_table[name] = self.stats.by_table.get(name, 0) + sum(t.num_rows for t in tables)
        elapsed = time.perf_counter() - started
        rows = sum(r.rows for r in batch)
        self.stats.batches += 1
        self.stats.rows += rows
        self.stats.write_seconds += elapsed
        self.stats.last_write_seconds = elapsed
        self.stats.last_batch_rows = rows
