"""The UBL adapter on the OASIS example documents (shared/fixtures/erp/ph-ubl-oasis-examples):
one mapping per document type, and the XML it must refuse with the element path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterError, AdapterResult
from adapters.registry import ADAPTERS
from adapters.ubl import parse
from tests.support.ocel import FIXTURES
from tower.events import validate_event

UBL = Path(FIXTURES) / "erp" / "ph-ubl-oasis-examples"

EXPECTED_TYPES = {
    "UBL-Order-2.1-Example.xml": ["order.received"],
    "UBL-OrderResponse-2.1-Example.xml": ["order.accepted"],
    "UBL-OrderChange-2.1-Example.xml": ["order.changed"],
    "UBL-OrderCancellation-2.1-Example.xml": ["order.cancelled"],
    "UBL-DespatchAdvice-2.0-Example.xml": ["shipment.manifested"],
    "UBL-ReceiptAdvice-2.0-Example.xml": ["shipment.delivered"],
    "UBL-InventoryReport-2.1-Example.xml": ["inventory.snapshot"] * 3,
    "UBL-TransportationStatus-2.1-Example.xml": ["shipment.exception"],
    "UBL-TransportProgressStatus-2.1-Example.xml": ["shipment.status_updated"],
}

NS = (
    'xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" '
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
)


def read(name: str) -> bytes:
    return (UBL / name).read_bytes()


def run(body: bytes) -> AdapterResult:
    result = parse(body, {}, {})
    for ev in result.events:
        _, problems = validate_event(ev)
        assert problems == [], (ev["id"], problems)
    return result


def only(result: AdapterResult) -> dict[str, Any]:
    assert len(result.events) == 1
    return result.events[0]


def test_registered() -> None:
    adapter = ADAPTERS["ubl"]
    assert adapter.content_types == ("application/xml", "text/xml")


def test_every_fixture_is_covered() -> None:
    assert sorted(p.name for p in UBL.glob("*.xml")) == sorted(EXPECTED_TYPES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_every_fixture_yields_valid_events(name: str) -> None:
    result = run(read(name))
    assert [ev["type"] for ev in result.events] == EXPECTED_TYPES[name]
    assert len({ev["id"] for ev in result.events}) == len(result.events)
    assert all(ev["source"].startswith("ubl/") for ev in result.events)


def test_order() -> None:
    ev = only(run(read("UBL-Order-2.1-Example.xml")))
    assert ev["id"] == "Order:34"
    assert ev["source"] == "ubl/7300070011115"  # the buyer's first PartyIdentification (GLN)
    assert ev["time"] == "2010-01-20T12:30:00Z"
    assert ev["data"]["objects"] == [{"type": "order", "ids": {"po:7300070011115": "34"}}]
    facts = ev["data"]["facts"]
    assert facts["promised_delivery_date"] == "2010-02-25"
    assert facts["requested_delivery_period"] == {"start": "2010-02-10", "end": "2010-02-25"}
    assert [(x["line"], x["sku"], x["quantity"], x["uom"]) for x in facts["lines"]] == [
        ("1", "SItemNo001", 120, "LTR"),
        ("2", "SItemNo011", 15, "C62"),
    ]
    assert (facts["currency"], facts["amount"]) == ("SEK", 6225)
    assert facts["seller"] == {"id": "sellerpartyid123", "name": "Moderna Produkter AB"}


def test_order_response_change_and_cancellation_name_the_same_order() -> None:
    response = only(run(read("UBL-OrderResponse-2.1-Example.xml")))
    change = only(run(read("UBL-OrderChange-2.1-Example.xml")))
    cancel = only(run(read("UBL-OrderCancellation-2.1-Example.xml")))
    for ev in (response, change, cancel):
        assert ev["data"]["objects"] == [{"type": "order", "ids": {"po:7300070011115": "34"}}]
        assert ev["time"] == "2010-01-21T12:30:00Z"
    assert (response["id"], response["source"], response["type"]) == (
        "OrderResponse:7",
        "ubl/sellerpartyid123",
        "order.accepted",
    )
    assert [x["status"] for x in response["data"]["facts"]["lines"]] == ["NoStatus", "Disputed"]
    assert (change["id"], change["source"]) == ("OrderChange:7", "ubl/7300070011115")
    assert change["data"]["facts"]["lines"][0]["quantity"] == 240
    assert change["data"]["facts"]["sequence"] == "1"
    assert (cancel["id"], cancel["type"]) == ("OrderCancellation:7", "order.cancelled")
    assert cancel["data"]["facts"]["reason"] == "With reference to phone call"


def test_order_response_rejected_by_code() -> None:
    body = read("UBL-OrderResponse-2.1-Example.xml").replace(
        b"<cbc:DocumentCurrencyCode>", b"<cbc:OrderResponseCode>RE</cbc:OrderResponseCode><cbc:DocumentCurrencyCode>"
    )
    ev = only(run(body))
    assert ev["type"] == "order.rejected"
    assert ev["data"]["facts"]["response_code"] == "RE"


def test_despatch_and_receipt_share_shipment_and_order() -> None:
    despatch = only(run(read("UBL-DespatchAdvice-2.0-Example.xml")))
    receipt = only(run(read("UBL-ReceiptAdvice-2.0-Example.xml")))
    shipment = {"type": "shipment", "ids": {"despatch:co001": "565899"}}
    order = {"type": "order", "ids": {"po:xfb01": "AEG012345", "so:co001": "CON0095678"}}
    assert despatch["id"] == "DespatchAdvice:565899:88C7280E-8F10-419F-9949-8EFFFA2842B8"
    assert despatch["source"] == "ubl/co001"
    assert despatch["time"] == "2005-06-20T00:00:00Z"
    assert despatch["data"]["objects"] == [shipment, order]
    assert despatch["data"]["relations"] == [[0, 1]]
    line = despatch["data"]["facts"]["lines"][0]
    assert (line["sku"], line["quantity"], line["uom"], line["backorder_quantity"]) == ("17589683", 90, "KGM", 10)
    assert receipt["id"] == "ReceiptAdvice:658398:89F82FA6-5331-491D-83BC-7B6CA7FD047C"
    assert receipt["source"] == "ubl/xfb01"
    assert receipt["time"] == "2005-06-20T11:30:00Z"  # ActualDeliveryDate + ActualDeliveryTime 11:30:00.0Z
    assert receipt["data"]["objects"] == [shipment, order]
    assert receipt["data"]["facts"]["lines"][0]["short_quantity"] == 10


def test_despatch_relates_each_order_to_its_own_handling_units() -> None:
    line = (
        "<cac:DespatchLine><cbc:ID>{n}</cbc:ID><cbc:DeliveredQuantity unitCode='EA'>{q}</cbc:DeliveredQuantity>"
        "<cac:OrderLineReference><cbc:LineID>1</cbc:LineID><cac:OrderReference><cbc:ID>{po}</cbc:ID>"
        "</cac:OrderReference></cac:OrderLineReference><cac:Item><cac:SellersItemIdentification><cbc:ID>{sku}"
        "</cbc:ID></cac:SellersItemIdentification></cac:Item><cac:Shipment><cbc:ID>1</cbc:ID>"
        "<cac:TransportHandlingUnit><cbc:ID schemeID='SSCC'>{sscc}</cbc:ID></cac:TransportHandlingUnit>"
        "</cac:Shipment></cac:DespatchLine>"
    )
    body = (
        f"<DespatchAdvice {NS.replace('Order-2', 'DespatchAdvice-2')}><cbc:ID>D1</cbc:ID>"
        "<cbc:IssueDate>2024-02-01</cbc:IssueDate><cbc:IssueTime>08:00:00+01:00</cbc:IssueTime>"
        "<cac:DespatchSupplierParty><cac:Party><cac:PartyIdentification><cbc:ID>SUP</cbc:ID>"
        "</cac:PartyIdentification></cac:Party></cac:DespatchSupplierParty>"
        "<cac:DeliveryCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID>BUY</cbc:ID>"
        "</cac:PartyIdentification></cac:Party></cac:DeliveryCustomerParty>"
        + line.format(n=1, q=5, po="PO-1", sku="A", sscc="111")
        + line.format(n=2, q=7, po="PO-2", sku="B", sscc="222")
        + line.format(n=3, q=1, po="PO-1", sku="C", sscc="333")
        + "</DespatchAdvice>"
    ).encode()
    ev = only(run(body))
    assert ev["source"] == "ubl/sup"
    assert ev["time"] == "2024-02-01T07:00:00Z"
    assert ev["data"]["objects"] == [
        {"type": "shipment", "ids": {"sscc": "111"}},
        {"type": "shipment", "ids": {"sscc": "222"}},
        {"type": "shipment", "ids": {"sscc": "333"}},
        {"type": "order", "ids": {"po:buy": "PO-1"}},
        {"type": "order", "ids": {"po:buy": "PO-2"}},
    ]
    assert sorted(ev["data"]["relations"]) == [[0, 3], [1, 4], [2, 3]]


def test_inventory_report_one_snapshot_per_line() -> None:
    events = run(read("UBL-InventoryReport-2.1-Example.xml")).events
    assert [ev["id"] for ev in events] == [
        "InventoryReport:CC2679-1",
        "InventoryReport:CC2679-2",
        "InventoryReport:CC2679-3",
    ]
    assert {ev["source"] for ev in events} == {"ubl/arancio-forniture-spa"}
    assert [(ev["data"]["facts"]["sku"], ev["data"]["facts"]["on_hand"]) for ev in events] == [
        ("DD88", 10),
        ("DA008", 15),
        ("BA058", 5),
    ]
    assert events[0]["data"]["objects"] == [{"type": "product", "ids": {"sku:arancio-forniture-spa": "DD88"}}]
    assert events[0]["data"]["facts"]["as_of"] == "2010-04-11T00:00:00Z"
    assert events[0]["time"] == "2010-04-12T00:00:00Z"


def test_transportation_status_damage() -> None:
    result = run(read("UBL-TransportationStatus-2.1-Example.xml"))
    ev = only(result)
    assert ev["id"] == "TransportationStatus:TS_1"
    assert ev["source"] == "ubl/unknown"  # the example names no party at all
    assert any("no sender party" in n for n in result.notes)
    assert ev["time"] == "2011-10-06T08:29:30Z"  # 09:29:30+01:00
    assert ev["type"] == "shipment.exception"
    facts = ev["data"]["facts"]
    assert facts["status_code"] == "35"
    assert facts["condition_codes"] == ["4"]
    assert facts["damaged"] is True
    assert facts["status_text"] == "Reefer container lost power - cargo of fish destroyed"
    assert ev["data"]["objects"] == [
        {"type": "shipment", "ids": {"consignment:unknown": "CON_1"}},
        {"type": "shipment", "ids": {"thu:unknown": "CON_THU_1"}},
        {"type": "load", "ids": {"equipment:unknown": "CON_TE_1"}},
    ]


def test_transportation_status_unknown_code() -> None:
    body = (
        read("UBL-TransportationStatus-2.1-Example.xml")
        .replace(b"StatusCode>35<", b"StatusCode>99<")
        .replace(b"<cbc:ConditionCode>4</cbc:ConditionCode>", b"")
    )
    ev = only(run(body))
    assert ev["type"] == "shipment.status_updated"
    assert ev["data"]["facts"]["status_code"] == "99"


def test_transport_progress_status() -> None:
    ev = only(run(read("UBL-TransportProgressStatus-2.1-Example.xml")))
    assert ev["id"] == "TransportProgressStatus:TPSR_1"
    assert ev["source"] == "ubl/4058673821325"
    assert ev["time"] == "2011-10-03T13:30:10Z"
    assert ev["data"]["objects"] == [{"type": "load", "ids": {"journey:4058673821325": "RHamBrem"}}]
    facts = ev["data"]["facts"]
    assert facts["estimated_arrival"] == "2011-10-03T17:30:10Z"
    assert facts["status_request"] == "TPS_1"
    assert facts["status_code"] is None


@pytest.mark.parametrize(
    ("body", "where", "reason"),
    [
        (f"<Order {NS}><cbc:ID>1</cbc:IDX></Order>".encode(), "/Order/cbc:ID", "not well-formed XML: mismatched tag"),
        (
            f"<Order {NS}><cac:OrderLine><cac:LineItem><cbc:ID>1".encode(),
            "/Order/cac:OrderLine/cac:LineItem/cbc:ID",
            "no element found",
        ),
        (b"", "/", "not well-formed"),
        (b"<invoice><id>1</id></invoice>", "/invoice", "is not a UBL 2 document"),
        (
            b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>',
            "/Invoice",
            "UBL Invoice is not mapped",
        ),
        (
            b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>',
            "/Order",
            "does not match its namespace",
        ),
        (f"<Order {NS}><cbc:IssueDate>2024-01-01</cbc:IssueDate></Order>".encode(), "/Order/cbc:ID", "is required"),
        (f"<Order {NS}><cbc:ID>9</cbc:ID></Order>".encode(), "/Order/cbc:IssueDate", "is required"),
        (
            f"<Order {NS}><cbc:ID>9</cbc:ID><cbc:IssueDate>20.1.2024</cbc:IssueDate></Order>".encode(),
            "/Order/cbc:IssueDate",
            "is not an xsd:date",
        ),
        (
            f"<OrderCancellation {NS.replace('Order-2', 'OrderCancellation-2')}><cbc:ID>9</cbc:ID>"
            "<cbc:IssueDate>2024-01-01</cbc:IssueDate></OrderCancellation>".encode(),
            "/OrderCancellation/cac:OrderReference/cbc:ID",
            "names no order",
        ),
    ],
    ids=[
        "mismatched",
        "truncated",
        "empty",
        "not-ubl",
        "unmapped-type",
        "ns-mismatch",
        "no-id",
        "no-date",
        "bad-date",
        "no-ref",
    ],
)
def test_bad_documents_are_refused(body: bytes, where: str, reason: str) -> None:
    with pytest.raises(AdapterError) as err:
        parse(body, {}, {})
    assert err.value.where == where
    assert reason in err.value.reason


def test_truncated_fixture_names_the_open_element() -> None:
    body = read("UBL-Order-2.1-Example.xml")
    cut = body[: body.index(b"<cbc:Quantity") + 30]
    with pytest.raises(AdapterError) as err:
        parse(cut, {}, {})
    assert err.value.where == "/Order/cac:OrderLine/cac:LineItem/cbc:Quantity"


def test_unknown_encoding_is_refused() -> None:
    body = read("UBL-OrderCancellation-2.1-Example.xml").replace(b'encoding="UTF-8"', b'encoding="UTF-a"')
    with pytest.raises(AdapterError) as err:
        parse(body, {}, {})
    assert err.value.where == "/"
    assert "unknown encoding" in err.value.reason


@pytest.mark.parametrize("name", ["UBL-Order-2.1-Example.xml", "UBL-DespatchAdvice-2.0-Example.xml"])
def test_every_truncation_is_refused_cleanly(name: str) -> None:
    body = read(name)
    for cut in range(0, len(body) - 20, 97):
        with pytest.raises(AdapterError) as err:
            parse(body[:cut], {}, {})
        assert err.value.where.startswith("/")
