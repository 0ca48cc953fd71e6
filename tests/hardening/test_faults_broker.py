"""The Kafka broker stopped mid-stream, then back: the collector refuses with 503 and a reason while
the broker cannot acknowledge, /readyz says so, and every event acknowledged is stored once.

`tower serve` runs the collector, the writer and the correlator on one embedded store (chDB allows
one process per store) with Tansu between them. Two ways a broker stops:

- *restarted*: SIGKILL, down for `TOWER_DRILL_BROKER_DOWN_S` seconds (30 unless set), started
  again on the same port. Tansu keeps its log in memory, so it comes back empty: no topics, no
  committed offsets, offsets from 0 again. Events it had acknowledged and the writer had not yet
  stored are gone with it (a property of an in-memory broker; a Kafka with disks keeps them); the
  drill counts them and checks they are only the last ones acknowledged before the kill.
- *paused*: SIGSTOP for the same time, then SIGCONT: a hung broker that keeps its log. Nothing
  acknowledged may be lost.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from collector.produce import PROBE_TIMEOUT_S
from tests.conftest import ServerProcess, correlated, wait_for
from tests.hardening.drills import Readiness, Stream, figures, stored_keys
from tests.support.tansu import Tansu

pytestmark = pytest.mark.slow

DOWN_S = float(os.environ.get("TOWER_DRILL_BROKER_DOWN_S", "30"))
# The longest a request may wait once the broker is gone: the probe's timeout (a hung broker), a
# second between probes, and slack for a loaded machine. A dead broker is found in about a second.
GONE_S = PROBE_TIMEOUT_S + 4


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Tansu]:
    tansu = Tansu(tmp_path / "tansu.log").start()
    yield tansu
    tansu.kill()


def kafka_server(start_server: Callable[..., ServerProcess], broker: Tansu, data_dir: Path) -> ServerProcess:
    return start_server(
        data_dir,
        env={
            "TOWER_KAFKA_BOOTSTRAP": broker.bootstrap,
            "TOWER_KAFKA_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
            "TOWER_KAFKA_PARTITIONS": "4",
            "TOWER_KAFKA_IDEMPOTENCE": "false",
            "TOWER_SLO_ENGINE": "false",
        },
    )


def drill(
    start_server: Callable[..., ServerProcess], broker: Tansu, tmp_path: Path, restart: bool
) -> tuple[Stream, Readiness, float, float, ServerProcess]:
    """Stream, stop the broker for DOWN_S, bring it back, stream on; return what was seen and when."""
    server = kafka_server(start_server, broker, tmp_path / "store")
    stream = Stream(server.url).start()
    ready = Readiness(server.url).start()
    wait_for(lambda: len(stream.acked) >= 3_000, timeout=60)
    stopped = time.monotonic()
    if restart:
        broker.kill()
    else:
        broker.pause()
    time.sleep(DOWN_S)
    if restart:
        broker.proc = Tansu(broker.log_path, port=broker.port).start().proc  # the fixture stops this one
    else:
        broker.resume()
    back = time.monotonic()
    acked_at_return = len(stream.acked)
    wait_for(lambda: len(stream.acked) >= acked_at_return + 3_000, timeout=90)
    stream.stop()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        # The writer's lag counts from the high-water marks it has fetched: after a broker restarted
        # empty it can read 0 before the writer has fetched the new log, so it must hold a while.
        settled: list[int] = []

        def done() -> bool:
            stored = client.get("/readyz").json()["checks"]["kafka_writer"]["stored"]
            settled[:] = [*settled[-9:], stored] if correlated(client) else []
            return len(settled) == 10 and settled[0] == stored

        try:
            wait_for(done, timeout=120, interval=0.2)
        except AssertionError:
            raise AssertionError(f"not correlated: {client.get('/readyz').json()}") from None
    ready.stop()
    return stream, ready, stopped, back, server


def check_refusals(stream: Stream, ready: Readiness, stopped: float, back: float) -> None:
    # While the broker is away: 503 naming the broker, with Retry-After, and no request held for
    # long: the ones in flight wait until the probe finds the broker gone, the rest are refused at once.
    refused = [a for a in stream.answers if stopped <= a.at <= back and a.status == 503]
    assert refused, stream.statuses(stopped, back)
    assert all(a.code == "broker_unavailable" and "Kafka broker" in a.message for a in refused), refused[:3]
    assert all(a.retry_after is not None and int(a.retry_after) >= 1 for a in refused)
    assert max(a.seconds for a in stream.answers if stopped <= a.at <= back) < GONE_S
    first_refusal = min(a.at + a.seconds for a in refused)
    assert first_refusal - stopped < GONE_S
    assert stream.statuses(first_refusal, back)[202] == 0
    # /readyz: ready before, not ready (naming the broker) within a few seconds of the stop and for
    # the rest of the outage, ready again after the broker is back.
    before = ready.between(0, stopped)
    assert before and all(status == 200 for _, status, _ in before[-4:])
    during = ready.between(first_refusal + 0.5, back)
    assert during and all(status == 503 and "Kafka broker" in failure for _, status, failure in during), during[:3]
    assert ready.samples[-1][1] == 200


def test_broker_restarted_empty_mid_stream(
    start_server: Callable[..., ServerProcess], broker: Tansu, tmp_path: Path
) -> None:
    stream, ready, stopped, back, server = drill(start_server, broker, tmp_path, restart=True)
    figures(f"broker restarted after {DOWN_S:g}s", stream, ready, stopped, back)
    check_refusals(stream, ready, stopped, back)
    server.stop()
    counts, journeys = stored_keys(tmp_path / "store")
    assert max(counts.values()) == 1, "an event stored twice"
    lost = sorted(n for n in stream.acked if n not in counts)
    # Lost: only events the broker acknowledged in the moments before it died, which the writer
    # had not stored yet; everything acknowledged after the restart is stored.
    assert all(stream.acked[n] > stopped - 10 for n in lost), lost[:5]
    missing_after = sorted(n for n, at in stream.acked.items() if at > back and n not in counts)
    assert missing_after == [], (missing_after[:5], [stream.acked[n] - back for n in missing_after[:5]])
    assert journeys == len(counts), "every stored order is one journey, none lost or doubled"
    print(f"broker restarted after {DOWN_S:g}s: {len(stream.acked)} acknowledged, {len(lost)} lost with the broker")


def test_broker_paused_mid_stream_loses_nothing(
    start_server: Callable[..., ServerProcess], broker: Tansu, tmp_path: Path
) -> None:
    stream, ready, stopped, back, server = drill(start_server, broker, tmp_path, restart=False)
    figures(f"broker paused {DOWN_S:g}s", stream, ready, stopped, back)
    check_refusals(stream, ready, stopped, back)
    server.stop()
    counts, journeys = stored_keys(tmp_path / "store")
    assert max(counts.values()) == 1, "an event stored twice"
    assert [n for n in stream.acked if n not in counts] == [], "an acknowledged event is missing"
    assert journeys == len(counts)
