"""The whole pipeline on a real Kafka-protocol broker (Tansu): collector → topic → writer → correlator."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import ServerProcess, correlated, post_events, wait_for
from tests.correlator.test_ocel_journeys import all_journeys, by_order, summarise
from tests.support.ocel import OCEL_ORDER_MANAGEMENT, load_ocel, ocel_to_canonical

pytestmark = pytest.mark.slow


def settled(client: httpx.Client, stored: int) -> bool:
    """The writer stored `stored` events and the correlator applied all of them."""
    checks = client.get("/readyz").json()["checks"]
    return (
        checks["kafka_writer"]["stored"] >= stored
        and checks["correlator"]["applied"] >= stored
        and checks["correlator"]["lag_events"] == 0
    )


def test_ocel_journeys_over_kafka_are_exactly_those_of_embedded_mode(
    server: ServerProcess, start_server: Callable[..., ServerProcess], kafka_env: dict[str, str]
) -> None:
    events = ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT))
    kafka = start_server(env=kafka_env)
    summaries = []
    for target in (server, kafka):
        with httpx.Client(base_url=target.url, headers={"X-Tower-Tenant": "ocel-kafka"}, timeout=120) as client:
            assert post_events(client, events, batch=5_000) == {"accepted": 21_008, "duplicates": 0}
            if target is kafka:
                wait_for(lambda c=client: settled(c, 21_008), timeout=180, interval=0.5)
            else:
                wait_for(lambda c=client: correlated(c), timeout=180)
            summaries.append(summarise(by_order(all_journeys(client))))
    embedded, over_kafka = summaries
    assert len(embedded) == 2_000
    assert over_kafka.keys() == embedded.keys()
    differences = {order: j for order, j in over_kafka.items() if j != embedded[order]}
    assert differences == {}

    with httpx.Client(base_url=kafka.url, headers={"X-Tower-Tenant": "ocel-kafka"}, timeout=120) as client:
        # Reposting the log: every event is recognised as stored, nothing is produced or stored twice.
        assert post_events(client, events, batch=5_000) == {"accepted": 0, "duplicates": 21_008}
        metrics = client.get("/metrics").text
        assert "tower_kafka_writer_stored_total 21008" in metrics
        assert 'tower_kafka_consumer_lag{group="tower-writer",partition="0"} 0' in metrics
        assert 'tower_kafka_consumer_lag{group="tower-correlator",partition="3"} 0' in metrics
