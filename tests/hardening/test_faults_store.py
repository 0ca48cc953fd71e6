"""The store unavailable mid-stream: its disk full. Embedded mode, where the `202` waits for the
insert into chDB: while inserts fail the collector answers `503 store_unavailable` with ClickHouse's
own reason and `Retry-After`, /readyz is not ready and names the failure, nothing is acknowledged
that was not stored, nothing is stored twice, and both recover once space is freed.

The fault is real, not a mock: the chDB data lives on a small tmpfs of its own
(`TOWER_CLICKHOUSE_DSN=chdb:///…`), and the drill fills it with a file, then deletes the file.
Mounting needs root (CAP_SYS_ADMIN), as CI and the development machine have.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, correlated, wait_for
from tests.hardening.drills import Readiness, Stream, figures, stored_keys

pytestmark = pytest.mark.slow

FULL_S = 10.0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it."""
    filler = disk / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        chunk = b"\0" * (1 << 20)
        while True:
            f.write(chunk)
            f.flush()
    return filler


def test_disk_full_answers_503_and_recovers_without_loss(
    start_server: Callable[..., ServerProcess], small_disk: Path, tmp_path: Path
) -> None:
    dsn_dir = small_disk / "clickhouse"
    server = start_server(
        tmp_path / "data",
        env={"TOWER_CLICKHOUSE_DSN": f"chdb://{dsn_dir}", "TOWER_SLO_ENGINE": "false"},
    )
    stream = Stream(server.url).start()
    ready = Readiness(server.url).start()
    wait_for(lambda: len(stream.acked) >= 3_000, timeout=60)
    filled = time.monotonic()
    filler = fill(small_disk)
    time.sleep(FULL_S)
    freed = time.monotonic()
    filler.unlink()
    at_free = len(stream.acked)
    wait_for(lambda: len(stream.acked) >= at_free + 3_000, timeout=90)
    stream.stop()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        wait_for(lambda: correlated(client), timeout=120, interval=0.2)
    ready.stop()
    server.stop()
    figures(f"disk full {FULL_S:g}s", stream, ready, filled, freed)

    # While full: 503 with the store's reason and Retry-After, and no 202 once the disk is full.
    refused = [a for a in stream.answers if filled <= a.at <= freed and a.status == 503]
    assert refused, stream.statuses(filled, freed)
    assert all(a.code == "store_unavailable" and "not enough space" in a.message for a in refused), refused[:2]
    assert all(a.retry_after is not None and int(a.retry_after) >= 1 for a in refused)
    first_refusal = min(a.at + a.seconds for a in refused)
    assert stream.statuses(first_refusal, freed)[202] == 0
    assert set(stream.statuses()) <= {202, 503}
    # /readyz: not ready from the first failed insert until the disk has room again, naming why;
    # ready again after.
    during = ready.between(first_refusal + 0.5, freed)
    assert during and all(status == 503 and "not enough space" in failure for _, status, failure in during), during[:3]
    assert ready.samples[-1][1] == 200
    # Nothing acknowledged lost, nothing stored twice, one journey per order.
    counts, journeys = stored_keys(tmp_path / "data", store_dir=dsn_dir)
    assert [n for n in stream.acked if n not in counts] == [], "an acknowledged event is missing"
    assert max(counts.values()) == 1, "an event stored twice"
    assert journeys == len(counts)
