"""Sustained overload: twice the README's HTTP ingest rate for ten minutes, reads beside it.

    python -m bench.load [--rate 41152] [--duration 600] [--batch 5000] [--clients 256]
                         [--ready 96] [--memory-ceiling-gb 5] [--data-dir DIR]

A `tower serve` subprocess (embedded chDB, default settings) on a fresh data dir; this process is
the load generator, on loopback. It offers NDJSON batches of synthetic distributor traffic
(`bench/synthetic.py`) at `--rate` events/s, open loop: a batch is due every `batch / rate`
seconds whatever the server answered, on a free connection (one is opened when none is, up to
`--clients`). It does not wait out `Retry-After` (an impatient client, the worst case); a refused
batch is offered again in a later slot, so every generated event is eventually acknowledged or
still pending at the end. The default rate is twice the README's figure (20,576 events/s × 2).

The generator must stay cheap beside a server that takes every core it can: the bodies are built
ahead in a child process (`--ready` of them waiting, so a burst of slots never waits for
`bench/synthetic.py`), and each POST is one pre-encoded request written on a raw asyncio stream
(`Lean`), its answer read by hand — no HTTP library's per-request work on the sending loop.

Beside it, for the whole run: a reader looking up identifiers of acknowledged events
(`GET /v1/lookup?q=` then `GET /v1/journeys/{id}`), and a dashboard reader cycling through the data
calls of the executive and operations pages (`/v1/journeys/summary`, `/v1/journeys?status=stuck`,
`/v1/slos`, `/v1/kpis`). The server's RSS is read from `/proc` every second, with its writer backlog
and correlator lag from `/metrics` every five.

Traffic comes in chunks of `--chunk-events` (a month of event time each, default 1M events), each
under its own tenant and seed and each the month after the one before, so event time keeps moving
and finished journeys leave the correlator's memory as in production (`TOWER_JOURNEY_HOT_DAYS`).
(Replaying the same month under every tenant would stall the correlator's watermark at that month's
end: the last days of every chunk would stay in memory, and memory would grow chunk after chunk.)

At the end the server is SIGKILLed (an acknowledged event is durable; a clean stop would wait for
the correlator's backlog), and a separate process counts `events` per tenant: rows, distinct
(source, id), against the events this run saw acknowledged. Checks (exit status 1 if one fails):
every acknowledged event stored exactly once; the server's RSS never above `--memory-ceiling-gb`;
overload answered with `429` and a `Retry-After` (never a 5xx, never a timeout).

Writes `bench/results/load.json` (parameters, machine load, throughput, shed share, latency
percentiles, the RSS series) and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import multiprocessing
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from bench import synthetic
from bench.common import REPO, Server, machine, percentile, proc_status, table, write_result

README_INGEST_RATE = 30_638  # events/s: README, "HTTP ingest, NDJSON batches of 5,000" (bench/ingest.py)
NDJSON = {"Content-Type": "application/x-ndjson"}


@dataclass
class Batch:
    tenant: str
    body: bytes
    events: int
    identifiers: list[str]
    attempts: int = 0


@dataclass
class Figures:
    offered_events: int = 0  # events in every POST sent, resends included
    offered_requests: int = 0
    missed_slots: int = 0  # slots with every connection busy
    accepted: Counter[str] = field(default_factory=Counter)  # per tenant, from the 202s
    duplicates: Counter[str] = field(default_factory=Counter)
    shed_requests: int = 0
    shed_events: int = 0
    retry_after: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    ambiguous: int = 0  # timeouts or broken connections: resent, answered as duplicates if stored
    broken: Counter[str] = field(default_factory=Counter)  # what the ambiguous ones raised
    post_latency: list[float] = field(default_factory=list)
    shed_latency: list[float] = field(default_factory=list)
    reads: dict[str, list[float]] = field(default_factory=dict)
    read_errors: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, int]] = field(default_factory=list)
    correlated: int = 0  # events the correlator has applied, from /metrics
    connections_peak: int = 0  # ingest connections busy at once, at most
    fresh_waited: int = 0  # slots that waited for the body producer
    fresh_waited_seconds: float = 0.0
    offer_seconds: float = 0.0  # how long the open loop offered (the run also waits for the last answers)
    server: list[dict[str, float]] = field(default_factory=list)


def batches(chunk_events: int, batch: int) -> Iterator[Batch]:
    """Synthetic traffic, chunk after chunk: each the next month of event time, under its own tenant and seed."""
    chunk = 0
    while True:
        tenant = f"load-{chunk}"
        lines: list[bytes] = []
        identifiers: list[str] = []
        start = synthetic.MONTH_START + timedelta(days=30 * chunk)
        for event in synthetic.events(chunk_events, seed=100 + chunk, tenant=tenant, start=start):
            lines.append(orjson.dumps(event))
            if len(lines) % 500 == 1:
                identifiers.extend(synthetic.identifiers_of(event)[:1])
            if len(lines) >= batch:
                yield Batch(tenant, b"\n".join(lines), len(lines), identifiers)
                lines, identifiers = [], []
        if lines:
            yield Batch(tenant, b"\n".join(lines), len(lines), identifiers)
        chunk += 1


def produce(chunk_events: int, batch: int, ready: Any) -> None:
    """The child process: build batches ahead and hand them over (blocks while `ready` is full)."""
    for b in batches(chunk_events, batch):
        ready.put((b.tenant, b.body, b.events, b.identifiers))


class Bodies:
    """Batches built ahead by a child process, so the sending loop never runs the generator."""

    def __init__(self, chunk_events: int, batch: int, ready: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue: Any = context.Queue(maxsize=ready)
        self.ready = ready
        self.waited = 0  # fresh batches a slot had to wait for (the producer was behind)
        self.waited_seconds = 0.0
        self.process: BaseProcess = context.Process(
            target=produce, args=(chunk_events, batch, self.queue), daemon=True, name="load-bodies"
        )
        self.process.start()

    def wait_filled(self, timeout: float) -> int:
        """Wait (before the clock starts) until the queue holds `ready` batches or `timeout` passed."""
        deadline = time.monotonic() + timeout
        while self.queue.qsize() < self.ready and time.monotonic() < deadline:
            time.sleep(0.2)
        return int(self.queue.qsize())

    async def next(self) -> Batch:
        try:
            item = self.queue.get_nowait()
        except queue.Empty:
            self.waited += 1
            started = time.perf_counter()
            item = await asyncio.get_running_loop().run_in_executor(None, self.queue.get)
            self.waited_seconds += time.perf_counter() - started
        tenant, body, events, identifiers = item
        return Batch(tenant, body, events, identifiers)

    def close(self) -> None:
        self.process.terminate()
        self.process.join(10)


class Lean:
    """HTTP/1.1 POSTs of pre-encoded NDJSON bodies on raw asyncio streams, connections opened as
    needed up to `limit` and kept alive. Per request: one write of head and body, the answer's head
    read up to its blank line and its body by Content-Length."""

    def __init__(self, url: str, limit: int, timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.limit, self.timeout = limit, timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.busy_peak = 0

    def full(self) -> bool:
        return not self.idle and self.open >= self.limit

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lower-cased) and body; raises OSError, EOFError or TimeoutError when the
        exchange broke off (the batch's fate is then unknown: it is sent again)."""
        while self.idle:  # the most recently used first; one the server closed meanwhile is dropped
            reader, writer = self.idle.pop()
            if not (reader.at_eof() or writer.is_closing()):
                break
            self.open -= 1
            writer.close()
        else:
            self.open += 1
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
            except BaseException:
                self.open -= 1
                raise
        self.busy_peak = max(self.busy_peak, self.open - len(self.idle))
        keep = False
        try:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            writer.write(head)
            writer.write(body)
            status, headers, answer = await asyncio.wait_for(self._answer(reader), self.timeout)
            # The server answers a 429 before reading the body; the connection is reused once it took
            # (and dropped) the rest. If it closed instead, the answer stands: only the connection goes.
            try:
                await asyncio.wait_for(writer.drain(), self.timeout)
                keep = headers.get("connection", "").lower() != "close"
            except (OSError, TimeoutError):
                pass
            return status, headers, answer
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise EOFError(str(exc)) from None
        finally:
            if keep:
                self.idle.append((reader, writer))
            else:
                self.open -= 1
                writer.close()

    @staticmethod
    async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        return status, headers, await reader.readexactly(length) if length else b""

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def metric_values(text: str, names: tuple[str, ...]) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in names:
            values[name] = float(value)
    return values


async def ingest(
    url: str,
    args: argparse.Namespace,
    figures: Figures,
    deadline: float,
    known: list[tuple[int, str, str]],
    bodies: Bodies,
) -> None:
    """Open loop: a batch due every batch/rate seconds, on a free connection, until the deadline."""
    refused: deque[Batch] = deque()
    interval = args.batch / args.rate
    client = Lean(url, args.clients, args.timeout)
    tasks: set[asyncio.Task[None]] = set()

    async def post(batch: Batch | None) -> None:
        if batch is None:  # a fresh one, waiting here (not in the loop) if the producer is behind
            batch = await bodies.next()
            if time.perf_counter() >= deadline:
                return  # its slot is past: never sent, so never counted nor acknowledged
        batch.attempts += 1
        figures.offered_requests += 1
        figures.offered_events += batch.events
        sent = time.perf_counter()
        try:
            status, headers, answer = await client.post("/v1/events", batch.body)
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            figures.ambiguous += 1
            figures.broken[type(exc).__name__] += 1
            refused.append(batch)
            return
        elapsed = time.perf_counter() - sent
        figures.statuses[status] += 1
        if status == 202:
            payload = orjson.loads(answer)
            figures.accepted[batch.tenant] += payload["accepted"]
            figures.duplicates[batch.tenant] += payload["duplicates"]
            figures.post_latency.append(elapsed)
            acked = sum(figures.accepted.values())  # about the seq the batch's last event got
            known.extend((acked, batch.tenant, identifier) for identifier in batch.identifiers)
        elif status == 429:
            figures.shed_requests += 1
            figures.shed_events += batch.events
            figures.shed_latency.append(elapsed)
            figures.retry_after[headers.get("retry-after", "missing")] += 1
            refused.append(batch)
        else:  # a 5xx under load is a failure of the shedding; keep the batch, say so at the end
            refused.append(batch)

    started = due = time.perf_counter()
    while due < deadline:
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        due += interval
        if client.full():
            figures.missed_slots += 1
            continue
        task = asyncio.create_task(post(refused.popleft() if refused else None))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    figures.offer_seconds = time.perf_counter() - started
    await asyncio.gather(*tasks)
    figures.connections_peak = client.busy_peak
    figures.fresh_waited = bodies.waited
    figures.fresh_waited_seconds = bodies.waited_seconds
    client.close()


async def lookups(url: str, figures: Figures, deadline: float, known: list[tuple[int, str, str]], pause: float) -> None:
    """Identifiers of events the correlator has applied (it falls far behind under this load: an
    identifier it has not reached finds nothing, which would time only the index read)."""
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        while time.perf_counter() < deadline:
            reached = bisect.bisect_right(known, (figures.correlated, "\uffff", ""))
            if not reached:
                await asyncio.sleep(0.5)
                continue
            _, tenant, q = known[rng.randrange(reached)]
            headers = {"X-Tower-Tenant": tenant}
            await timed(client, figures, "lookup", "/v1/lookup", {"q": q}, headers=headers, then_journey=True)
            await asyncio.sleep(pause)


DASHBOARD_CALLS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("summary", "/v1/journeys/summary", {"by": "stage,warehouse", "status": "stuck"}),
    ("stuck", "/v1/journeys", {"status": "stuck", "limit": "50"}),
    ("slos", "/v1/slos", {}),
    ("kpis", "/v1/kpis", {"bucket": "day"}),
)


async def dashboard(url: str, figures: Figures, deadline: float, pause: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        while time.perf_counter() < deadline:
            tenant = {"X-Tower-Tenant": "load-0"}
            for name, path, params in DASHBOARD_CALLS:
                await timed(client, figures, name, path, params, headers=tenant)
            await asyncio.sleep(pause)


async def timed(
    client: httpx.AsyncClient,
    figures: Figures,
    name: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str] | None = None,
    then_journey: bool = False,
) -> None:
    started = time.perf_counter()
    try:
        response = await client.get(path, params=params, headers=headers)
    except httpx.HTTPError as exc:
        figures.read_errors[f"{name}: {type(exc).__name__}"] += 1
        return
    if response.status_code != 200:
        figures.read_errors[f"{name}: {response.status_code}"] += 1
        return
    figures.reads.setdefault(name, []).append(time.perf_counter() - started)
    if then_journey:
        journey = next((j for m in response.json()["matches"] for j in m["journeys"]), None)
        if journey is not None:
            t = time.perf_counter()
            r = await client.get(f"/v1/journeys/{journey}", headers=headers)
            if r.status_code == 200:
                figures.reads.setdefault("journey", []).append(time.perf_counter() - t)
                figures.reads.setdefault("lookup+journey", []).append(time.perf_counter() - started)
            else:
                figures.read_errors[f"journey: {r.status_code}"] += 1


async def sample(url: str, pid: int, figures: Figures, deadline: float, started: float) -> None:
    names = (
        "tower_writer_pending_events",
        "tower_correlator_lag_events",
        "tower_events_accepted_total",
        "tower_correlator_events_total",
    )
    tick = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while time.perf_counter() < deadline:
            rss = proc_status(pid).get("VmRSS")
            if rss is not None:
                figures.rss.append((round(time.perf_counter() - started, 1), rss))
            if tick % 5 == 0:
                try:
                    values = metric_values((await client.get("/metrics")).text, names)
                    figures.server.append({"t": round(time.perf_counter() - started, 1), **values})
                    figures.correlated = int(values.get("tower_correlator_events_total", 0))
                except httpx.HTTPError:
                    pass
            tick += 1
            await asyncio.sleep(1.0)


def count_stored(data_dir: Path) -> dict[str, tuple[int, int]]:
    """Rows and distinct (source, id) per tenant, read by a separate process once the server is gone."""
    code = (
        "from tower.store import Store; "
        f"s = Store('chdb://{data_dir / 'clickhouse'}'); "
        "rows = s.query('SELECT tenant, count(), uniqExact(source, id) FROM {db}.events GROUP BY tenant'); "
        "print('\\n'.join(f'{t} {n} {k}' for t, n, k in rows))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    counts = {}
    for line in out.stdout.split("\n"):
        if line.strip():
            tenant, rows, keys = line.split()
            counts[tenant] = (int(rows), int(keys))
    return counts


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def ms(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


async def run(url: str, pid: int, args: argparse.Namespace, figures: Figures, bodies: Bodies) -> float:
    known: list[tuple[int, str, str]] = []
    started = time.perf_counter()
    deadline = started + args.duration
    loads: list[list[float]] = []

    async def watch_load() -> None:
        while time.perf_counter() < deadline:
            loads.append(load_average())
            await asyncio.sleep(30)

    await asyncio.gather(
        ingest(url, args, figures, deadline, known, bodies),
        lookups(url, figures, deadline, known, args.lookup_pause),
        dashboard(url, figures, deadline, args.dashboard_pause),
        sample(url, pid, figures, deadline, started),
        watch_load(),
    )
    args.load_averages = loads
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2 * README_INGEST_RATE, help="events/s offered")
    parser.add_argument("--duration", type=float, default=600, help="seconds of load")
    parser.add_argument("--batch", type=int, default=5_000, help="events per POST")
    parser.add_argument("--clients", type=int, default=256, help="ingest connections at most (opened as needed)")
    parser.add_argument("--ready", type=int, default=96, help="batches built ahead by the body producer")
    parser.add_argument("--timeout", type=float, default=60, help="seconds before a POST counts as ambiguous")
    parser.add_argument("--chunk-events", type=int, default=1_000_000, help="events per tenant (a month)")
    parser.add_argument("--lookup-pause", type=float, default=0.1, help="seconds between lookups")
    parser.add_argument("--dashboard-pause", type=float, default=2.0, help="seconds between dashboard rounds")
    parser.add_argument("--memory-ceiling-gb", type=float, default=5.0, help="the README's server RSS ceiling")
    parser.add_argument("--data-dir", type=Path, help="where the server keeps its store (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tower-bench-load-"))
    bodies = Bodies(args.chunk_events, args.batch, args.ready)
    server = Server(data_dir).start()
    figures = Figures()
    prebuilt = bodies.wait_filled(timeout=120)
    load_before = load_average()
    print(
        f"offering {args.rate:,.0f} events/s ({args.batch}-event batches, up to {args.clients} connections, "
        f"{prebuilt} batches built ahead) for {args.duration:.0f} s to {server.url}; load average {load_before}",
        flush=True,
    )
    try:
        seconds = asyncio.run(run(server.url, server.pid, args, figures, bodies))
        bodies.close()
        status = proc_status(server.pid)
        try:
            final = metric_values(
                httpx.get(f"{server.url}/metrics", timeout=60).text,
                ("tower_events_accepted_total", "tower_correlator_events_total", "tower_correlator_lag_events"),
            )
        except httpx.HTTPError:
            final = {}
        assert server.proc is not None
        server.proc.kill()  # acknowledged means durable: no clean stop needed, and none waited for
        server.proc.wait(60)
        stored = count_stored(data_dir)
    finally:
        bodies.close()
        server.stop()
        if args.data_dir is None and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    acked = sum(figures.accepted.values())
    tenants = sorted(set(figures.accepted) | set(stored))
    per_tenant = {
        t: {
            "acknowledged": figures.accepted.get(t, 0),
            "stored_rows": stored.get(t, (0, 0))[0],
            "stored_keys": stored.get(t, (0, 0))[1],
        }
        for t in tenants
    }
    lost = sum(max(0, v["acknowledged"] - v["stored_keys"]) for v in per_tenant.values())
    twice = sum(v["stored_rows"] - v["stored_keys"] for v in per_tenant.values())
    unacknowledged_stored = sum(max(0, v["stored_keys"] - v["acknowledged"]) for v in per_tenant.values())
    peak_rss = max((r for _, r in figures.rss), default=0)
    ceiling = int(args.memory_ceiling_gb * 1e9)
    failures = [
        name
        for name, bad in (
            ("acknowledged events missing from the store", lost > 0),
            ("events stored twice", twice > 0),
            ("server RSS above the ceiling", peak_rss > ceiling),
            ("a 5xx answered under load", any(s >= 500 for s in figures.statuses)),
            ("a 429 without Retry-After", "missing" in figures.retry_after),
            ("no request was shed (the offered rate did not overload the server)", figures.shed_requests == 0),
        )
        if bad
    ]
    result: dict[str, Any] = {
        "benchmark": "load",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine(), "load_average_before": load_before, "load_averages": args.load_averages},
        "params": {
            "rate": args.rate,
            "readme_ingest_rate": README_INGEST_RATE,
            "duration_s": args.duration,
            "batch": args.batch,
            "clients": args.clients,
            "ready": args.ready,
            "chunk_events": args.chunk_events,
            "memory_ceiling_bytes": ceiling,
        },
        "seconds": round(seconds, 1),
        "offered_events_per_s": round(figures.offered_events / max(figures.offer_seconds, 1e-9)),
        "offer_seconds": round(figures.offer_seconds, 1),
        "accepted_events_per_s": round(acked / seconds),
        "offered_requests": figures.offered_requests,
        "missed_slots": figures.missed_slots,
        "connections_peak": figures.connections_peak,
        "slots_waiting_for_a_body": figures.fresh_waited,
        "seconds_waited_for_bodies": round(figures.fresh_waited_seconds, 1),
        "statuses": {str(k): v for k, v in sorted(figures.statuses.items())},
        "shed_requests": figures.shed_requests,
        "shed_share": round(figures.shed_requests / max(1, figures.offered_requests), 3),
        "retry_after": dict(figures.retry_after),
        "ambiguous_requests": figures.ambiguous,
        "ambiguous_by_error": dict(figures.broken),
        "post_202_latency": ms(figures.post_latency),
        "post_429_latency": ms(figures.shed_latency),
        "reads": {name: ms(values) for name, values in sorted(figures.reads.items())},
        "read_errors": dict(figures.read_errors),
        "acknowledged": acked,
        "duplicates_answered": sum(figures.duplicates.values()),
        "stored": {"lost": lost, "stored_twice": twice, "stored_unacknowledged": unacknowledged_stored},
        "per_tenant": per_tenant,
        "server_final": final,
        "server_peak_rss_bytes": peak_rss,
        "server_vmhwm_bytes": status.get("VmHWM"),
        "server_cpu_seconds": status.get("cpu_seconds"),
        "rss_series": figures.rss,
        "server_series": figures.server,
        "failures": failures,
    }
    path = write_result("load", result)

    rows: list[tuple[str, ...]] = [("read", "n", "p50 ms", "p99 ms", "max ms")]
    for name, f in result["reads"].items():
        rows.append((name, str(f["n"]), str(f.get("p50_ms", "")), str(f.get("p99_ms", "")), str(f.get("max_ms", ""))))
    print()
    print(
        f"offered {result['offered_events_per_s']:,} events/s over {figures.offer_seconds:.0f} s, acknowledged "
        f"{result['accepted_events_per_s']:,} "
        f"events/s ({acked:,} in {seconds:.0f} s); {figures.shed_requests} of {figures.offered_requests} "
        f"requests shed with 429 (Retry-After {dict(figures.retry_after)}); statuses {result['statuses']}; "
        f"{figures.missed_slots} slots missed (all connections busy); {figures.connections_peak} connections "
        f"busy at most; {figures.fresh_waited} slots waited {figures.fresh_waited_seconds:.1f} s in all for a body; "
        f"{figures.ambiguous} broke off ({dict(figures.broken)})"
    )
    print(f"POST 202 latency {result['post_202_latency']}, 429 latency {result['post_429_latency']}")
    print(table(rows))
    print(f"read errors: {dict(figures.read_errors) or 'none'}")
    print(
        f"server RSS peak {peak_rss / 1e9:.2f} GB (ceiling {args.memory_ceiling_gb} GB); "
        f"stored: {lost} acknowledged missing, {twice} stored twice, {unacknowledged_stored} stored unacknowledged"
    )
    print(f"correlator at the end: {final}")
    print(f"wrote {path.relative_to(REPO)}")
    if failures:
        print("FAILED: " + "; ".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
