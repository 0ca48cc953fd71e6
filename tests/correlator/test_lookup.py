"""A lookup is one read of `identifiers`, whose rows carry their object's identifiers and journeys;
rows written before they did (migration 154) are served from `objects`, with the same answer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from collector.app import MIGRATIONS
from correlator.queries import lookup
from tests.correlator.test_journey_page import EVENTS, TENANT, correlate
from tower.store import Store


def test_a_lookup_reads_the_object_its_identifier_carries_or_the_objects_table(tmp_path: Path) -> None:
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        store.migrate(MIGRATIONS)
        journey_id = correlate(store, EVENTS, datetime.now(UTC))
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
