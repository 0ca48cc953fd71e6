"""What the benchmarks share: a `tower serve` subprocess, a concurrent NDJSON poster, RSS and percentiles.

Nothing here imports the store (chDB): the load generator must not open a ClickHouse engine of its
own, so the benchmark processes stay light and the server owns its data directory alone.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tower import compiled
from tower.processes import ServerProcess, free_port

__all__ = ["Server", "free_port"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
META = "bench-meta.json"  # written into a data dir the benchmarks loaded: how many events, which seed


class Server(ServerProcess):
    """`python -m tower.cli serve` on a free loopback port, logging at WARNING to `data_dir/server.log`."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, {"TOWER_LOG_LEVEL": "WARNING", **(env or {})})

    def start(self, timeout: float = 120) -> Server:
        super().start(timeout)
        return self

    def stop(self, timeout: float = 300) -> float:
        """SIGTERM and wait (the correlator snapshots on a clean shutdown); return the seconds it took."""
        return super().stop(timeout)


def descendants(pid: int) -> list[int]:
    """The process and every process below it (the server's correlator process among them)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS in bytes, and CPU seconds (user+system), from /proc, summed over the
    process and its children (the correlator runs in one): the sum of peaks bounds the joint peak.
    `own_VmHWM` is the process's own peak, without its children."""
    out: dict[str, int] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("VmHWM", "VmRSS"):
                    out[name] = out.get(name, 0) + int(value.split()[0]) * 1024
                    if name == "VmHWM" and p == pid:
                        out["own_VmHWM"] = int(value.split()[0]) * 1024
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
            out["cpu_seconds"] = round(out.get("cpu_seconds", 0) + cpu, 2)  # type: ignore[assignment]
        except (OSError, ValueError, IndexError):
            continue
    return out


def metrics(url: str) -> dict[str, float]:
    """The server's Prometheus counters as {name: value}."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                continue
    return values


def readyz(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/readyz", timeout=30).json()


def wait_correlated(url: str, expected_seq: int, timeout: float = 3600, interval: float = 0.05) -> float:
    """Block until the correlator has applied every committed event up to `expected_seq`; return that instant."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checks = readyz(url)["checks"]
        correlator = checks["correlator"]
        if correlator["lag_events"] == 0 and correlator["applied_seq"] >= expected_seq:
            return time.perf_counter()
        time.sleep(interval)
    raise TimeoutError(f"correlator still behind after {timeout}s: {readyz(url)['checks']}")


def wait_first_evaluation(url: str, timeout: float = 600, interval: float = 0.5) -> float:
    """Block until the SLO engine has finished its first evaluation (a one-off that reads every SLO over
    its whole window: seconds of both cores at 10M events), or at once if it does not run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = metrics(url)
        if values.get("tower_slo_evaluations_total", 1) >= 1:
            return time.perf_counter()
        time.sleep(interval)
    raise TimeoutError(f"the SLO engine's first evaluation did not finish in {timeout}s")


@dataclass
class PostStats:
    started: float = 0.0
    finished: float = 0.0
    requests: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries_429: int = 0
    transport_retries: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.finished - self.started


async def _post_all(url: str, bodies: list[bytes], clients: int, headers: dict[str, str]) -> PostStats:
    stats = PostStats()
    next_body = iter(range(len(bodies)))
    headers = {"Content-Type": "application/x-ndjson", **headers}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient) -> None:
        for i in next_body:  # one shared iterator: each body is posted once, by whichever client is free
            while True:
                sent = time.perf_counter()
                try:
                    response = await client.post("/v1/events", content=bodies[i], headers=headers)
                except httpx.TransportError:
                    # the connection dropped (a body may or may not have landed): send it again, the
                    # server deduplicates on (source, id)
                    stats.transport_retries += 1
                    if stats.transport_retries > 100:
                        raise
                    await asyncio.sleep(0.5)
                    continue
                if response.status_code == 429:
                    stats.retries_429 += 1
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status_code != 202:
                    raise RuntimeError(f"POST /v1/events answered {response.status_code}: {response.text[:500]}")
                stats.latencies.append(time.perf_counter() - sent)
                payload = response.json()
                stats.requests += 1
                stats.accepted += payload["accepted"]
                stats.duplicates += payload["duplicates"]
                stats.rejected += len(payload["rejected"])
                break

    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        stats.started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        stats.finished = time.perf_counter()
    return stats


def post_all(url: str, bodies: list[bytes], clients: int = 4, headers: dict[str, str] | None = None) -> PostStats:
    """Post every body (NDJSON) with `clients` concurrent connections; 429s are retried after Retry-After."""
    return asyncio.run(_post_all(url, bodies, clients, headers or {}))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        # the compiled speedups, as decided in this process (a server it starts decides the same)
        "compiled": compiled.STATUS.compiled,
        "compiled_reason": compiled.STATUS.reason,
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    return path


def table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def mb(n_bytes: float | None) -> str:
    return "n/a" if n_bytes is None else f"{n_bytes / 1e6:,.0f} MB"
