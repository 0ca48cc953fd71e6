"""`tower up` runs the server and the dashboard as children and stops both on Ctrl-C;
`tower dashboard --api URL` runs the dashboard alone on a running server."""

from __future__ import annotations

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


def interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return out


def test_up_starts_server_and_dashboard_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    api_port, dash_port = free_port(), free_port()
    command = ["up", "--port", str(api_port), "--dashboard-port", str(dash_port), "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tower.cli", *command],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{api_port}/readyz"), timeout=90, interval=0.3)
        wait_for(lambda: answers(f"http://127.0.0.1:{dash_port}/_stcore/health"), timeout=90, interval=0.3)
    finally:
        out = interrupt(proc)
    assert proc.returncode == 0, out
    assert f"dashboard: http://127.0.0.1:{dash_port}" in out and f"API:       http://127.0.0.1:{api_port}" in out
    assert "stopped the server and the dashboard" in out
    assert not answers(f"http://127.0.0.1:{api_port}/healthz")
    assert not answers(f"http://127.0.0.1:{dash_port}/_stcore/health")
    assert (tmp_path / "logs" / "server.log").exists() and (tmp_path / "logs" / "dashboard.log").exists()


def test_dashboard_alone_reads_the_given_api(server: ServerProcess) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tower.cli", "dashboard", "--api", server.url, "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/_stcore/health"), timeout=90, interval=0.3)
    finally:
        out = interrupt(proc)
    assert f"reading {server.url}" in out
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
