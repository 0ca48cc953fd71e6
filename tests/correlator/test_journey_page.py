"""The journey page reads four columns of its row; rows written before the state carried its
summary are still served, from their columns, and give the same page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from collector.app import MIGRATIONS
from collector.writer import EVENT_TIME, event_table
from correlator.engine import Correlator
from correlator.queries import journey
from tower.bus import InProcessBus
from tower.events import Event, event_key_hash, validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS
from tower.store import Store

TENANT = "acme"
ORDER = [{"type": "order", "ids": {"erp": "SO-9001", "shop": "#9001"}}]
PARCEL = [*ORDER, {"type": "shipment", "ids": {"tracking": "1Z999AA10123456784"}}]


def canonical(i: int, type_: str, time: str, objects: list[dict[str, Any]], **data: Any) -> Event:
    event, problems = validate_event(
        {
            "specversion": "1.0",
            "id": f"evt-{i}",
            "source": "erp/netsuite" if i < 3 else "carrier/ups",
            "type": type_,
            "time": time,
            "tenant": TENANT,
            "data": {"objects": objects, **data},
        }
    )
    assert event is not None, problems
    return event


EVENTS = [
    canonical(1, "order.received", "2026-11-20T10:00:00.000123Z", ORDER, facts={"promised_ship_date": "2026-11-21"}),
    canonical(2, "shipment.manifested", "2026-11-21T09:30:00Z", PARCEL),
    canonical(3, "shipment.in_transit", "2026-11-21T18:00:00Z", PARCEL[1:]),
    canonical(4, "shipment.delivered", "2026-11-23T14:05:00.5Z", PARCEL[1:]),
]


def test_a_row_from_before_the_summary_gives_the_same_page(tmp_path: Path) -> None:
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        store.migrate(MIGRATIONS)
        seqs = range(1, len(EVENTS) + 1)
        hashes = [event_key_hash(e.tenant, e.source, e.id) for e in EVENTS]
        times = pa.array([e.time for e in EVENTS], EVENT_TIME)
        store.insert_arrow("events", event_table(EVENTS, seqs, hashes, times, datetime.now(UTC)))
        correlator = Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=None)
        correlator.step(list(zip(seqs, EVENTS, strict=True)))

        (match,) = store.query("SELECT DISTINCT journey_id FROM {db}.journeys")
        page = journey(store, TENANT, match[0])
        assert page["status"] == "delivered"
        assert page["started_at"] == "2026-11-20T10:00:00.000123Z"
        assert page["delivered_at"] == "2026-11-23T14:05:00.500000Z"
        assert page["event_count"] == 4 and page["on_time_ship"] is True and page["on_time_delivery"] is None

        # the same row as the correlator wrote it before its state had a summary, one version newer
        (row,) = store.query_dicts("SELECT * FROM {db}.journeys ORDER BY version DESC LIMIT 1")
        state = orjson.loads(row["state"])
        assert state.pop("summary")
        row |= {"version": row["version"] + 1, "state": orjson.dumps(state).decode()}
        store.insert_rows("journeys", [list(row.values())], list(row), role="correlator")

        assert journey(store, TENANT, match[0]) == page
    finally:
        store.close()
