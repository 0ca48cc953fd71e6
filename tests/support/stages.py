"""A tower stage (`tower serve`, `tower writer`, `tower correlator`) run as its own process, as an
operator runs it: its own port, data dir and log, ready once `/readyz` says so; killed with
SIGKILL (no shutdown, no commit, no snapshot) or stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, free_port
from tower.processes import await_ready


class StageProcess:
    """`python -m tower.cli <command>` (writer, correlator, serve) with its own port and data dir."""

    def __init__(self, command: str, data_dir: Path, env: dict[str, str]) -> None:
        self.command = command
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {**os.environ, "TOWER_LOG_LEVEL": "INFO", **env, "TOWER_DATA_DIR": str(data_dir)}
        self.env["TOWER_PORT"] = str(self.port)
        self.log_path = data_dir.parent / f"{command}-{data_dir.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> StageProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "tower.cli", self.command]
        if self.command == "serve":
            args += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(
            args, cwd=REPO, env=self.env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT
        )
        if await_ready(self.proc, self.url, timeout, f"tower {self.command}", self.log):
            return self
        self.kill()
        raise RuntimeError(f"{self.command} not ready in {timeout}s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def checks(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/readyz", timeout=10).json()["checks"])

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no snapshot."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.kill()
