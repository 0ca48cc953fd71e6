"""Child processes of `tower dashboard`, `tower up` and `tower demo`: the API server and the dashboard.

Each runs as its own process (chDB allows one process per data directory, and the dashboard reads
only the HTTP API). `run_stack` starts both, waits until both answer their health checks, and stops
both when the block ends, whatever ended it.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


class StartError(RuntimeError):
    """A child process exited or did not become healthy in time; the message ends with its output."""


def dashboard_script() -> Path:
    """`dashboard/app.py` of the installed package, found without importing Streamlit."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.submodule_search_locations:
        raise StartError("the dashboard package is not installed; run ./dev install")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def dashboard_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """`streamlit run dashboard/app.py`, headless, without usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(dashboard_script()),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
    ]


def dashboard_env(
    api_url: str, api_key: str | None = None, tenant: str | None = None, refresh_seconds: float | None = None
) -> dict[str, str]:
    """The TOWER_DASHBOARD_* variables that tell the dashboard process where the API is."""
    env = {"TOWER_DASHBOARD_API": api_url}
    if api_key:
        env["TOWER_DASHBOARD_API_KEY"] = api_key
    if tenant:
        env["TOWER_DASHBOARD_TENANT"] = tenant
    if refresh_seconds is not None:
        env["TOWER_DASHBOARD_REFRESH_SECONDS"] = str(refresh_seconds)
    return env


def server_command(host: str, port: int, data_dir: Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "tower.cli", "serve", "--host", host, "--port", str(port)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return command


@dataclass
class Child:
    """One child process with the URL that says it is healthy; its output goes to `log` (or ours)."""

    name: str
    command: list[str]
    health_url: str
    env: Mapping[str, str] | None = None
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    stop_timeout: float = 30  # SIGTERM, then this long before SIGKILL

    def start(self) -> Child:
        out = self.log.open("ab") if self.log else None
        self.proc = subprocess.Popen(
            self.command,
            env={**os.environ, **(self.env or {})},
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )
        return self

    def wait_healthy(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with {self.proc.returncode}{self._tail()}")
            try:
                if httpx.get(self.health_url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise StartError(f"{self.name} did not answer {self.health_url} within {timeout:g} s{self._tail()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if not self.running():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            print(f"{self.name} did not stop within {self.stop_timeout:g} s of SIGTERM; killed", file=sys.stderr)
            self.proc.kill()
            self.proc.wait(10)

    def _tail(self) -> str:
        if self.log and self.log.exists():
            return f"; its log ({self.log}) ends:\n{self.log.read_text(errors='replace')[-3000:]}"
        return ""


@dataclass
class Stack:
    """A running server and dashboard."""

    api_url: str
    dashboard_url: str
    server: Child | None
    dashboard: Child

    def wait(self) -> int:
        """Block until a child exits (its exit code) or Ctrl-C (130)."""
        children = [c for c in (self.server, self.dashboard) if c is not None]
        try:
            while all(c.running() for c in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 130
        failed = next(c for c in children if not c.running())
        assert failed.proc is not None
        return failed.proc.returncode or 1


@contextmanager
def run_stack(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    dashboard_port: int = 8501,
    data_dir: Path | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    tenant: str | None = None,
    refresh_seconds: float | None = None,
    server_env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    timeout: float = 120,
) -> Iterator[Stack]:
    """Start `tower serve` (unless `api_url` names a server already running) and the dashboard on it;
    wait until both are healthy; stop both when the block ends.

    Logs go to `log_dir/server.log` and `log_dir/dashboard.log` when given, else to our own output.
    """
    server = None
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # where we reach what binds `host`
    if api_url is None:
        api_url = f"http://{local}:{port}"
        server = Child(
            "tower serve",
            server_command(host, port, data_dir),
            f"{api_url}/readyz",
            server_env,
            log_dir / "server.log" if log_dir else None,
        )
    dashboard = Child(
        "the dashboard",
        dashboard_command(dashboard_port, host),
        f"http://{local}:{dashboard_port}/_stcore/health",
        dashboard_env(api_url, api_key, tenant, refresh_seconds),
        log_dir / "dashboard.log" if log_dir else None,
        # it holds no state; Streamlit has been seen ignoring SIGTERM for over 30 s in a full test run
        stop_timeout=10,
    )
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    started: list[Child] = []
    try:
        for child in (server, dashboard):
            if child is not None:
                started.append(child.start())
        for child in started:
            child.wait_healthy(timeout)
        yield Stack(api_url, f"http://{local}:{dashboard_port}", server, dashboard)
    finally:
        for child in reversed(started):
            child.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def await_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, name: str, log: Callable[[], str]) -> bool:
    """Poll `url`/readyz until it answers 200 (True) or `timeout` passes (False); a process that
    exits meanwhile is a RuntimeError naming it, with the tail of its `log()`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


class ServerProcess:
    """`python -m tower.cli serve` on loopback; its log goes to `<data_dir>/server.log`."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:  # else the readiness check below would find someone else's server
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a restart may reuse it
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                raise RuntimeError(f"port {self.port} is already in use; choose another with --port") from None
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tower.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    f"{self.data_dir}",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if await_ready(self.proc, self.url, timeout, "the server", self.log):
            return self
        self.stop()
        raise RuntimeError(f"the server was not ready after {timeout:.0f}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the server is not started")
        return self.proc.pid

    def stop(self, timeout: float = 60) -> float:
        """SIGTERM, so the server flushes and snapshots; SIGKILL if it does not stop in time.
        Returns the seconds the shutdown took."""
        started = time.perf_counter()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return time.perf_counter() - started

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no snapshot, no flush (what the crash tests need)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
