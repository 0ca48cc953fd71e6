"""The UN/EDIFACT adapter on the shared fixtures (staedi and pydifact samples): envelope checks,
ORDERS / INVOIC mappings, a hand-made DESADV, and the inputs it must refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterError, AdapterResult
from adapters.edifact import parse, tokenize
from adapters.registry import ADAPTERS
from tests.support.ocel import FIXTURES
from tower.events import validate_event

EDI = Path(FIXTURES) / "edi_x12"
STAEDI = EDI / "staedi"
PYDIFACT = EDI / "pydifact"

MAPPED = [
    PYDIFACT / "edifact_order.edi",
    PYDIFACT / "edifact_order2.edi",
    PYDIFACT / "edifact_invoice1.edi",
    STAEDI / "edifact_invoic_d93a_una.edi",
    STAEDI / "edifact_invoic_d97b.edi",
]

# A despatch advice written for these tests (no DESADV among the fixtures): two orders, three
# SSCC-labelled pallets under one consignment level, PO-A on pallets 1 and 3, PO-B on pallet 2.
DESADV = (
    b"UNB+UNOC:3+SUPPLIER1:14+BUYER1:14+240115:0930+DES001'\n"
    b"UNH+M1+DESADV:D:96A:UN:EAN005'\n"
    b"BGM+351+DN-7781+9'\n"
    b"DTM+137:202401150930:203'\n"
    b"DTM+11:20240115:102'\n"
    b"NAD+BY+BUYERGLN::9'\n"
    b"NAD+SU+SUPGLN::9'\n"
    b"TDT+20++30++DHL:172:ZZZ'\n"
    b"CPS+1'\n"
    b"CPS+2+1'\n"
    b"PAC+1++201'\n"
    b"GIN+BJ+354123450000000014'\n"
    b"LIN+1++4000862141404:EN'\n"
    b"QTY+12:10:PCE'\n"
    b"RFF+ON:PO-A'\n"
    b"CPS+3+1'\n"
    b"PAC+1++201'\n"
    b"GIN+BJ+354123450000000021'\n"
    b"LIN+2++4000862141411:EN'\n"
    b"QTY+12:4'\n"
    b"RFF+ON:PO-B'\n"
    b"CPS+4+1'\n"
    b"PAC+1++201'\n"
    b"GIN+BJ+354123450000000038'\n"
    b"LIN+3++4000862141404:EN'\n"
    b"QTY+12:6'\n"
    b"RFF+ON:PO-A'\n"
    b"UNT+27+M1'\n"
    b"UNZ+1+DES001'\n"
)


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
    adapter = ADAPTERS["edifact"]
    assert adapter.name == "edifact"
    assert adapter.content_types == ("application/edifact", "text/plain")


@pytest.mark.parametrize("path", MAPPED, ids=lambda p: p.name)
def test_every_mapped_fixture_yields_one_valid_event(path: Path) -> None:
    ev = only(run(path.read_bytes()))
    assert ev["source"].startswith("edifact/")
    assert ev["type"] in ("order.received", "order.invoiced")


def test_orders_d96a_with_una() -> None:
    result = run((PYDIFACT / "edifact_order.edi").read_bytes())
    ev = only(result)
    assert ev["id"] == "807-1"
    assert ev["source"] == "edifact/12345678"
    assert ev["type"] == "order.received"
    assert ev["time"] == "2015-08-03T00:00:00Z"  # DTM+137:201508030000:203
    assert ev["data"]["objects"] == [{"type": "order", "ids": {"po:8711576000012": "801715918011"}}]
    facts = ev["data"]["facts"]
    assert facts["po_number"] == "801715918011"
    assert facts["promised_delivery_date"] == "2015-08-06"  # DTM+2
    assert [(x["line"], x["sku"], x["quantity"]) for x in facts["lines"]] == [
        ("1", "5020436373085", 8),
        ("2", "5020436373108", 8),
    ]
    assert facts["edifact"]["version"] == "D:96A"
    # this sample ends after UNT: read, with a note
    assert any("no UNZ" in n for n in result.notes)


def test_orders_d96a_without_una() -> None:
    ev = only(run((PYDIFACT / "edifact_order2.edi").read_bytes()))
    assert ev["id"] == "000000001-1"
    assert ev["source"] == "edifact/SENDERID"
    assert ev["time"] == "2025-03-22T00:00:00Z"
    assert ev["data"]["objects"][0]["ids"] == {"po:123456789": "PO123456"}
    assert ev["data"]["facts"]["lines"] == [
        {"line": "1", "sku": "ABC123", "quantity": 10, "uom": None, "product_ids": {"IN": "ABC123"}, "price": 25}
    ]


def test_invoic_d93a_una_decimal_comma() -> None:
    ev = only(run((STAEDI / "edifact_invoic_d93a_una.edi").read_bytes()))
    assert ev["id"] == "9908021557-INVOIC0001"
    assert ev["source"] == "edifact/FHPEDAL"
    assert ev["type"] == "order.invoiced"
    assert ev["time"] == "1999-08-02T00:00:00Z"  # DTM+3 invoice date, no DTM 137
    # no NAD+BY party id: the buyer is the UNB recipient
    assert ev["data"]["objects"] == [
        {"type": "invoice", "ids": {"invoice:fhpedal": "9908001"}},
        {"type": "order", "ids": {"po:hubergmbh": "O0010001"}},
    ]
    assert ev["data"]["relations"] == [[0, 1]]
    facts = ev["data"]["facts"]
    assert [(x["sku"], x["quantity"], x["amount"]) for x in facts["lines"]] == [
        ("4711.001", 1, 750),
        ("4711.002", 1, 19.9),
        ("4711.003", 3, 7.5),
    ]
    assert facts["amounts"] == {"79": 777.4, "124": 124.38, "128": 901.78}
    assert facts["amount"] == 901.78


def test_invoic_d97b() -> None:
    ev = only(run((STAEDI / "edifact_invoic_d97b.edi").read_bytes()))
    assert ev["id"] == "00000000000778-00000000000117"
    assert ev["source"] == "edifact/005435656"
    assert ev["time"] == "2006-05-15T00:00:00Z"
    assert ev["data"]["objects"] == [
        {"type": "invoice", "ids": {"invoice:005435656": "342459"}},
        {"type": "order", "ids": {"po:792820524": "521052"}},
    ]
    facts = ev["data"]["facts"]
    assert facts["currency"] == "USD"
    assert facts["amount"] == 2137.58  # MOA+39
    assert [(x["sku"], x["quantity"], x["uom"]) for x in facts["lines"]] == [
        ("157870", 1020, "EA"),
        ("157871", 20, "EA"),
    ]


def test_invoic_credit_note_with_line_level_order() -> None:
    ev = only(run((PYDIFACT / "edifact_invoice1.edi").read_bytes()))
    assert ev["id"] == "PAYO0012101221-1"
    assert ev["time"] == "1999-10-06T00:00:00Z"  # DTM+137:199910060000 (labelled 102, read by length)
    assert ev["data"]["objects"][0] == {"type": "invoice", "ids": {"invoice:2002993": "1060113800026"}}
    assert ev["data"]["objects"][1] == {"type": "order", "ids": {"po:o0013000093scha-z59": "X18V00003"}}
    facts = ev["data"]["facts"]
    assert facts["credit_note"] is True
    assert facts["lines"][0]["quantity"] == 54
    assert facts["currency"] == "EUR"


def test_desadv_relates_each_order_to_its_own_packs() -> None:
    ev = only(run(DESADV))
    assert ev["id"] == "DES001-M1"
    assert ev["source"] == "edifact/SUPPLIER1"
    assert ev["type"] == "shipment.manifested"
    assert ev["time"] == "2024-01-15T09:30:00Z"
    objects = ev["data"]["objects"]
    assert objects == [
        {"type": "shipment", "ids": {"sscc": "354123450000000014"}},
        {"type": "shipment", "ids": {"sscc": "354123450000000021"}},
        {"type": "shipment", "ids": {"sscc": "354123450000000038"}},
        {"type": "order", "ids": {"po:buyergln": "PO-A"}},
        {"type": "order", "ids": {"po:buyergln": "PO-B"}},
    ]
    assert sorted(ev["data"]["relations"]) == [[0, 3], [1, 4], [2, 3]]
    facts = ev["data"]["facts"]
    assert facts["shipment_id"] == "DN-7781"
    assert facts["carrier"] == "DHL"
    assert ev["data"]["dims"] == {"carrier": "DHL"}
    assert [(x["sku"], x["quantity"], x["order"]) for x in facts["lines"]] == [
        ("4000862141404", 10, "PO-A"),
        ("4000862141411", 4, "PO-B"),
        ("4000862141404", 6, "PO-A"),
    ]


def test_release_character_and_custom_separators() -> None:
    body = (
        b"UNA:+.? 'UNB+UNOC:3+ACME+SHOP+240301:1200+IC9'UNH+7+ORDERS:D:96A:UN'"
        b"BGM+220+PO?+1?'A+9'DTM+137:20240301:102'NAD+BY+Acme Corp::9'LIN+1++SKU?:1:SA'QTY+21:2.5:KGM'"
        b"UNT+7+7'UNZ+1+IC9'"
    )
    ev = only(run(body))
    assert ev["id"] == "IC9-7"
    assert ev["data"]["objects"] == [{"type": "order", "ids": {"po:acme corp": "PO+1'A"}}]
    line = ev["data"]["facts"]["lines"][0]
    assert (line["sku"], line["quantity"], line["uom"]) == ("SKU:1", 2.5, "KGM")


def test_baplie_is_noted_not_mapped() -> None:
    result = run((STAEDI / "edifact_baplie-test.edi").read_bytes())
    assert result.events == []
    assert any("BAPLIE" in n and "not mapped" in n for n in result.notes)
    (ic,) = tokenize((STAEDI / "edifact_baplie-test.edi").read_bytes())
    assert (ic.sender, ic.control, ic.messages[0].ref) == ("SENDER", "UNIQUEID1234", "SENDER123")


def test_tradacoms_is_refused() -> None:
    with pytest.raises(AdapterError) as err:
        parse((STAEDI / "edifact_order.edi").read_bytes(), {}, {})
    assert err.value.where == "STX"
    assert "TRADACOMS" in err.value.reason


def test_orders_with_group_has_a_wrong_unt_count() -> None:
    """The staedi sample's UNT says 21 segments; its message has 18 (UNH…UNT): refused."""
    with pytest.raises(AdapterError) as err:
        parse((STAEDI / "edifact_orders-with-group.edi").read_bytes(), {}, {})
    assert err.value.where == "UNT01"
    assert "UNT01 says 21 segments, the message has 18" in err.value.reason


def test_groups_are_read_when_counts_agree() -> None:
    body = (STAEDI / "edifact_orders-with-group.edi").read_bytes().replace(b"UNT+21+1'", b"UNT+18+1'")
    ev = only(run(body))
    assert ev["id"] == "2722166169492-1"
    assert ev["source"] == "edifact/5400110000009"
    assert ev["time"] == "2001-05-02T22:00:00Z"  # DTM+137:200105022200:203
    assert ev["data"]["objects"][0]["ids"] == {"po:5400110000009": "C1441747"}
    line = ev["data"]["facts"]["lines"][0]
    assert (line["sku"], line["quantity"]) == ("5400111864181", 288)  # QTY+21, not QTY+59
    assert line["product_ids"] == {"EN": "5400111864181", "BP": "8641800"}


D97B = (STAEDI / "edifact_invoic_d97b.edi").read_bytes()


@pytest.mark.parametrize(
    ("body", "where", "reason"),
    [
        (D97B.replace(b"UNT+24+", b"UNT+23+"), "UNT01", "UNT01 says 23 segments, the message has 24"),
        (D97B.replace(b"UNT+24+00000000000117", b"UNT+24+118"), "UNT02", "does not match the UNH01"),
        (D97B.replace(b"UNZ+1+00000000000778", b"UNZ+1+779"), "UNZ02", "does not match the UNB05"),
        (D97B.replace(b"UNZ+1+", b"UNZ+2+"), "UNZ01", "UNZ01 says 2 messages"),
        (D97B[: D97B.index(b"UNT+")], "UNT", "has no UNT trailer"),
        (D97B.rstrip()[:-5], "segment 26", "truncated: 'UNZ+1+0000000000' after the last"),
        (D97B.replace(b"UNT+24+", b"UNT+X+"), "UNT01", "whole number"),
        (b"hello world", "UNB", "starts with UNA or UNB"),
        (b"UNB+UNOA:3+S+R+240101:1200'UNH+1+ORDERS:D:96A:UN'UNT+2+1'UNZ+1+'", "UNB05", "control reference"),
        (b"UNB+UNOA:3+S+R+240101:1200+C1'BGM+220+X'UNZ+0+C1'", "BGM", "outside a UNH"),
    ],
    ids=[
        "unt-count",
        "unt-ref",
        "unz-ref",
        "unz-count",
        "no-unt",
        "cut-segment",
        "unt-nan",
        "not-edi",
        "no-ref",
        "stray",
    ],
)
def test_damaged_interchanges_are_refused(body: bytes, where: str, reason: str) -> None:
    with pytest.raises(AdapterError) as err:
        parse(body, {}, {})
    assert err.value.where == where
    assert reason in err.value.reason


def test_orders_without_document_number() -> None:
    body = b"UNB+UNOA:3+S+R+240101:1200+C1'UNH+1+ORDERS:D:96A:UN'BGM+220'UNT+3+1'UNZ+1+C1'"
    with pytest.raises(AdapterError) as err:
        parse(body, {}, {})
    assert err.value.where == "ORDERS 1 BGM02"


@pytest.mark.parametrize("path", MAPPED, ids=lambda p: p.name)
def test_truncations_parse_or_refuse_cleanly(path: Path) -> None:
    """Every prefix either reads (a whole-message prefix of a UNZ-less sample) or raises AdapterError."""
    body = path.read_bytes()
    for cut in range(len(body)):
        try:
            result = parse(body[:cut], {}, {})
        except AdapterError as err:
            assert err.where and err.reason
            continue
        for ev in result.events:
            assert validate_event(ev)[1] == []
