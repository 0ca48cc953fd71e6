"""The OCEL 2.0 adapter: JSON, XML and SQLite readers, the mapping, and the journey export."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterError
from adapters.ocel import parse
from adapters.ocel.export import journeys_to_ocel
from adapters.registry import load_all
from tests.support.ocel import FIXTURES, load_ocel, ocel_to_canonical
from tower.events import validate_event

OCEL = FIXTURES / "ocel"
FLOWVAULT = OCEL / "flowvault"
P2P = OCEL / "pm4py"
CET = {"x-tower-param-timezone": "+01:00"}  # pm4py wrote the XML and SQLite P2P logs in CET, without offsets


def events_of(body: bytes, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return parse(body, headers or {}, {}).events


def shape(events: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """(id, type, sorted object ids, sorted relation triples by object id) per event."""
    out = set()
    for ev in events:
        ids = [obj["ids"]["ocel"] for obj in ev["data"]["objects"]]
        relations = tuple(sorted((ids[i], ids[j], q) for i, j, q in ev["data"]["relations"]))
        out.add((ev["id"], ev["type"], tuple(sorted(ids)), relations))
    return out


@pytest.fixture(scope="module")
def flowvault() -> dict[str, list[dict[str, Any]]]:
    """The order-management log read once per module: by the adapter from JSON and XML, and by the
    test helper."""
    headers = {"x-tower-param-log": "order-management"}
    return {
        "json": events_of((FLOWVAULT / "order-management.json.gz").read_bytes(), headers),
        "xml": events_of((FLOWVAULT / "order-management.xml.gz").read_bytes(), headers),
        "helper": ocel_to_canonical(load_ocel(FLOWVAULT / "order-management.json.gz")),
    }


def test_registered() -> None:
    adapter = load_all()["ocel"]
    assert adapter.name == "ocel"
    assert "application/vnd.sqlite3" in adapter.content_types


def test_flowvault_json_agrees_with_the_test_helper(flowvault: dict[str, list[dict[str, Any]]]) -> None:
    ours, helper = flowvault["json"], flowvault["helper"]
    assert len(ours) == len(helper) == 21008
    assert shape(ours) == shape(helper)
    assert ours == helper  # the JSON log's times are already UTC "Z": every field agrees


def test_flowvault_xml_equals_json(flowvault: dict[str, list[dict[str, Any]]]) -> None:
    assert len(flowvault["xml"]) == len(flowvault["json"])
    assert shape(flowvault["xml"]) == shape(flowvault["json"])
    assert sorted(flowvault["xml"], key=lambda e: e["id"]) == sorted(flowvault["json"], key=lambda e: e["id"])


def test_flowvault_events_validate(flowvault: dict[str, list[dict[str, Any]]]) -> None:
    for ev in flowvault["json"][::7]:
        event, problems = validate_event(ev)
        assert event is not None and not problems, (ev["id"], problems)
    assert {ev["source"] for ev in flowvault["json"]} == {"ocel/order-management"}


P2P_FILES = ["ocel20_example.jsonocel", "ocel20_example.xmlocel", "ocel20_example.sqlite"]


@pytest.fixture(scope="module")
def p2p() -> dict[str, list[dict[str, Any]]]:
    return {name: events_of((P2P / name).read_bytes(), CET) for name in P2P_FILES}


@pytest.mark.parametrize("name", P2P_FILES)
def test_p2p_example_in_every_format(name: str, p2p: dict[str, list[dict[str, Any]]]) -> None:
    events = p2p[name]
    assert len(events) == 13
    assert len({obj["ids"]["ocel"] for ev in events for obj in ev["data"]["objects"]}) == 9
    assert events == p2p["ocel20_example.jsonocel"]
    e3 = next(ev for ev in events if ev["id"] == "e3")
    assert e3 == {
        "specversion": "1.0",
        "id": "e3",
        "source": "ocel/log",
        "type": "ocel.create_purchase_order",
        "time": "2022-01-10T08:15:00Z",
        "data": {
            "objects": [
                {"type": "purchase_requisition", "ids": {"ocel": "PR1"}},
                {"type": "purchase_order", "ids": {"ocel": "PO1"}},
            ],
            "relations": [[0, 1, "PO from PR"]],
            "dims": {"system": "ocel"},
            "facts": {"po_creator": "Mike", "activity": "Create Purchase Order"},
        },
    }
    for ev in events:
        event, problems = validate_event(ev)
        assert event is not None and not problems, (ev["id"], problems)


def test_naive_times_are_utc_unless_told_and_noted() -> None:
    result = parse((P2P / "ocel20_example.xmlocel").read_bytes(), {}, {})
    assert next(ev for ev in result.events if ev["id"] == "e3")["time"] == "2022-01-10T09:15:00Z"
    assert any("no UTC offset" in note for note in result.notes)
    with pytest.raises(AdapterError, match="timezone"):
        parse(b"{}", {"x-tower-param-timezone": "Mars/Olympus"}, {})


def test_mapping_from_toml_header() -> None:
    mapping = """
namespace = "p2p"
[activities]
"Create Purchase Order" = "order.received"
[object_types]
"Purchase Order" = "order"
"""
    events = events_of((P2P / "ocel20_example.jsonocel").read_bytes(), {"x-tower-param-mapping": mapping})
    e3 = next(ev for ev in events if ev["id"] == "e3")
    assert e3["type"] == "order.received"
    assert e3["data"]["objects"][1] == {"type": "order", "ids": {"p2p": "PO1"}}
    assert next(ev for ev in events if ev["id"] == "e1")["type"] == "ocel.create_purchase_requisition"
    with pytest.raises(AdapterError) as bad:
        events_of(b"{}", {"x-tower-param-mapping": '[activities]\n"x" = "Not A Type"'})
    assert bad.value.where == "mapping.activities.x"


def _sqlite_bytes(tmp_path: Path, sql: str) -> bytes:
    path = tmp_path / "log.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(sql)
    db.close()
    return path.read_bytes()


def test_malformed_inputs_name_where(tmp_path: Path) -> None:
    flowvault = (FLOWVAULT / "order-management.json.gz").read_bytes()
    cases: list[tuple[bytes, str, str]] = [
        (flowvault[: len(flowvault) // 2], "body", "gzip"),
        (json.dumps({"objects": []}).encode(), "events", "required"),
        (b'<?xml version="1.0"?><feed><entry/></feed>', "/", "<feed>"),
        (b"<log><events><event", "body", "well-formed"),
        (_sqlite_bytes(tmp_path, "CREATE TABLE object (ocel_id TEXT, ocel_type TEXT);"), "table event", "missing"),
        (
            json.dumps({"events": [{"id": "e1", "type": "a", "time": "yesterday"}], "objects": []}).encode(),
            "events[0].time",
            "ISO 8601",
        ),
        (b"plain text", "body", "not an OCEL 2.0 log"),
    ]
    for body, where, reason in cases:
        with pytest.raises(AdapterError) as caught:
            events_of(body)
        assert caught.value.where == where, (where, caught.value)
        assert reason in str(caught.value)


def test_unknown_object_is_named() -> None:
    log = {
        "events": [
            {
                "id": "e1",
                "type": "a",
                "time": "2024-01-01T00:00:00Z",
                "relationships": [{"objectId": "x", "qualifier": ""}],
            }
        ],
        "objects": [],
    }
    with pytest.raises(AdapterError, match="'x'") as caught:
        events_of(json.dumps(log).encode())
    assert "e1" in caught.value.where


@pytest.mark.parametrize("name", ["example_log.jsonocel", "example_log.xmlocel", "example_log.sqlite"])
def test_ocel_1_is_refused(name: str) -> None:
    with pytest.raises(AdapterError, match=r"OCEL 1\.0"):
        events_of((P2P / name).read_bytes())


def _check_ocel2_json(log: dict[str, Any]) -> None:
    """schema_ocel2.json by hand (jsonschema is not installed): required keys and their types."""
    schema = json.loads((P2P / "schema_ocel2.json").read_text())
    assert set(schema["required"]) <= set(log)
    for key in ("eventTypes", "objectTypes"):
        for item in log[key]:
            assert isinstance(item["name"], str)
            assert all(isinstance(a["name"], str) and isinstance(a["type"], str) for a in item["attributes"])
    for ev in log["events"]:
        assert all(isinstance(ev[k], str) for k in ("id", "type", "time"))
        assert all(isinstance(a["name"], str) and isinstance(a["value"], str) for a in ev["attributes"])
        assert all(isinstance(r["objectId"], str) and isinstance(r["qualifier"], str) for r in ev["relationships"])
    object_ids = {obj["id"] for obj in log["objects"]}
    for obj in log["objects"]:
        assert isinstance(obj["id"], str) and isinstance(obj["type"], str)
        assert all(isinstance(a[k], str) for a in obj["attributes"] for k in ("name", "value", "time"))
        assert all(r["objectId"] in object_ids and isinstance(r["qualifier"], str) for r in obj["relationships"])
    assert {r["objectId"] for ev in log["events"] for r in ev["relationships"]} <= object_ids
    assert len({ev["id"] for ev in log["events"]}) == len(log["events"])
    event_types = {t["name"] for t in log["eventTypes"]}
    object_types = {t["name"] for t in log["objectTypes"]}
    assert {ev["type"] for ev in log["events"]} <= event_types
    assert {obj["type"] for obj in log["objects"]} <= object_types


def test_export_round_trip() -> None:
    order = {"type": "order", "ids": {"erp": "SO-1", "shopify/acme": "#1001"}}
    line = {"type": "order_line", "ids": {"erp": "SO-1/10"}}
    parcel = {"type": "shipment", "ids": {"tracking:ups": "1Z999"}}
    received = {
        "source": "shopify/acme",
        "id": "evt-1",
        "type": "order.received",
        "time": "2024-05-01T10:00:00Z",
        "data": {"objects": [order, line], "relations": [[0, 1, "comprises"]], "facts": {"total": 12.5, "lines": [1]}},
    }
    shipped = {
        "source": "carrier/ups",
        "id": "evt-2",
        "type": "shipment.in_transit",
        "time": "2024-05-02T08:00:00Z",
        "data": {"objects": [parcel, line], "facts": {"carrier": "ups", "pieces": 1}},
    }
    journey = {
        "id": "j-1",
        "objects": [{"id": "obj-1", **order}, {"id": "obj-2", **line}, {"id": "obj-3", **parcel}],
        "events": [received, shipped],
        "relations": [
            {"a": "obj-1", "b": "obj-2", "qualifier": "comprises"},
            {"a": "obj-3", "b": "obj-2", "qualifier": None},
        ],
    }
    log = journeys_to_ocel([journey, journey])  # the same events twice: deduplicated
    _check_ocel2_json(log)
    assert [ev["id"] for ev in log["events"]] == ["evt-1", "evt-2"]
    assert {(obj["id"], obj["type"]) for obj in log["objects"]} == {
        ("obj-1", "order"),
        ("obj-2", "order_line"),
        ("obj-3", "shipment"),
    }
    back = events_of(json.dumps(log).encode(), {"x-tower-param-log": "export"})
    assert [(ev["id"], ev["type"], ev["time"], ev["data"]["objects"]) for ev in back] == [
        (ev["id"], ev["type"], ev["time"], ev["data"]["objects"]) for ev in (received, shipped)
    ]
    assert back[0]["data"]["facts"]["total"] == 12.5 and back[1]["data"]["facts"]["pieces"] == 1
    assert back[0]["data"]["relations"] == [[0, 1, "comprises"]]
    for ev in back:
        event, problems = validate_event(ev)
        assert event is not None and not problems
    # gzipped, too
    assert events_of(gzip.compress(json.dumps(log).encode())) == [{**ev, "source": "ocel/log"} for ev in back]
