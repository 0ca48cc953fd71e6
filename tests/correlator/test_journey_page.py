"""The journey page reads four columns of its row; rows written before the state carried its
summary are still served, from their columns, and give the same page. Its events come with their
membership rows, or from the log for rows written without them. Its point reads take rows as they
lie and order them in Python, or let the store order them past a size: both give the same page."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from collector.app import MIGRATIONS
from collector.writer import EVENT_TIME, event_table
from correlator import queries
from correlator.engine import Correlator
from correlator.queries import journey, lookup
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


def store_events(store: Store, events: list[Event], stored_at: datetime, first_seq: int = 1) -> None:
    """Store `events` as the writer would at `stored_at`."""
    seqs = range(first_seq, first_seq + len(events))
    hashes = [event_key_hash(e.tenant, e.source, e.id) for e in events]
    times = pa.array([e.time for e in events], EVENT_TIME)
    store.insert_arrow("events", event_table(events, seqs, hashes, times, stored_at))


def correlate(
    store: Store, events: list[Event], stored_at: datetime, stamped: bool = True, stored_first: bool = True
) -> str:
    """Store `events` as the writer would at `stored_at`, correlate them in process, return the one
    journey's id. `stamped`: the correlator knows when they were stored (the writer's bus, the log),
    as it does not when fed from Kafka. `stored_first`: the events are in `events` before the
    correlator writes their rows (fed from Kafka, the writer may not have stored them yet)."""
    seqs = range(1, len(events) + 1)
    if stored_first:
        store_events(store, events, stored_at)
    stored_us = (stored_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    fed = [dataclasses.replace(e, ingested_at_us=stored_us if stamped else 0) for e in events]
    Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=None).step(list(zip(seqs, fed, strict=True)))
    if not stored_first:
        store_events(store, events, stored_at)
    ((journey_id,),) = store.query("SELECT journey_id FROM {db}.journeys FINAL WHERE alive")
    return str(journey_id)


def test_a_row_from_before_the_summary_gives_the_same_page(tmp_path: Path) -> None:
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        store.migrate(MIGRATIONS)
        journey_id = correlate(store, EVENTS, datetime.now(UTC))
        page = journey(store, TENANT, journey_id)
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

        assert journey(store, TENANT, journey_id) == page
    finally:
        store.close()


def test_a_journeys_events_come_with_its_membership_or_from_the_log_when_it_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_at = datetime(2026, 11, 23, 15, 0, 0, 250_001, tzinfo=UTC)
    traced = [
        dataclasses.replace(EVENTS[0], traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        *EVENTS[1:],
    ]
    # one engine a process: three databases side by side
    with_payloads = Store(f"chdb://{tmp_path / 'ch'}", database="stamped")
    read_back = Store(f"chdb://{tmp_path / 'ch'}", database="unstamped")
    without = Store(f"chdb://{tmp_path / 'ch'}", database="kafka")
    try:
        for store in (with_payloads, read_back, without):
            store.migrate(MIGRATIONS)
        page = journey(with_payloads, TENANT, correlate(with_payloads, traced, stored_at))
        assert [e["id"] for e in page["events"]] == ["evt-1", "evt-2", "evt-3", "evt-4"]
        assert {e["ingested_at"] for e in page["events"]} == {"2026-11-23T15:00:00.250001Z"}
        assert page["events"][0]["traceparent"] == traced[0].traceparent
        assert page["events"][0]["data"] == orjson.loads(traced[0].payload)["data"]
        assert page["events"][3]["time"] == "2026-11-23T14:05:00.500000Z"
        payloads = with_payloads.query("SELECT event_id, payload FROM {db}.journey_events ORDER BY event_id")
        assert [(i, p) for i, p in payloads] == [(e.id, e.payload.decode()) for e in traced]

        # Events whose time of storage the correlator does not know (a Kafka message without a
        # timestamp): their payloads are read back from the log for the membership rows.
        assert journey(read_back, TENANT, correlate(read_back, traced, stored_at, stamped=False)) == page
        assert read_back.query("SELECT event_id, payload FROM {db}.journey_events ORDER BY event_id") == payloads

        # Membership without payloads (written before migration 153, or from Kafka before the writer
        # stored the events): the same page, its events read from the log.
        assert (
            journey(without, TENANT, correlate(without, traced, stored_at, stamped=False, stored_first=False)) == page
        )
        assert without.query("SELECT count() FROM {db}.journey_events WHERE payload != ''") == [(0,)]

        # A membership row rewritten without its payload beside the copy with it: the copy with it wins.
        with_payloads.command(
            "INSERT INTO {db}.journey_events (tenant, journey_id, time, source, event_id, seq, type) "
            "SELECT tenant, journey_id, time, source, event_id, seq, type FROM {db}.journey_events"
        )
        assert with_payloads.query("SELECT count() FROM {db}.journey_events") == [(8,)]
        assert journey(with_payloads, TENANT, page["id"]) == page
        # … and so it does when the rows are too many to order in Python, and the store orders them
        found = lookup(with_payloads, TENANT, "1Z999AA10123456784")
        with monkeypatch.context() as patched:
            patched.setattr(queries, "UNSORTED_READ", 3)
            assert journey(with_payloads, TENANT, page["id"]) == page
            assert lookup(with_payloads, TENANT, "1Z999AA10123456784") == found

        # The page needs nothing from the log once the membership carries the events.
        with_payloads.command("TRUNCATE TABLE {db}.events")
        assert journey(with_payloads, TENANT, page["id"])["events"] == page["events"]
    finally:
        with_payloads.close()
        read_back.close()
        without.close()


def test_an_event_that_joins_its_journey_in_a_later_step_is_written_with_its_payload(tmp_path: Path) -> None:
    """A parcel scanned before anything ties it to its order: the scan joins the order's journey one
    step later, when the correlator no longer has it at hand. Its membership row still carries it,
    read back from the log, so the journey page reads one range."""
    stored_at = datetime(2026, 11, 23, 15, 0, 0, tzinfo=UTC)
    stored_us = (stored_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    scan, order, manifest = EVENTS[2], EVENTS[0], EVENTS[1]  # the scan names the parcel alone
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        store.migrate(MIGRATIONS)
        correlator = Correlator(store, InProcessBus(), DEFAULT_OBJECT_LEVELS, hot_seconds=None)
        for seq, event in enumerate((scan, order, manifest), start=1):
            store_events(store, [event], stored_at, first_seq=seq)
            correlator.step([(seq, dataclasses.replace(event, ingested_at_us=stored_us))])
        assert correlator.stats.late_payloads == 1  # the scan, read back once: the others were at hand
        rows = store.query(
            "SELECT event_id, payload, toUnixTimestamp64Micro(ingested_at) FROM {db}.journey_events "
            "WHERE journey_id IN (SELECT journey_id FROM {db}.journeys) ORDER BY event_id"
        )
        assert rows == [(e.id, e.payload.decode(), stored_us) for e in (order, manifest, scan)]
        ((journey_id,),) = store.query("SELECT DISTINCT journey_id FROM {db}.journeys")
        store.command("TRUNCATE TABLE {db}.events")  # the page needs nothing from the log
        assert [e["id"] for e in journey(store, TENANT, str(journey_id))["events"]] == ["evt-1", "evt-2", "evt-3"]
    finally:
        store.close()


def test_the_page_reads_the_audit_of_the_objects_that_have_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most journeys have no merge, re-key or conflict: their row lists no audited object, and the page
    makes no read of `merges`. A merged order's row lists its survivor, whose audit the page shows; a
    row written before the list reads the audit of every object, and gives the same page."""
    reads: list[list[str]] = []
    real = queries.object_merges
    monkeypatch.setattr(
        queries, "object_merges", lambda store, tenant, ids: reads.append(list(ids)) or real(store, tenant, ids)
    )
    shop, erp = {"type": "order", "ids": {"shop": "#9001"}}, {"type": "order", "ids": {"erp": "SO-9001"}}
    merged = [
        canonical(1, "order.received", "2026-11-20T10:00:00Z", [shop]),
        canonical(2, "order.allocated", "2026-11-20T11:00:00Z", [erp]),
        canonical(3, "order.released", "2026-11-20T12:00:00Z", ORDER),  # names both: one order
    ]
    plain, audited = Store(f"chdb://{tmp_path / 'ch'}", database="plain"), Store(f"chdb://{tmp_path / 'ch'}")
    try:
        for store in (plain, audited):
            store.migrate(MIGRATIONS)
        page = journey(plain, TENANT, correlate(plain, EVENTS, datetime.now(UTC)))
        assert page["merges"] == [] and reads == []

        journey_id = correlate(audited, merged, datetime.now(UTC))
        page = journey(audited, TENANT, journey_id)
        assert [(m["object_id"], m["reason"], m["event_id"]) for m in page["merges"]] == [
            (journey_id, "merge", "evt-3")
        ]
        assert reads == [[journey_id]]

        # the row as written before it listed its audited objects, one version newer
        (row,) = audited.query_dicts("SELECT * FROM {db}.journeys ORDER BY version DESC LIMIT 1")
        state = orjson.loads(row["state"])
        assert state.pop("audited") == [journey_id]
        row |= {"version": row["version"] + 1, "state": orjson.dumps(state).decode()}
        audited.insert_rows("journeys", [list(row.values())], list(row), role="correlator")
        assert journey(audited, TENANT, journey_id) == page
        assert reads[-1] == sorted(row["objects"])
    finally:
        plain.close()
        audited.close()
