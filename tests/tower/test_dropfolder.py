"""`tower watch`: a drop folder sends settled files and moves them aside by outcome."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO, ServerProcess
from tests.support.ocel import FIXTURES
from tower.dropfolder import DropFolder


@dataclass
class FakeReply:
    status_code: int
    text: str = ""


def test_files_move_by_outcome_and_busy_ones_wait(tmp_path: Path) -> None:
    replies = {b"good": FakeReply(202), b"bad": FakeReply(400, "SE01 wrong"), b"busy": FakeReply(429)}
    for name in ("good", "bad", "busy"):
        (tmp_path / f"{name}.edi").write_bytes(name.encode())
    drop = DropFolder(tmp_path, lambda body: replies[body])
    assert list(drop.sweep()) == []  # first look: sizes noted, nothing sent until they settle
    lines = list(drop.sweep())
    assert lines == [
        "bad.edi: refused (400) → failed/",
        "busy.edi: server busy (429); will retry",
        "good.edi: accepted → done/",
    ]
    assert (tmp_path / "done/good.edi").exists()
    assert (tmp_path / "failed/bad.edi.reason").read_text() == "400 SE01 wrong\n"
    assert (tmp_path / "busy.edi").exists()


def test_tower_watch_once_against_a_server(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "po.edi").write_bytes((FIXTURES / "edi_x12/node-x12/850.edi").read_bytes())
    args = [
        sys.executable,
        "-m",
        "tower.cli",
        "watch",
        str(tmp_path),
        "--adapter",
        "x12",
        "--url",
        server.url,
        "--tenant",
        "watch-test",
        "--once",
    ]
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "po.edi: accepted → done/\n"
    assert (tmp_path / "done/po.edi").exists()
