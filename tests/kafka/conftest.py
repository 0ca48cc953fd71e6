"""Kafka fixtures: a Tansu broker per test module, and the environment that points Control Tower at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.tansu import Tansu


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    tansu = Tansu(tmp_path_factory.mktemp("tansu") / "tansu.log").start()
    yield tansu
    tansu.stop()


@pytest.fixture
def kafka_env(broker: Tansu) -> dict[str, str]:
    """Settings for a process on the broker, on a topic of this test's own."""
    return {
        "TOWER_KAFKA_BOOTSTRAP": broker.bootstrap,
        "TOWER_KAFKA_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
        "TOWER_KAFKA_PARTITIONS": "4",
        "TOWER_KAFKA_IDEMPOTENCE": "false",
    }
