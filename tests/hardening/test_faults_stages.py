"""The writer, and the writer with the correlator, SIGKILLed mid-stream and restarted: with Kafka
between the stages the collector keeps acknowledging (the broker holds what no stage has stored),
/readyz of each process tells whether it runs, and every acknowledged event ends up stored once and
in exactly one journey.

Layout: a collector alone (`tower serve`, `TOWER_KAFKA_STAGES=` empty: it never opens the store)
and, on the store, either `tower writer` or a `tower serve` running the writer and the correlator
(chDB allows one process per store, so on an embedded store the correlator shares the writer's
process; on a ClickHouse server each runs alone and is killed alone the same way).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for
from tests.hardening.drills import Readiness, Stream, figures, stored_keys
from tests.support.stages import StageProcess
from tests.support.tansu import Tansu

pytestmark = pytest.mark.slow

DOWN_S = 5.0


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    broker = Tansu(tmp_path / "tansu.log").start()
    yield {
        "TOWER_KAFKA_BOOTSTRAP": broker.bootstrap,
        "TOWER_KAFKA_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
        "TOWER_KAFKA_PARTITIONS": "4",
        "TOWER_KAFKA_IDEMPOTENCE": "false",
        "TOWER_SLO_ENGINE": "false",
    }
    broker.stop()


def collector(tmp_path: Path, env: dict[str, str]) -> StageProcess:
    return StageProcess("serve", tmp_path / "collector", {**env, "TOWER_KAFKA_STAGES": ""}).start()


def drill(collector_: StageProcess, stage: StageProcess) -> tuple[Stream, Readiness, Readiness, float, float]:
    """Stream into the collector, SIGKILL the stage, restart it after DOWN_S, stream on."""
    stream = Stream(collector_.url).start()
    collector_ready = Readiness(collector_.url).start()
    stage_ready = Readiness(stage.url).start()
    wait_for(lambda: len(stream.acked) >= 3_000, timeout=60)
    killed = time.monotonic()
    stage.kill()
    time.sleep(DOWN_S)
    back = time.monotonic()
    stage.start()
    stage_ready.url = stage.url
    at_restart = len(stream.acked)
    wait_for(lambda: len(stream.acked) >= at_restart + 3_000, timeout=90)
    stream.stop()
    collector_ready.stop()
    return stream, collector_ready, stage_ready, killed, back


def check_collector_kept_acknowledging(stream: Stream, ready: Readiness, killed: float, back: float) -> None:
    # The broker holds what no stage stored: the collector refuses nothing and stays ready.
    assert stream.statuses(killed, back)[202] > 0, stream.statuses(killed, back)
    assert set(stream.statuses()) == {202}, stream.statuses()
    assert {status for _, status, _ in ready.samples} == {200}


def test_writer_killed_and_restarted_mid_stream(tmp_path: Path, env: dict[str, str]) -> None:
    front = collector(tmp_path, env)
    writer = StageProcess("writer", tmp_path / "store", {**env, "TOWER_COMMIT_MAX_EVENTS": "500"}).start()
    try:
        stream, collector_ready, writer_ready, killed, back = drill(front, writer)
        figures("writer killed (collector's view)", stream, collector_ready, killed, back)
        check_collector_kept_acknowledging(stream, collector_ready, killed, back)
        wait_for(lambda: writer.checks()["kafka_writer"]["lag_events"] == 0, timeout=120, interval=0.2)
        writer_ready.stop()
        # The writer's /readyz: answering before the kill, not answering while dead, ready after.
        down = writer_ready.between(killed + 0.5, back)
        assert down and all(status != 200 for _, status, _ in down)
        assert writer_ready.samples[-1][1] == 200
    finally:
        writer.stop()
        front.stop()
    counts, _ = stored_keys(tmp_path / "store")
    assert [n for n in stream.acked if n not in counts] == [], "an acknowledged event is missing"
    assert max(counts.values()) == 1, "an event stored twice"


def test_writer_and_correlator_killed_and_restarted_mid_stream(tmp_path: Path, env: dict[str, str]) -> None:
    front = collector(tmp_path, env)
    pipeline = StageProcess("serve", tmp_path / "store", {**env, "TOWER_KAFKA_STAGES": "writer,correlator"}).start()
    try:
        stream, collector_ready, pipeline_ready, killed, back = drill(front, pipeline)
        figures("writer and correlator killed (collector's view)", stream, collector_ready, killed, back)
        check_collector_kept_acknowledging(stream, collector_ready, killed, back)

        def caught_up() -> bool:
            checks = pipeline.checks()
            return bool(checks["kafka_writer"]["lag_events"] == 0 and checks["correlator"]["lag_events"] == 0)

        wait_for(caught_up, timeout=180, interval=0.2)
        pipeline_ready.stop()
        down = pipeline_ready.between(killed + 0.5, back)
        assert down and all(status != 200 for _, status, _ in down)
        assert pipeline_ready.samples[-1][1] == 200
        # A sample of orders acknowledged before, during and after the kill, each in one journey.
        with httpx.Client(base_url=pipeline.url, timeout=30) as client:
            for n in sorted(stream.acked)[:: max(1, len(stream.acked) // 20)]:
                matches = client.get("/v1/lookup", params={"q": f"#{n}"}).json()["matches"]
                assert len(matches) == 1 and len(matches[0]["journeys"]) == 1, n
    finally:
        pipeline.stop()
        front.stop()
    counts, journeys = stored_keys(tmp_path / "store")
    assert [n for n in stream.acked if n not in counts] == [], "an acknowledged event is missing"
    assert max(counts.values()) == 1, "an event stored twice"
    assert journeys == len(counts), "every stored order is one journey"
