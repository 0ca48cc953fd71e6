"""The whole pipeline on a real Kafka-protocol broker (Tansu): collector → topic → writer → correlator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, correlated, post_events, wait_for
from tests.correlator.test_ocel_journeys import all_journeys, by_order, summarise
from tests.support.ocel import OCEL_ORDER_MANAGEMENT, load_ocel, ocel_to_canonical
from tower.store import Store

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
        topic = kafka_env["TOWER_KAFKA_TOPIC"]
        assert f'tower_kafka_consumer_lag{{group="{topic}.writer",partition="0"}} 0' in metrics
        assert f'tower_kafka_consumer_lag{{group="{topic}.correlator",partition="3"}} 0' in metrics


def test_a_server_on_kafka_killed_and_restarted_keeps_its_journeys_exact(
    server: ServerProcess, start_server: Callable[..., ServerProcess], kafka_env: dict[str, str], tmp_path: Path
) -> None:
    events = sorted(ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT)), key=lambda e: (e["time"], e["id"]))[:6_000]
    tenant = {"X-Tower-Tenant": "killed-kafka"}
    with httpx.Client(base_url=server.url, headers=tenant, timeout=120) as client:
        post_events(client, events, batch=500)
        wait_for(lambda: correlated(client), timeout=120)
        embedded = summarise(by_order(all_journeys(client)))
    assert len(embedded) > 300

    def differences(client: httpx.Client) -> dict[str, Any]:
        """Orders whose journey differs from embedded mode's: (embedded, here)."""
        here = summarise(by_order(all_journeys(client)))
        orders = embedded.keys() | here.keys()
        return {o: (embedded.get(o), here.get(o)) for o in orders if embedded.get(o) != here.get(o)}

    def journeys_match(client: httpx.Client) -> bool:
        return not differences(client)

    data_dir = tmp_path / "store"
    first = start_server(data_dir=data_dir, env=kafka_env)
    with httpx.Client(base_url=first.url, headers=tenant, timeout=120) as client:
        post_events(client, events[::2], batch=500)  # every other event: journeys left incomplete
    first.kill()  # SIGKILL right after the last 202: the writer and correlator are mid-work
    second = start_server(data_dir=data_dir, env=kafka_env)
    with httpx.Client(base_url=second.url, headers=tenant, timeout=120) as client:
        post_events(client, events[1::2], batch=500)
        try:
            wait_for(lambda: journeys_match(client), timeout=180, interval=2)
        except AssertionError:  # say whether it is slow or wrong, and where
            diff = differences(client)
            example = next(iter(sorted(diff.items())), None)
            checks = client.get("/readyz").json()["checks"]
            raise AssertionError(
                f"{len(diff)} journeys differ from embedded mode's after 180 s; first: {example}; "
                f"readyz: {checks}; the server's log ends:\n{second.log()[-4000:]}"
            ) from None
    second.stop()  # a clean stop snapshots the graph with every partition's position
    third = start_server(data_dir=data_dir, env=kafka_env)
    with httpx.Client(base_url=third.url, headers=tenant, timeout=120) as client:
        assert post_events(client, events[:100], batch=100) == {"accepted": 0, "duplicates": 100}
        assert journeys_match(client)
        assert client.get("/readyz").json()["checks"]["correlator"]["applied"] == 0  # resumed from the snapshot
    assert "correlator restored snapshot" in third.log()


def test_membership_rows_over_kafka_carry_each_event_as_the_writer_stored_it(
    start_server: Callable[..., ServerProcess], kafka_env: dict[str, str], tmp_path: Path
) -> None:
    """The writer and the correlator read one message apart, yet agree on the event's ingest time (the
    message's timestamp), so the journey page reads its events from `journey_events` alone."""
    events = sorted(ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT)), key=lambda e: (e["time"], e["id"]))[:1_500]
    data_dir = tmp_path / "store"
    kafka = start_server(data_dir=data_dir, env=kafka_env)
    before = datetime.now(UTC)
    with httpx.Client(base_url=kafka.url, headers={"X-Tower-Tenant": "members"}, timeout=120) as client:
        assert post_events(client, events, batch=500) == {"accepted": 1_500, "duplicates": 0}
        after = datetime.now(UTC)
        wait_for(lambda: settled(client, 1_500), timeout=120, interval=0.5)
    kafka.stop()
    store = Store(f"chdb://{data_dir / 'clickhouse'}")
    try:
        # An event that joins a journey in a later step than its own (a package related to its order
        # after its scans arrived, which partitions make common) gets a row without its payload: the
        # correlator no longer has it at hand, and the journey page reads those from `events`.
        rows = store.query(
            "SELECT m.source, m.event_id, m.payload = e.payload, m.ingested_at = e.ingested_at, e.ingested_at "
            "FROM {db}.journey_events AS m INNER JOIN {db}.events AS e "
            "ON m.tenant = e.tenant AND m.source = e.source AND m.event_id = e.id "
            "WHERE m.tenant = 'members' AND m.payload != ''"
        )
        ((memberships, with_payload),) = store.query(
            "SELECT uniqExact(journey_id, source, event_id), uniqExactIf(journey_id, source, event_id, payload != '') "
            "FROM {db}.journey_events WHERE tenant = 'members'"
        )
        assert with_payload >= 0.8 * memberships > 1_000  # before: none had its payload
        assert [r[:2] for r in rows if not r[2]] == []  # the payload as stored
        assert [r[:2] for r in rows if not r[3]] == []  # the ingest time as stored
        # The ingest time is when the broker took the message: between the first post and the last 202.
        ingested = [r[4].replace(tzinfo=UTC) for r in rows]  # read back naive, in UTC
        assert before - timedelta(seconds=1) <= min(ingested) and max(ingested) <= after + timedelta(seconds=1)
    finally:
        store.close()  # one chDB path per process at a time: the next test opens its own
