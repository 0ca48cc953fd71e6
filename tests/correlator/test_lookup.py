"""A lookup is one read of `identifiers`, whose rows carry their object's identifiers and journeys;
rows written before they did (migration 154) are served from `objects`, with the same answer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from collector.app import MIGRATIONS
from collector.writer import EVENT_TIME, event_table
from correlator.engine import Correlator
from correlator.queries import lookup
from tests.correlator.test_journey_page import EVENTS, TENANT
from tower.bus import InProcessBus
from tower.events import event_key_hash
from tower.settings import DEFAULT_OBJECT_LEVELS
from tower.store import Store


def test_a_lookup_reads_the_object_its_identifier_carries_or_the_objects_table(tmp_path: Path) -> None:
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        store.migrate(MIGRATIONS)
        seqs = range(1, len(EVENTS) + 1)
        hashes = [event_key_hash(e.tenant, e.source, e.id) for e in EVENTS]
        times = pa.array([e.time for e in EVENTS], EVENT_TIME)
        store.insert_arrow("events", event_table(EVENTS, seqs, hashes, times, datetime.now(UTC)))
        Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=None).step(
            list(zip(seqs, EVENTS, strict=True))
        )
        (journey_id,) = store.query("SELECT DISTINCT journey_id FROM {db}.journeys")[0]
        asked = ["SO-9001", "#9001", "1Z999AA10123456784", journey_id, "SO-404"]
        answers = {q: lookup(store, TENANT, q) for q in asked}

        order = {"type": "order", "id": journey_id, "ids": {"erp": "SO-9001", "shop": "#9001"}}
        assert answers["SO-9001"]["matches"] == [
            {"object": order, "matched": [{"namespace": "erp", "value": "SO-9001"}], "journeys": [journey_id]}
        ]
        assert answers[journey_id]["matches"][0]["matched"] == [{"namespace": "object_id", "value": journey_id}]
        (parcel,) = answers["1Z999AA10123456784"]["matches"]
        assert parcel["object"]["type"] == "shipment" and parcel["journeys"] == [journey_id]
        assert answers["SO-404"]["matches"] == []
        assert store.query("SELECT countIf(empty(ids)), countIf(empty(journeys)) FROM {db}.identifiers") == [(0, 0)]

        # The same identifiers as written before they carried their objects, one version newer.
        store.command(
            "INSERT INTO {db}.identifiers (tenant, value, namespace, type, object_id, version) "
            "SELECT tenant, value, namespace, type, object_id, version + 1 FROM {db}.identifiers"
        )
        assert {q: lookup(store, TENANT, q) for q in asked} == answers
    finally:
        store.close()
