"""Declarative mapping adapters: the shipped ERPNext and WMS mappings, and mapping-file validation."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import httpx
import pytest

from adapters.base import AdapterError
from adapters.mapping import MappingAdapter, MappingError, load_folder, load_mapping, register_folder
from adapters.registry import ADAPTERS
from collector.app import create_app
from tests.conftest import wait_for
from tests.support.ocel import FIXTURES
from tower.events import validate_event
from tower.settings import Settings

ERPNEXT = FIXTURES / "erp" / "erpnext" / "sales_order_test_records.json"

WMS_CSV = textwrap.dedent(
    """\
    order_no,pick_ticket,status,sku,qty,warehouse,tracking,carrier,confirmed_at
    SO-1001,PT-77,picked,SKU-A,2,DC-East,,,2024-05-01T10:00:00Z
    SO-1001,PT-77,picked,SKU-B,1,DC-East,,,2024-05-01T10:00:00Z
    SO-1001,PT-77,Packed,SKU-A,2,DC-East,,,2024-05-01T11:30:00+02:00
    SO-1001,PT-77,Packed,SKU-B,1,DC-East,,,2024-05-01T11:30:00+02:00
    SO-1001,PT-77,shipped,SKU-A,2,DC-East,1Z999AA10123456784,UPS,2024-05-01 12:00:00
    SO-1001,PT-77,shipped,SKU-B,1,DC-East,9400100000000000000000,USPS,2024-05-01 12:05:00
    """
).encode()

MINIMAL = """\
name: tiny
source: erp/tiny
id: "no"
time: "at"
type: "'order.received'"
objects:
  - type: order
    ids: {erp: "no"}
"""


def parse(name: str, body: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    result = ADAPTERS[f"mapping/{name}"].parse(body, {}, {})
    for ev in result.events:
        checked, problems = validate_event(ev)
        assert problems == [] and checked is not None, (ev, problems)
    return result.events, result.notes


def erpnext_docs() -> list[dict[str, Any]]:
    """The fixture's records are ERPNext test templates, which ERPNext names on insert
    (`naming_series` + a counter); a webhook always carries that `name`."""
    docs = json.loads(ERPNEXT.read_text(encoding="utf-8"))
    for i, doc in enumerate(docs, 1):
        doc["name"] = f"{doc['naming_series']}{i:05d}"
    return docs


# -- registration ------------------------------------------------------------------------------


def test_each_shipped_mapping_registers_under_mapping_slash_name() -> None:
    assert isinstance(ADAPTERS["mapping/erpnext-sales-order"], MappingAdapter)
    assert ADAPTERS["mapping/erpnext-sales-order"].content_types == ("application/json",)
    assert ADAPTERS["mapping/generic-wms-confirmation"].content_types == ("text/csv", "text/plain")


def test_a_user_folder_loads_and_names_the_bad_file(tmp_path: Any) -> None:
    (tmp_path / "tiny.yaml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a mapping", encoding="utf-8")
    assert [m.name for m in load_folder(tmp_path)] == ["tiny"]
    (tmp_path / "zz-bad.yaml").write_text(MINIMAL.replace('id: "no"\n', ""), encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_folder(tmp_path)
    assert caught.value.key == "id" and "zz-bad.yaml" in str(caught.value)


def test_a_user_folder_registers_at_start_once_and_refuses_a_taken_name(tmp_path: Any) -> None:
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(MINIMAL.replace("name: tiny", "name: tiny-once"), encoding="utf-8")
    assert register_folder(folder) == ["mapping/tiny-once"]
    assert register_folder(folder) == ["mapping/tiny-once"]  # the server started again in this interpreter
    assert isinstance(ADAPTERS["mapping/tiny-once"], MappingAdapter)
    (folder / "tiny.yaml").write_text(MINIMAL.replace("name: tiny", "name: erpnext-sales-order"), encoding="utf-8")
    with pytest.raises(ValueError, match="'mapping/erpnext-sales-order'"):
        register_folder(folder)
    with pytest.raises(MappingError, match="is not a folder"):
        register_folder(tmp_path / "nowhere")


def test_a_bad_mapping_folder_stops_the_start_not_an_import(tmp_path: Any) -> None:
    (tmp_path / "zz-bad.yaml").write_text(MINIMAL.replace('id: "no"\n', ""), encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        create_app(Settings(data_dir=tmp_path / "store", mappings_dir=tmp_path))
    assert caught.value.key == "id" and "zz-bad.yaml" in str(caught.value)


def test_a_mapping_from_tower_mappings_dir_is_served_and_correlated(start_server: Any, tmp_path: Any) -> None:
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(MINIMAL.replace("name: tiny", "name: tiny-served"), encoding="utf-8")
    server = start_server(env={"TOWER_MAPPINGS_DIR": str(folder)})
    with httpx.Client(base_url=server.url, timeout=30) as api:
        body = json.dumps({"no": "SO-77", "at": "2026-03-01T10:00:00Z"}).encode()
        headers = {"Content-Type": "application/json"}
        response = api.post("/v1/adapters/mapping/tiny-served", content=body, headers=headers)
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == 1
        found = wait_for(lambda: api.get("/v1/lookup", params={"q": "SO-77"}).json()["matches"] or None)
        assert found[0]["object"]["ids"] == {"erp": "SO-77"} and len(found[0]["journeys"]) == 1


# -- ERPNext Sales Order -----------------------------------------------------------------------


def test_erpnext_sales_order_fixture_gives_an_order_received_with_exact_values() -> None:
    events, notes = parse("erpnext-sales-order", json.dumps(erpnext_docs()).encode())
    assert notes == []
    assert len(events) == 1
    ev = events[0]
    assert ev["id"] == "_T-Sales Order-00001/0"
    assert ev["source"] == "erp/erpnext"
    assert ev["type"] == "order.received"
    assert ev["time"] == "2013-02-21T00:00:00Z"
    data = ev["data"]
    assert data["objects"] == [
        {"type": "order", "ids": {"erp": "_T-Sales Order-00001"}},
        {"type": "customer", "ids": {"erp": "_Test Customer"}},
    ]
    assert data["relations"] == [[0, 1]]
    assert data["dims"] == {
        "channel": "erp",
        "system": "erpnext",
        "customer": "_Test Customer",
        "warehouse": "_Test Warehouse - _TC",
    }
    assert data["facts"] == {
        "lines": [{"line": "1", "sku": "_Test Item Home Desktop 100", "quantity": 10.0}],
        "promised_ship_date": "2013-02-23",
        "amount": 1000.0,
        "currency": "INR",
    }


def test_erpnext_single_document_submitted_with_po_and_site_time() -> None:
    doc = erpnext_docs()[0] | {
        "docstatus": 1,
        "po_no": "4500012",
        "modified": "2013-02-21 14:05:09.123456",
        "status": "To Deliver and Bill",
    }
    doc["items"] = [dict(doc["items"][0], idx=3, stock_uom="Nos")]
    events, _ = parse("erpnext-sales-order", json.dumps(doc).encode())
    (ev,) = events
    assert (ev["id"], ev["type"], ev["time"]) == (
        "_T-Sales Order-00001/1",
        "order.accepted",
        "2013-02-21T14:05:09.123456Z",
    )
    assert ev["data"]["objects"][0]["ids"] == {"erp": "_T-Sales Order-00001", "po:_Test Customer": "4500012"}
    assert ev["data"]["facts"]["lines"] == [
        {"line": "3", "sku": "_Test Item Home Desktop 100", "quantity": 10.0, "uom": "Nos"}
    ]
    assert ev["data"]["facts"]["status"] == "To Deliver and Bill"


def test_the_unnamed_fixture_template_is_refused_naming_the_order_object() -> None:
    with pytest.raises(AdapterError) as caught:
        parse("erpnext-sales-order", ERPNEXT.read_bytes())
    assert caught.value.where == "erpnext-sales-order.objects[0] at record 0"


# -- generic WMS confirmation ------------------------------------------------------------------


def test_wms_csv_gives_picked_packed_and_one_manifest_per_parcel() -> None:
    events, notes = parse("generic-wms-confirmation", WMS_CSV)
    assert notes == []
    assert [(e["id"], e["type"], e["time"]) for e in events] == [
        ("PT-77:picked", "fulfillment.picked", "2024-05-01T10:00:00Z"),
        ("PT-77:packed", "fulfillment.packed", "2024-05-01T09:30:00Z"),
        ("PT-77:shipped:1Z999AA10123456784", "shipment.manifested", "2024-05-01T12:00:00Z"),
        ("PT-77:shipped:9400100000000000000000", "shipment.manifested", "2024-05-01T12:05:00Z"),
    ]
    assert {e["source"] for e in events} == {"wms/dc-east"}
    order = {"type": "order", "ids": {"erp": "SO-1001"}}
    pick = {"type": "fulfillment", "ids": {"wms/dc-east": "PT-77"}}
    picked, packed, ups, usps = events
    assert picked["data"]["objects"] == [order, pick]
    assert picked["data"]["relations"] == [[0, 1]]
    assert picked["data"]["facts"] == {
        "lines": [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}],
        "status": "picked",
    }
    assert packed["data"]["facts"]["status"] == "packed"
    assert picked["data"]["dims"] == {"warehouse": "dc-east", "system": "wms"}  # no carrier yet, not "unknown"
    assert ups["data"]["objects"] == [order, pick, {"type": "shipment", "ids": {"tracking:ups": "1Z999AA10123456784"}}]
    assert ups["data"]["relations"] == [[0, 1], [1, 2]]
    assert ups["data"]["facts"]["lines"] == [{"sku": "SKU-A", "quantity": 2}]
    assert ups["data"]["dims"] == {"warehouse": "dc-east", "carrier": "ups", "system": "wms"}
    assert usps["data"]["objects"][2] == {"type": "shipment", "ids": {"tracking:usps": "9400100000000000000000"}}


def test_wms_rows_without_any_identifier_are_skipped_with_a_note() -> None:
    body = WMS_CSV + b",,,,,,,,\n,,picked,SKU-C,1,DC-East,,,2024-05-01T10:00:00Z\n"
    events, notes = parse("generic-wms-confirmation", body)
    assert len(events) == 4
    assert notes == ["generic-wms-confirmation: record 4 names no identifier; skipped"]


def test_wms_unknown_status_is_refused_naming_type_map() -> None:
    body = WMS_CSV.replace(b"Packed", b"cancelled")
    with pytest.raises(AdapterError) as caught:
        parse("generic-wms-confirmation", body)
    assert caught.value.where == "generic-wms-confirmation.type_map at record 1"
    assert "'cancelled'" in caught.value.reason


# -- payload errors ----------------------------------------------------------------------------


def test_non_json_body_is_an_adapter_error_at_body() -> None:
    with pytest.raises(AdapterError) as caught:
        parse("erpnext-sales-order", b"{not json")
    assert caught.value.where == "body"


def test_missing_required_time_names_the_key_and_record() -> None:
    docs = erpnext_docs() * 2
    docs[1] = {k: v for k, v in docs[1].items() if k != "transaction_date"} | {"name": "SO-2"}
    with pytest.raises(AdapterError) as caught:
        parse("erpnext-sales-order", json.dumps(docs).encode())
    assert caught.value.where == "erpnext-sales-order.time at record 1"
    assert "required" in caught.value.reason


def test_missing_csv_field_and_bad_time_name_the_key() -> None:
    no_time = WMS_CSV.replace(b",2024-05-01T10:00:00Z\n", b",\n", 1)
    with pytest.raises(AdapterError) as caught:
        parse("generic-wms-confirmation", no_time)
    assert caught.value.where == "generic-wms-confirmation.time at record 0"
    bad_time = WMS_CSV.replace(b"2024-05-01T10:00:00Z", b"yesterday")
    with pytest.raises(AdapterError) as caught:
        parse("generic-wms-confirmation", bad_time)
    assert caught.value.where == "generic-wms-confirmation.time at record 0"
    no_warehouse = b"order_no,pick_ticket,status,confirmed_at\nSO-1,PT-1,picked,2024-05-01T10:00:00Z\n"
    with pytest.raises(AdapterError) as caught:
        parse("generic-wms-confirmation", no_warehouse)
    assert caught.value.where == "generic-wms-confirmation.objects[1] at record 0"


def test_expression_type_error_and_ragged_csv_are_adapter_errors() -> None:
    mapping = load_mapping(MINIMAL.replace('id: "no"', "id: \"join('-', [no, at])\""))
    with pytest.raises(AdapterError) as caught:
        MappingAdapter(mapping).parse(b'{"no": 5, "at": "2024-01-01"}', {}, {})
    assert caught.value.where == "tiny.id at record 0"
    with pytest.raises(AdapterError) as caught:
        parse("generic-wms-confirmation", WMS_CSV + b"a,b,c,d,e,f,g,h,i,j\n")
    assert caught.value.where == "body row 8"
    with pytest.raises(AdapterError) as caught:
        parse("generic-wms-confirmation", b"\xff\xfe")
    assert caught.value.where == "body"


def test_timezone_option_reads_naive_times_and_dates_in_that_zone() -> None:
    adapter = MappingAdapter(load_mapping(MINIMAL + "timezone: Europe/Berlin\n"))
    body = json.dumps([{"no": "A", "at": "2024-07-01"}, {"no": "B", "at": "2024-01-01T08:00:00"}]).encode()
    assert [e["time"] for e in adapter.parse(body, {}, {}).events] == ["2024-06-30T22:00:00Z", "2024-01-01T07:00:00Z"]


# -- malformed mapping files -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL.replace('id: "no"\n', ""), "id"),
        (MINIMAL.replace('id: "no"', 'id: "items[?"'), "id"),
        (MINIMAL + "colour: blue\n", "colour"),
        (MINIMAL.replace('ids: {erp: "no"}', 'ids: {erp: "no"}\n    kind: x'), "objects[0].kind"),
        (MINIMAL.replace('{erp: "no"}', '{erp: "no[["}'), "objects[0].ids.erp"),
        (MINIMAL.replace('{erp: "no"}', '{"po:{cust[}": "no"}'), "objects[0].ids.po:{cust[} placeholder {cust[}"),
        (MINIMAL.replace("'order.received'", "shout(no)"), "type"),
        (MINIMAL + "type_map: {field: s, map: {a: order.received}}\n", "type"),
        (MINIMAL.replace("type: \"'order.received'\"", "type_map: {field: s, map: {a: Order}}"), "type_map.map.a"),
        (MINIMAL + "relations: [[0, 1]]\n", "relations[0]"),
        (MINIMAL + "format: xml\n", "format"),
        (MINIMAL + "timezone: Mars/Olympus\n", "timezone"),
        (MINIMAL.replace("name: tiny", "name: Tiny Mapping"), "name"),
        (MINIMAL + "facts: {qty: 'to_number('}\n", "facts.qty"),
    ],
)
def test_malformed_mapping_names_the_key(text: str, key: str) -> None:
    with pytest.raises(MappingError) as caught:
        load_mapping(text)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")


def test_not_yaml_or_not_a_mapping_is_refused() -> None:
    for text in ("name: [unclosed", "- a\n- b\n"):
        with pytest.raises(MappingError):
            load_mapping(text)
