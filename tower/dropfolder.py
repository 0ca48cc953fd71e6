"""A drop folder: files that appear are sent somewhere, then moved aside by outcome.

Files are taken once they have stopped growing (same size on two looks), so a partner's upload
in progress is not sent half-written. `done/` holds what was accepted, `failed/` what was refused,
each refused file with `<name>.reason` beside it; a file that could not be sent (the server is
down, 429, 5xx) stays where it is and is tried again on the next sweep.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol


class Reply(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...


class DropFolder:
    def __init__(self, folder: Path, send: Callable[[bytes], Reply]) -> None:
        self.folder = folder
        self.send = send
        self.done = folder / "done"
        self.failed = folder / "failed"
        for path in (self.done, self.failed):
            path.mkdir(parents=True, exist_ok=True)
        self._sizes: dict[Path, int] = {}

    def sweep(self) -> Iterator[str]:
        """Handle every settled file now in the folder; yield one line per file handled."""
        for path in sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            size = path.stat().st_size
            if self._sizes.get(path) != size:
                self._sizes[path] = size  # still arriving, or first seen: look again next sweep
                continue
            del self._sizes[path]
            try:
                reply = self.send(path.read_bytes())
            except Exception as exc:  # the transport failed: keep the file, try again next sweep
                yield f"{path.name}: not sent ({exc}); will retry"
                continue
            if reply.status_code == 202:
                shutil.move(str(path), self.done / path.name)
                yield f"{path.name}: accepted → done/"
            elif reply.status_code == 429 or reply.status_code >= 500:
                yield f"{path.name}: server busy ({reply.status_code}); will retry"
            else:
                shutil.move(str(path), self.failed / path.name)
                (self.failed / f"{path.name}.reason").write_text(f"{reply.status_code} {reply.text}\n")
                yield f"{path.name}: refused ({reply.status_code}) → failed/"
