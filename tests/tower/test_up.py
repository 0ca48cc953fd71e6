"""`tower up` runs the server and the dashboard as children and stops both on Ctrl-C;
`tower dashboard --api URL` runs the dashboard alone on a running server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, ServerProcess, free_port, wait_for

pytestmark = pytest.mark.slow


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(args: list[str], out: Path) -> subprocess.Popen[bytes]:
    """`python -m tower.cli ARGS` with its output in `out` (read while it runs)."""
    with out.open("wb") as sink:
        return subprocess.Popen(  # its own process group: a failed test can take down all it started
            [sys.executable, "-m", "tower.cli", *args],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def interrupt(proc: subprocess.Popen[bytes], out: Path) -> str:
    """Ctrl-C, as a terminal sends it; the output once the process has ended. One that does not end
    in time is killed with its whole group (server and dashboard), so no test leaves them running."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=90)  # the dashboard gets 10 s after SIGTERM and the server 30, then SIGKILL
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        raise
    return out.read_text()


def test_up_starts_server_and_dashboard_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    api_port, dash_port = free_port(), free_port()
    command = ["up", "--port", str(api_port), "--dashboard-port", str(dash_port), "--data-dir", str(tmp_path)]
    log = tmp_path / "up.out"
    proc = start(command, log)
    try:
        # `tower up` says where things are once both answer.
        wait_for(lambda: "Ctrl-C stops both" in log.read_text(), timeout=120, interval=0.3)
        assert answers(f"http://127.0.0.1:{api_port}/readyz")
        assert answers(f"http://127.0.0.1:{dash_port}/_stcore/health")
    finally:
        out = interrupt(proc, log)
    assert proc.returncode == 0, out
    assert f"dashboard: http://127.0.0.1:{dash_port}" in out and f"API:       http://127.0.0.1:{api_port}" in out
    assert "stopped the server and the dashboard" in out
    assert not answers(f"http://127.0.0.1:{api_port}/healthz")
    assert not answers(f"http://127.0.0.1:{dash_port}/_stcore/health")
    assert (tmp_path / "logs" / "server.log").exists() and (tmp_path / "logs" / "dashboard.log").exists()


def test_dashboard_alone_reads_the_given_api(server: ServerProcess, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dashboard.out"
    proc = start(["dashboard", "--api", server.url, "--port", str(port)], log)
    try:
        wait_for(lambda: f"reading {server.url}" in log.read_text(), timeout=120, interval=0.3)
        assert answers(f"http://127.0.0.1:{port}/_stcore/health")
    finally:
        interrupt(proc, log)
    assert proc.returncode == 0
    assert not answers(f"http://127.0.0.1:{port}/_stcore/health")


def test_up_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tower.cli", "up", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "without API keys" in done.stderr
