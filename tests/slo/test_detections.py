"""Detections: business calendars, and stuck orders, open EDI chains, oversells and duplicates through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.x12 import build_997, tokenize
from slo.detections import Calendars, parse_shifts
from tests.conftest import correlated, post_events, wait_for
from tests.support.ocel import FIXTURES

MON = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def test_warehouse_shifts_count_only_working_time() -> None:
    cal = Calendars.from_settings("*=06:00-22:00,dc-west=08:00-12:00+13:00-17:00", "*=17:00,fedex=18:30", 6)
    # packed at 21:00 with 12 working hours to go: 1h tonight, 11h from 06:00 → 17:00 next day
    assert cal.working_deadline("dc-east", MON.replace(hour=21), 12) == MON.replace(hour=17) + timedelta(days=1)
    # two shifts with a lunch break: 10:00 + 4h = 15:00 (the 12:00-13:00 break does not count)
    assert cal.working_deadline("dc-west", MON.replace(hour=10), 4) == MON.replace(hour=15)
    # released at 03:00 (before the shift) with 2h: 08:00
    assert cal.working_deadline("dc-east", MON.replace(hour=3), 2) == MON.replace(hour=8)


def test_carrier_cutoff_sets_when_a_first_scan_is_due() -> None:
    cal = Calendars.from_settings("*=06:00-22:00", "*=17:00,fedex=18:30", 6)
    assert cal.scan_deadline("ups", MON.replace(hour=9)) == MON.replace(hour=23)  # 17:00 + 6h
    assert cal.scan_deadline("ups", MON.replace(hour=18)) == MON.replace(hour=23) + timedelta(days=1)
    assert cal.scan_deadline("fedex", MON.replace(hour=18)) == MON.replace(hour=18, minute=30) + timedelta(hours=6)


def test_bad_calendar_settings_are_refused_naming_the_entry() -> None:
    with pytest.raises(ValueError, match="dc-east=22:00-06:00"):
        parse_shifts("dc-east=22:00-06:00")
    with pytest.raises(ValueError, match="not HH:MM"):
        parse_shifts("dc-east=6am-2pm")


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ev(eid: str, source: str, etype: str, at: datetime, objects: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": eid,
        "source": source,
        "type": etype,
        "time": iso(at),
        "data": {"objects": objects, **data},
    }


def order(po: str) -> dict[str, Any]:
    return {"type": "order", "ids": {"po:acme": po}}


@pytest.mark.slow
def test_stuck_edi_chains_oversell_and_duplicates(api: httpx.Client) -> None:
    now = datetime.now(UTC)
    edi = {"dims": {"channel": "edi", "warehouse": "dc-east", "customer": "acme"}}
    events = [
        # an EDI order never acknowledged (850 without 855), received 30 hours ago
        ev("e1", "edi/acme", "order.received", now - timedelta(hours=30), [order("PO-1")], **edi),
        # acknowledged, shipped 3 days ago, never invoiced; its order.received came twice
        ev("e2", "edi/acme", "order.received", now - timedelta(days=4), [order("PO-2")], **edi),
        ev("e2b", "edi/acme", "order.received", now - timedelta(days=4, hours=-1), [order("PO-2")], **edi),
        ev("a2", "erp/ns", "order.accepted", now - timedelta(days=4, hours=-2), [order("PO-2")]),
        ev("m2", "ship/ss", "shipment.manifested", now - timedelta(days=3), [order("PO-2")]),
        # received 5 hours ago, still waiting for acceptance: stuck in received (4h)
        ev("e3", "edi/acme", "order.received", now - timedelta(hours=5), [order("PO-3")], **edi),
        # oversold SKU
        ev(
            "s1",
            "wms/dc-east",
            "inventory.snapshot",
            now - timedelta(minutes=5),
            [],
            facts={"system": "wms", "warehouse": "dc-east", "sku": "SKU-9", "on_hand": 3, "available": -2},
        ),
    ]
    post_events(api, events)
    wait_for(lambda: correlated(api), timeout=30)

    chains = api.get("/v1/reconciliation/edi").json()["items"]
    kinds = sorted((c["kind"], c["partner"]) for c in chains)
    # PO-3 has waited 5 hours, not yet the 24 an 855 may take
    assert kinds == [("850_without_855", "acme"), ("shipped_not_invoiced", "acme")]
    unanswered = next(c for c in chains if c["kind"] == "850_without_855")
    assert unanswered["waiting_seconds"] == pytest.approx(30 * 3600, abs=60)
    assert api.get("/v1/reconciliation/edi", params={"ack_hours": 4}).json()["total"] == 3

    stuck = api.get("/v1/reconciliation/stuck").json()["items"]
    # PO-1 and PO-3 past 4 hours in received; PO-2 manifested 3 days ago, past the cut-off plus grace
    assert sorted(s["stage"] for s in stuck) == ["manifested", "received", "received"]
    shipped = next(c["journey_id"] for c in chains if c["kind"] == "shipped_not_invoiced")
    assert next(s["journey_id"] for s in stuck if s["stage"] == "manifested") == shipped
    assert [t["journey_id"] for t in api.get("/v1/reconciliation/tracking").json()["items"]] == [shipped]
    assert api.get("/v1/reconciliation/stuck", params={"stage": "received"}).json()["total"] == 2
    oversell = api.get("/v1/reconciliation/oversell").json()["items"]
    assert [(o["sku"], o["oversold"]) for o in oversell] == [("SKU-9", 2.0)]
    dupes = api.get("/v1/reconciliation/anomalies", params={"kind": "duplicate_milestone"}).json()["items"]
    assert len(dupes) == 1


@pytest.mark.slow
def test_an_asn_without_its_997_is_listed_until_the_997_comes(api: httpx.Client) -> None:
    body = (FIXTURES / "edi_x12/oopfactory-x12parser/856_FromGregarican.txt").read_bytes()
    sent = api.post("/v1/adapters/x12", content=body, headers={"Content-Type": "application/edi-x12"})
    assert sent.status_code == 202, sent.text
    wait_for(lambda: correlated(api), timeout=30)
    open_asns = api.get("/v1/reconciliation/edi", params={"kind": "856_without_997"}).json()["items"]
    assert open_asns and len({a["group_control"] for a in open_asns}) == 1
    # the partner's functional acknowledgement of that group: the 997 Control Tower itself would send back
    ack = sent.json()["reply"]["body"].encode()
    answered = api.post("/v1/adapters/x12", content=ack, headers={"Content-Type": "application/edi-x12"})
    assert answered.status_code == 202, answered.text
    wait_for(lambda: correlated(api), timeout=30)
    assert api.get("/v1/reconciliation/edi", params={"kind": "856_without_997"}).json()["items"] == []


@pytest.mark.slow
def test_an_asn_rejected_by_its_997_is_no_answered_asn(api: httpx.Client) -> None:
    """A 997 rejecting the ASN's group answers it with a no: it leaves `856_without_997` for
    `856_rejected_by_997` at once, with the partner's word; a later 997 accepting that set closes it."""
    body = (FIXTURES / "edi_x12/oopfactory-x12parser/856_FromGregarican.txt").read_bytes()
    sent = api.post("/v1/adapters/x12", content=body, headers={"Content-Type": "application/edi-x12"})
    assert sent.status_code == 202, sent.text
    (asn,) = tokenize(body)
    group = asn.groups[0].control

    def edi(kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = api.get("/v1/reconciliation/edi", params={"kind": kind}).json()["items"]
        return items

    rejecting = build_997(asn, rejected={(group, "0001"): "bad"}, control=77)
    assert b"AK9*R*1*1*0~" in rejecting
    assert api.post("/v1/adapters/x12", content=rejecting, headers={"Content-Type": "application/edi-x12"}).is_success
    wait_for(lambda: correlated(api), timeout=30)
    assert edi("856_without_997") == []
    (rejected,) = edi("856_rejected_by_997")
    assert (rejected["group_control"], rejected["partner"], rejected["status"]) == (group, asn.receiver, "R")
    assert rejected["error"] == f"SH group {group} rejected (R): 0 of 1 sets accepted"
    # the partner's next 997 for that group accepts the ASN's set (and rejects another): answered
    partly = "~".join(
        [
            f"ISA*00*          *00*          *12*{asn.receiver:<15}*12*{asn.sender:<15}*120516*0900*U*00401*"
            "000000078*0*P*>",
            f"GS*FA*{asn.receiver}*{asn.sender}*20120516*0900*78*X*004010",
            "ST*997*0001",
            f"AK1*SH*{group}",
            "AK2*856*0001",
            "AK5*A",
            "AK2*856*0002",
            "AK5*R*5",
            "AK9*P*2*2*1",
            "SE*8*0001",
            "GE*1*78",
            "IEA*1*000000078~",
        ]
    ).encode()
    assert api.post("/v1/adapters/x12", content=partly, headers={"Content-Type": "application/edi-x12"}).is_success
    wait_for(lambda: correlated(api), timeout=30)
    assert edi("856_rejected_by_997") == [] and edi("856_without_997") == []
