"""The Kafka writer: killed mid-batch and restarted, or rebalanced between two members, it loses
nothing and stores nothing twice — including repeats produced twice, racing their original."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from collector.app import MIGRATIONS
from collector.consume import KafkaWriter
from tests.conftest import wait_for
from tests.support.stages import StageProcess
from tests.support.tansu import Tansu
from tower.kafka import ensure_topics, producer
from tower.settings import Settings
from tower.store import Store

pytestmark = pytest.mark.slow


def make_events(tenant: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "specversion": "1.0",
            "id": f"e-{i}",
            "source": f"erp/{i % 7}",
            "type": "order.received",
            "time": f"2026-11-{1 + i % 28:02d}T10:00:00Z",
            "tenant": tenant,
            "data": {"objects": [{"type": "order", "ids": {"erp": f"SO-{i}"}}]},
        }
        for i in range(n)
    ]


async def produce(settings: Settings, events: list[dict[str, Any]]) -> None:
    """What the collector does: each event to the topic, keyed by its idempotency key, acks=all."""
    client = producer(settings)
    await client.start()
    try:
        futures = [
            await client.send(
                settings.kafka_topic,
                value=orjson.dumps(e),
                key=f"{e['tenant']}\x1f{e['source']}\x1f{e['id']}".encode(),
            )
            for e in events
        ]
        await asyncio.gather(*futures)
    finally:
        await client.stop()


def with_repeats(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The events with one in five sent again later, as a retrying client or a second collector would."""
    rng = random.Random(seed)
    repeats = rng.sample(events, len(events) // 5)
    return events + repeats


def stored(store: Store, tenant: str) -> tuple[int, int]:
    ((rows, keys),) = store.query(
        "SELECT count(), uniqExact(source, id) FROM {db}.events WHERE tenant = {t:String}", {"t": tenant}
    )
    return int(rows), int(keys)


def kafka_settings(broker: Tansu, env: dict[str, str], data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        kafka_bootstrap=broker.bootstrap,
        kafka_topic=env["TOWER_KAFKA_TOPIC"],
        kafka_partitions=4,
        kafka_idempotence=False,
        data_dir=data_dir,
        **extra,
    )


def test_two_writers_rebalance_without_loss_or_duplicates(
    broker: Tansu, kafka_env: dict[str, str], tmp_path: Path
) -> None:
    settings = kafka_settings(broker, kafka_env, tmp_path, commit_max_events=300)
    store = Store(settings.dsn, settings.database)
    store.migrate(MIGRATIONS)
    events = make_events("rebalance", 6_000)
    sent = with_repeats(events, 1)
    random.Random(2).shuffle(sent)
    thirds = [sent[: len(sent) // 3], sent[len(sent) // 3 : 2 * len(sent) // 3], sent[2 * len(sent) // 3 :]]

    async def scenario() -> list[KafkaWriter]:
        await ensure_topics(settings)
        a = KafkaWriter(store, settings)
        await a.start()
        await produce(settings, thirds[0])
        b = KafkaWriter(store, settings)
        await b.start()  # joins: the group rebalances, a gives up partitions between batches
        await produce(settings, thirds[1])
        deadline = time.monotonic() + 30
        while not a._lock.locked() and time.monotonic() < deadline:  # a is inside a batch…
            await asyncio.sleep(0.001)
        await a.abort()  # …and dies there: written maybe, committed not
        await produce(settings, thirds[2])
        c = KafkaWriter(store, settings)
        await c.start()
        deadline = time.monotonic() + 90
        while stored(store, "rebalance")[1] < len(events) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything still to be (wrongly) stored twice has had its chance
        await b.close()
        await c.close()
        return [a, b, c]

    writers = asyncio.run(scenario())
    try:
        assert stored(store, "rebalance") == (len(events), len(events))
        assert sum(w.stats.events for w in writers) >= len(events)
        assert sum(w.stats.duplicates for w in writers) >= len(sent) - len(events) - writers[0].stats.duplicates
        # Every writer was handed partitions; b again when a died or c joined (a rebalance).
        assert [w.assignments >= 1 for w in writers] == [True, True, True]
        assert writers[1].assignments >= 2
    finally:
        store.close()


def written(writer: StageProcess, count: str) -> int:
    """One of the writer's counts from its `/readyz` (stored, committed, …)."""
    return int(writer.checks()["kafka_writer"][count])


def test_writer_killed_mid_batch_and_restarted_loses_nothing_and_stores_nothing_twice(
    broker: Tansu, kafka_env: dict[str, str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    env = {**kafka_env, "TOWER_COMMIT_MAX_EVENTS": "500", "TOWER_KAFKA_STAGES": "writer"}
    settings = kafka_settings(broker, kafka_env, data_dir)
    events = make_events("killed", 30_000)
    sent = with_repeats(events, 3)
    random.Random(4).shuffle(sent)

    writer = StageProcess("writer", data_dir, env).start()
    try:
        asyncio.run(produce(settings, sent))
        for _ in range(2):  # SIGKILL twice while it writes, restart each time
            wait_for(lambda w=writer: written(w, "stored") >= 3_000, timeout=60, interval=0.02)
            writer.kill()
            writer = StageProcess("writer", data_dir, env).start()
        # Every message, repeats included, consumed and committed after its write.
        wait_for(lambda w=writer: written(w, "committed") == len(sent), timeout=120, interval=0.2)
        writer.stop()
    finally:
        writer.kill()

    store = Store(settings.dsn, settings.database)
    try:
        wait_for(lambda: stored(store, "killed")[1] == len(events), timeout=5)
        assert stored(store, "killed") == (len(events), len(events))
    finally:
        store.close()


def test_replay_from_an_offset_or_a_time_rereads_and_stores_nothing_twice_and_poison_goes_to_dead_letters(
    broker: Tansu, kafka_env: dict[str, str], tmp_path: Path
) -> None:
    from aiokafka import AIOKafkaConsumer

    from tower.kafka import dead_letter_topic, rewind_writers

    settings = kafka_settings(broker, kafka_env, tmp_path)
    store = Store(settings.dsn, settings.database)
    store.migrate(MIGRATIONS)
    events = make_events("replayed", 2_000)

    async def scenario() -> tuple[list[int], dict[int, int], dict[int, int], list[bytes]]:
        await ensure_topics(settings)
        before = datetime.now(UTC)
        await produce(settings, events)
        poison = producer(settings)
        await poison.start()
        await poison.send_and_wait(settings.kafka_topic, b'{"id": "p-1", "tenant": "replayed", "specversion": "1.0"}')
        await poison.send_and_wait(settings.kafka_topic, b"not json at all")
        await poison.stop()
        rereads = []
        moved_offset: dict[int, int] = {}
        moved_time: dict[int, int] = {}
        for rewind in (None, "offset", "time"):
            if rewind == "offset":
                moved_offset = await rewind_writers(settings, 0, None)
            elif rewind == "time":
                moved_time = await rewind_writers(settings, None, before)
            writer = KafkaWriter(store, settings)
            await writer.start()
            deadline = time.monotonic() + 60
            while writer.lag.total or len(writer.lag.committed) < 4 or not writer.lag.highwater:
                assert time.monotonic() < deadline, (writer.lag.highwater, writer.lag.committed)
                await asyncio.sleep(0.1)
            await writer.close()
            rereads.append(writer.replayed)
            assert writer.stats.duplicates == 0
        reader = AIOKafkaConsumer(
            dead_letter_topic(settings), bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
        )
        await reader.start()
        batch = await reader.getmany(timeout_ms=5_000)
        await reader.stop()
        return rereads, moved_offset, moved_time, [m.value for ms in batch.values() for m in ms if m.value]

    try:
        rereads, moved_offset, moved_time, letters = asyncio.run(scenario())
        assert rereads == [0, len(events), len(events)]  # re-read in full, found stored, not stored again
        assert moved_offset == {0: 0, 1: 0, 2: 0, 3: 0}
        assert moved_time == moved_offset  # every message came after `before`
        assert stored(store, "replayed") == (len(events), len(events))
        assert len(letters) >= 2 and {orjson.loads(v)["raw"] for v in letters[:2]} == {
            '{"id": "p-1", "tenant": "replayed", "specversion": "1.0"}',
            "not json at all",
        }
        rows = store.query("SELECT event_id, reason FROM {db}.dead_letters WHERE endpoint = 'kafka' ORDER BY event_id")
        assert {r[0] for r in rows} == {"", "p-1"}
        assert all(reason for _, reason in rows)
    finally:
        store.close()


def test_a_writer_that_died_before_its_first_commit_is_not_taken_for_a_log_begun_again(
    broker: Tansu, kafka_env: dict[str, str], tmp_path: Path
) -> None:
    """Stored, never committed: the next writer finds the same log, reads it again from the start, and
    finds every message stored under its own seq, with no new epoch (a new epoch here gave the writer
    and the correlator different seqs for one message, and journeys other orders' events)."""
    settings = kafka_settings(broker, kafka_env, tmp_path)
    events = make_events("uncommitted", 400)

    async def scenario() -> tuple[int, int, int, int]:
        await ensure_topics(settings)
        await produce(settings, events)
        store = Store(settings.dsn, settings.database)
        store.migrate(MIGRATIONS)
        reader = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        await reader.start()
        partitions = [TopicPartition(settings.kafka_topic, p) for p in range(4)]
        reader.assign(partitions)
        for tp in partitions:
            await reader.seek_to_beginning(tp)
        fetched: dict[TopicPartition, list[Any]] = {}
        deadline = time.monotonic() + 30
        while sum(len(m) for m in fetched.values()) < len(events) and time.monotonic() < deadline:
            for tp, messages in (await reader.getmany(timeout_ms=500)).items():
                fetched.setdefault(tp, []).extend(messages)
        await reader.stop()
        first_half = {tp: messages[: len(messages) // 2] for tp, messages in fetched.items()}
        dead = KafkaWriter(store, settings)
        dead.write(first_half)  # stored, then died: no commit
        stored_first = sum(len(m) for m in first_half.values())
        writer = KafkaWriter(store, settings)
        await writer.start()
        try:
            deadline = time.monotonic() + 60
            while sum(writer.lag.committed.values()) < len(events) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        finally:
            await writer.close()
            store.close()  # one chDB path per process at a time: the next test opens its own
        return stored_first, writer.replayed, writer.stats.duplicates, sum(writer.lag.committed.values())

    stored_first, replayed, duplicates, committed = asyncio.run(scenario())
    store = Store(settings.dsn, settings.database)
    try:
        assert store.query("SELECT count() FROM {db}.kafka_epochs") == [(0,)]
        assert stored(store, "uncommitted") == (len(events), len(events))
        assert (replayed, duplicates) == (stored_first, 0)
        assert committed == len(events)
    finally:
        store.close()
