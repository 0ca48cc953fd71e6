"""`events.system`, `events.carrier` and `events.operation`: filled by the writers from the parsed
event, and computed by the columns' DEFAULTs from the payload for rows written without them (before
migration 50, or by an insert that leaves them out): the same value either way, so SLIs read the
columns, never the payload."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
from aiokafka.structs import ConsumerRecord

from collector.app import MIGRATIONS
from collector.consume import _envelope
from collector.writer import EVENT_SCHEMA
from tests.conftest import REPO, ServerProcess, post_events
from tower.events import Event, event_key_hash, validate_event
from tower.kafka import HEADERS, event_headers
from tower.store import Store

T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def event(event_id: str, source: str, dims: Any = None, facts: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {"objects": [{"type": "order", "ids": {"erp": f"SO-{event_id}"}}]}
    if dims is not None:
        data["dims"] = dims
    if facts is not None:
        data["facts"] = facts
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": "sync.failed",
        "time": "2026-03-02T08:00:00Z",
        "data": data,
    }


# id → the event, and the (system, carrier, operation) it is about
CASES: dict[str, tuple[dict[str, Any], tuple[str, str, str]]] = {
    "facts": (
        event("facts", "ipaas/celigo", {"system": "erp"}, {"system": "wms/dc-east", "operation": "picks.import"}),
        ("wms/dc-east", "", "picks.import"),
    ),
    "dims": (
        event("dims", "ipaas/celigo", {"system": "erp/netsuite", "carrier": "ups"}),
        ("erp/netsuite", "ups", ""),
    ),
    "neither": (event("neither", "carrier/fedex", {"carrier": "fedex"}), ("carrier", "fedex", "")),
    "blank-facts": (event("blank-facts", "ipaas/celigo", {"system": "erp"}, {"system": ""}), ("erp", "", "")),
    "not-strings": (  # only a string names a system or an operation
        event("not-strings", "wms/dc-west", None, {"system": 7, "operation": ["a"]}),
        ("wms", "", ""),
    ),
    "null-dims": (event("null-dims", "edi", {"system": None, "carrier": None}, None), ("edi", "", "")),
    "escaped": (event("escaped", "x/y", {"system": '\u00e9rp "main"'}), ('\u00e9rp "main"', "", "")),
}


def parsed(value: dict[str, Any]) -> Event:
    got, problems = validate_event(value)
    assert got is not None, problems
    return got


def test_the_event_names_its_system_carrier_and_operation() -> None:
    for event_id, (value, expected) in CASES.items():
        e = parsed(value)
        assert (e.system, e.carrier, e.operation) == expected, event_id


def raw_rows(events: list[Event], seq: int) -> list[list[Any]]:
    """Rows of `events` as migration 1 made them: no system, carrier, operation."""
    return [
        [e.tenant, e.source, e.id, seq + i, e.type, e.time, T, "", event_key_hash(e.tenant, e.source, e.id), e.payload]
        for i, e in enumerate(events)
    ]


RAW_COLUMNS = ["tenant", "source", "id", "seq", "type", "time", "ingested_at", "traceparent", "key_hash", "payload"]


def stored(store: Store) -> dict[str, tuple[str, str, str]]:
    return {i: (s, c, o) for i, s, c, o in store.query("SELECT id, system, carrier, operation FROM {db}.events")}


def test_rows_written_before_the_migration_or_without_the_columns_read_what_the_writer_stores(tmp_path: Path) -> None:
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        assert store.migrate([m for m in MIGRATIONS if m.number != 50])
        events = [parsed(value) for value, _ in CASES.values()]
        store.insert_rows("events", raw_rows(events, 1), RAW_COLUMNS, role="writer")  # a part from before
        assert store.migrate(MIGRATIONS) == [50]
        (old_part,) = store.query(
            "SELECT groupArray(column) FROM system.parts_columns WHERE database = {db:String} AND table = 'events' "
            "AND active GROUP BY name",
            {"db": store.database},
        )
        assert "system" not in old_part[0]  # the part holds no such column: its rows read the DEFAULT
        expected = {e.id: (e.system, e.carrier, e.operation) for e in events}
        assert stored(store) == expected
        # `tower migrate --materialize`: the old part gets the columns written, with the same values
        added = [("events", "carrier"), ("events", "operation"), ("events", "system")]
        assert store.unmaterialized() == added
        assert store.materialize() == added
        assert store.unmaterialized() == []
        assert stored(store) == expected

        # an insert that leaves the columns out gets them; the writer's own Arrow table stores the same
        store.command("TRUNCATE TABLE {db}.events")
        store.insert_rows("events", raw_rows(events, 1), RAW_COLUMNS, role="writer")
        table = pa.Table.from_pylist(
            [
                dict(zip(RAW_COLUMNS, row, strict=True))
                | {"id": f"w-{e.id}", "system": e.system, "carrier": e.carrier, "operation": e.operation}
                for e, row in zip(events, raw_rows(events, 100), strict=True)
            ],
            schema=EVENT_SCHEMA,
        )
        store.insert_arrow("events", table)
        assert stored(store) == expected | {f"w-{i}": v for i, v in expected.items()}
    finally:
        store.close()


def test_events_posted_to_the_collector_land_with_their_system_and_carrier(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Through the real HTTP collector: facts.system wins, else dims.system, else the source's prefix."""
    data_dir = tmp_path / "tower"
    server = start_server(data_dir)
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": "cols"}, timeout=60) as client:
        posted = [CASES[name][0] for name in ("facts", "dims", "neither")]
        assert post_events(client, posted)["accepted"] == 3
    server.stop()
    code = (
        "import json; from tower.store import Store; "
        f"s = Store('chdb://{data_dir / 'clickhouse'}'); "
        "print(json.dumps(s.query(\"SELECT id, system, carrier, operation FROM {db}.events WHERE tenant = 'cols'\")))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    rows = {i: (s, c, o) for i, s, c, o in json.loads(out.strip().splitlines()[-1])}
    assert rows == {name: CASES[name][1] for name in ("facts", "dims", "neither")}


def record(value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("events", 0, 0, 0, 0, None, value, None, 0, len(value), headers)


def test_the_kafka_writer_takes_them_from_the_headers_or_else_from_the_event() -> None:
    value, expected = CASES["facts"]
    e = parsed(value)
    envelope, letter = _envelope(record(e.payload, event_headers(e)), "events/0@0")
    assert letter is None and envelope is not None
    assert (envelope.system, envelope.carrier, envelope.operation) == expected
    # a message from a collector that sent no system and carrier headers: the payload is parsed
    older = [(name, v) for name, v in event_headers(e) if name in HEADERS[:6]]
    envelope, letter = _envelope(record(orjson.dumps(value), older), "events/0@1")
    assert letter is None and envelope is not None
    assert (envelope.system, envelope.carrier, envelope.operation) == expected
