"""Shared fixtures: a real `tower serve` process on a free loopback port, on a fresh chDB store.

Tests isolate themselves by tenant (every query is tenant-scoped), so one server serves the
session; tests that kill or restart a server start their own with `start_server`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import tower.processes
from tower.processes import free_port

__all__ = ["REPO", "ServerProcess", "free_port"]

REPO = Path(__file__).resolve().parents[1]


class ServerProcess(tower.processes.ServerProcess):
    """`python -m tower.cli serve` in a subprocess, logging at INFO to `data_dir/server.log`."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        super().__init__(data_dir, {"TOWER_LOG_LEVEL": "INFO", **(env or {})}, port)

    def start(self, timeout: float = 60) -> ServerProcess:
        super().start(timeout)
        return self


class Servers:
    """Servers started for one fixture scope, stopped when that scope ends.

    Every server holds a chDB store and a correlator process: kept to the end of the session, the
    servers of earlier tests would crowd the machine under the later ones."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.started: list[ServerProcess] = []

    def start(
        self, data_dir: Path | None = None, env: dict[str, str] | None = None, port: int | None = None
    ) -> ServerProcess:
        server = ServerProcess(data_dir or self.tmp_path_factory.mktemp("tower"), env, port).start()
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServerProcess]]:
    """Start a server of this test's own; it stops when the test ends."""
    servers = Servers(tmp_path_factory)
    yield servers.start
    servers.stop_all()


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServerProcess]]:
    """Start a server the tests of one module share; it stops when the module's last test ends."""
    servers = Servers(tmp_path_factory)
    yield servers.start
    servers.stop_all()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    servers = Servers(tmp_path_factory)
    yield servers.start()
    servers.stop_all()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(server: ServerProcess, tenant: str) -> Iterator[httpx.Client]:
    """An HTTP client on the session server, scoped to a tenant of this test's own."""
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": tenant}, timeout=60) as client:
        yield client


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def post_events(client: httpx.Client, events: list[dict[str, Any]], batch: int = 2_000) -> dict[str, int]:
    """Post events as NDJSON batches; return summed accepted and duplicates. Fails on any non-202."""
    import orjson

    totals = {"accepted": 0, "duplicates": 0}
    for start in range(0, len(events), batch):
        body = b"\n".join(orjson.dumps(e) for e in events[start : start + batch])
        response = client.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
        assert response.status_code == 202, response.text
        payload = response.json()
        assert payload["rejected"] == [], payload["rejected"][:3]
        totals["accepted"] += payload["accepted"]
        totals["duplicates"] += payload["duplicates"]
    return totals


def correlated(client: httpx.Client) -> bool:
    """True once the correlator has applied every event the writer committed, and, under Kafka, the
    writer has stored every event its broker holds."""
    checks = client.get("/readyz").json()["checks"]
    writer_done = checks.get("kafka_writer", {}).get("lag_events", 0) == 0
    return writer_done and checks["correlator"]["lag_events"] == 0
