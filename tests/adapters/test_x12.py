"""The X12 adapter on the shared edi_x12 fixtures: envelopes, separators, mappings, the 997."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterError, AdapterResult
from adapters.registry import ADAPTERS
from adapters.x12 import build_997, parse, tokenize
from tests.support.ocel import FIXTURES
from tower.events import validate_event

EDI = FIXTURES / "edi_x12"
X12_FILES = sorted(p for p in EDI.glob("*/*") if p.is_file() and not p.name.startswith("edifact_"))

# Fixtures whose envelopes are broken, and what the tokenizer must say about them.
BROKEN = {
    "oopfactory-x12parser/210_DBSchenker_SampleMotorFreightDetailsAndInvoice.txt": (
        "GE02",
        "GE02 '24' does not match GS06 '1'",
    ),
    # a missing terminator fuses N1 and N3: the set really has 9 segments
    "oopfactory-x12parser/860_Example1.txt": (
        "SE01",
        "SE01 says 10 segments, the set 56488 has 9 (ST and SE included)",
    ),
    "oopfactory-x12parser/940_simplot.txt": ("GE02", "GE02 '940001777' does not match GS06 '177818711'"),
    # GS carries an extra element, so GS06 is the date
    "oopfactory-x12parser/945_inter-americanproducts.txt": ("GE02", "GE02 '31' does not match GS06 '20021104'"),
}


def rel(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def read(name: str) -> bytes:
    return (EDI / name).read_bytes()


def run(name: str | bytes) -> AdapterResult:
    return parse(read(name) if isinstance(name, str) else name, {}, {})


def assert_valid(events: list[dict[str, Any]]) -> None:
    for ev in events:
        value, problems = validate_event(ev)
        assert problems == [], (ev["id"], problems)
        assert value is not None


def test_fixture_set_is_present() -> None:
    assert len(X12_FILES) >= 30


@pytest.mark.parametrize("path", X12_FILES, ids=rel)
def test_every_fixture_parses_or_fails_precisely(path: Path) -> None:
    if rel(path) in BROKEN:
        where, reason = BROKEN[rel(path)]
        with pytest.raises(AdapterError) as err:
            run(rel(path))
        assert (err.value.where, err.value.reason) == (where, reason)
        return
    result = run(rel(path))
    assert result.events, result.notes
    assert_valid(result.events)
    for ev in result.events:
        assert ev["source"].startswith("edi/") and ev["time"].endswith("Z")


def test_registered() -> None:
    adapter = ADAPTERS["x12"]
    assert adapter.content_types == ("application/edi-x12", "text/plain")
    assert adapter.parse(read("node-x12/850.edi"), {}, {}).events


def test_850_node_x12() -> None:
    result = run("node-x12/850.edi")
    (ev,) = result.events
    assert ev["id"] == "000003438-1421-000000010"
    assert ev["source"] == "edi/4405197800"
    assert ev["type"] == "order.received"
    assert ev["time"] == "2010-11-27T17:19:00Z"
    assert ev["data"]["objects"] == [{"type": "order", "ids": {"po:4405197800": "08292233294"}}]
    facts = ev["data"]["facts"]
    assert [line["quantity"] for line in facts["lines"]] == [120, 220, 126, 76, 72, 696]
    assert facts["lines"][0] == {
        "line": "1",
        "sku": "AB3542",
        "quantity": 120,
        "uom": "EA",
        "product_ids": {"CB": "065322-117", "PR": "RO", "VN": "AB3542"},
    }
    assert facts["promised_delivery_date"] == "2010-12-14"
    assert facts["ship_to"] == {"name": "XYZ RETAIL", "id_qualifier": "9", "id": "0003947268292"}
    assert result.reply_content_type == "application/edi-x12"


def test_850_newline_terminator_matches_tilde() -> None:
    assert run("node-x12/850_2.edi").events == run("node-x12/850.edi").events


def test_850_adobe_tlp_tilde_elements_cr_terminator() -> None:
    (interchange,) = tokenize(read("oopfactory-x12parser/850_Example2_Adobe_TLP.txt"))
    assert (interchange.element_sep, interchange.segment_term, interchange.component_sep) == ("~", "\r", ">")
    assert interchange.repetition_sep is None
    (ev,) = run("oopfactory-x12parser/850_Example2_Adobe_TLP.txt").events
    assert ev["data"]["objects"][0]["ids"] == {"po:000000000": "TLP-X12"}
    facts = ev["data"]["facts"]
    assert facts["promised_ship_date"] == "2010-06-14"
    assert facts["lines"] == [
        {
            "line": "1",
            "sku": "12345678",
            "quantity": 1,
            "uom": "EA",
            "product_ids": {"BP": "12345678", "MG": "64113730AD01A00"},
        }
    ]


def test_short_isa_header_is_read_by_counting_and_noted() -> None:
    result = run("oopfactory-x12parser/850_Example3_Adobe_CLP.txt")
    assert result.notes == ["ISA header is 105 characters, not 106; separators read by counting elements"]
    assert result.events[0]["data"]["facts"]["po_number"] == "ANSI-X12-CLP"


def test_repetition_separator_only_from_00402() -> None:
    (old,) = tokenize(read("node-x12/850.edi"))
    (new,) = tokenize(read("node-x12/856.edi"))
    assert (old.version, old.repetition_sep) == ("00400", None)
    assert (new.version, new.repetition_sep) == ("00406", "-")
    # repetitions are not split: the BOL keeps its '-'
    (ev,) = run("node-x12/856.edi").events
    assert ev["data"]["objects"][0] == {
        "type": "load",
        "ids": {"bol:4405197800": "999999-001", "asn:4405197800": "829716"},
    }


def test_855_acknowledgements() -> None:
    events = run("oopfactory-x12parser/855_855SSimmons.txt").events
    assert [e["type"] for e in events] == ["order.accepted", "order.accepted"]
    assert events[0]["data"]["objects"] == [
        {"type": "order", "ids": {"po:1234567890": "7542", "so:121792154": "83517234"}}
    ]
    assert events[0]["data"]["facts"]["promised_delivery_date"] == "2011-10-07"
    (ev,) = run("node-x12/855.edi").events
    assert [line["status"] for line in ev["data"]["facts"]["lines"]] == ["IA", "IR", "IR", "IA"]


def test_855_rejected() -> None:
    body = read("node-x12/855.edi").replace(b"BAK*00*AD*", b"BAK*00*RJ*")
    (ev,) = run(body).events
    assert ev["type"] == "order.rejected"
    assert ev["data"]["facts"]["acknowledgement_type"] == "RJ"


def test_856_gregarican_pack_with_sscc() -> None:
    (ev,) = run("oopfactory-x12parser/856_FromGregarican.txt").events
    assert ev["type"] == "shipment.manifested"
    assert ev["data"]["objects"] == [
        {"type": "load", "ids": {"bol:2125931122": "521649209219", "asn:2125931122": "521649209219"}},
        {"type": "shipment", "ids": {"sscc": "00007121610006156802"}},
        {"type": "order", "ids": {"po:6143364545": "SO/VINCE1"}},
    ]
    assert sorted(ev["data"]["relations"]) == [[0, 1], [1, 2]]


def test_856_without_packs_relates_orders_to_the_shipment() -> None:
    (ev,) = run("oopfactory-x12parser/856_Example2.txt").events
    objects = ev["data"]["objects"]
    assert [o["type"] for o in objects] == ["load", "shipment", "order", "order"]
    assert sorted(ev["data"]["relations"]) == [[0, 1], [1, 2], [1, 3]]
    assert [line["quantity"] for line in ev["data"]["facts"]["lines"]] == [1400, 1500]


MULTI_856 = (
    "ISA*00*          *00*          *ZZ*SELLER         *ZZ*BUYER          *240101*1200*U*00401*000000007*0*P*>~\n"
    "GS*SH*SELLER*BUYER*20240101*1200*7*X*004010~\n"
    "ST*856*0001~BSN*00*ASN1*20240102*0930~"
    "HL*1**S~TD5*B*2*UPSN~REF*BM*BOL1~"
    "HL*2*1*O~PRF*PO-A~HL*3*2*P~MAN*GM*SSCC-A1~HL*4*3*I~LIN*1*VP*X~SN1**2*EA~"
    "HL*5*2*P~REF*CN*1ZTRACKA2~HL*6*5*I~LIN*2*VP*Y~SN1**1*EA~"
    "HL*7*1*O~PRF*PO-B~HL*8*7*P~MAN*GM*SSCC-B1~HL*9*8*I~LIN*1*VP*Z~SN1**5*EA~"
    "SE*25*0001~GE*1*7~IEA*1*000000007~"
)


def test_856_relates_each_order_only_to_its_own_packs() -> None:
    (ev,) = run(MULTI_856.encode()).events
    objects = ev["data"]["objects"]
    assert objects == [
        {"type": "load", "ids": {"bol:seller": "BOL1", "asn:seller": "ASN1"}},
        {"type": "shipment", "ids": {"sscc": "SSCC-A1"}},
        {"type": "shipment", "ids": {"tracking:ups": "1ZTRACKA2"}},
        {"type": "shipment", "ids": {"sscc": "SSCC-B1"}},
        {"type": "order", "ids": {"po:buyer": "PO-A"}},
        {"type": "order", "ids": {"po:buyer": "PO-B"}},
    ]
    assert sorted(ev["data"]["relations"]) == [[0, 1], [0, 2], [0, 3], [1, 4], [2, 4], [3, 5]]
    assert ev["time"] == "2024-01-02T09:30:00Z"
    assert [(line["order"], line["quantity"]) for line in ev["data"]["facts"]["lines"]] == [
        ("PO-A", 2),
        ("PO-A", 1),
        ("PO-B", 5),
    ]
    assert_valid([ev])


def test_810_invoices() -> None:
    events = run("oopfactory-x12parser/810_Example3_MultiInvoice.txt").events
    assert [e["data"]["facts"]["amount"] for e in events] == [8432.02, 1129.92]
    assert events[0]["data"]["objects"] == [
        {"type": "invoice", "ids": {"invoice:abyz000": "465266"}},
        {"type": "order", "ids": {"po:9251750000": "539893"}},
    ]
    assert events[0]["data"]["relations"] == [[0, 1]]
    # BIG01 is a bare date, the group was sent days later (GS04 20020527): the last second of that day
    assert events[0]["time"] == "2002-05-24T23:59:59Z"


def test_mixed_groups_810_and_850() -> None:
    events = run("staedi/invoice810_po850_dual.edi").events
    assert [e["type"] for e in events] == ["order.invoiced", "order.invoiced", "order.received"]
    assert events[2]["id"] == "000000020-165-000191240"
    assert events[2]["time"] == "2004-03-17T00:00:00Z"  # BEG05 040317, YYMMDD


def test_a_rejecting_997_is_a_failed_sync_step_of_its_flow() -> None:
    result = run("staedi/simple997.edi")  # AK1*HC*000001, AK9*R*1*1*0
    (ev,) = result.events
    assert ev["type"] == "sync.failed"
    facts = ev["data"]["facts"]
    assert (facts["status"], facts["received"], facts["accepted"], facts["rejected"]) == ("R", 1, 0, 1)
    # the flow is the kind of group acknowledged, the instance is a fact of its own
    assert (facts["system"], facts["operation"]) == ("edi", "997.hc")
    assert (facts["functional_id"], facts["group_control"]) == ("HC", "000001")
    assert facts["error"] == "HC group 000001 rejected (R): 0 of 1 sets accepted"
    assert facts["accepted_sets"] == []
    assert ev["data"]["dims"] == {"system": "edi"}
    assert facts["sets"] == [
        {
            "set_id": "837",
            "control": "0021",
            "status": "R",
            "error_codes": ["5"],
            "errors": [
                {"segment": "AK3", "elements": ["NM1", "8", "", "8"]},
                {"segment": "AK4", "elements": ["8", "66", "7", "MI"]},
            ],
        }
    ]
    assert facts["documents_ok"] is False
    assert result.reply is None  # acknowledgements are not acknowledged


def test_multiple_interchanges_in_one_body() -> None:
    interchanges = tokenize(read("staedi/simple997-multiple-interchanges.edi"))
    assert [i.control for i in interchanges] == ["000000001", "000000002", "000000003"]
    events = run("staedi/simple997-multiple-interchanges.edi").events
    assert [e["id"] for e in events] == ["000000001-000005-0001", "000000002-000005-0001", "000000003-000005-0001"]


def test_214_ellipsis_terminator() -> None:
    (interchange,) = tokenize(read("staedi/ts214_ellipses_segterm.edi"))
    assert interchange.segment_term == "\u2026"
    events = run("staedi/ts214_ellipses_segterm.edi").events
    assert [(e["type"], e["time"]) for e in events] == [
        ("shipment.eta_updated", "2020-09-11T15:59:00Z"),  # AG 1159 ET (EDT)
        ("shipment.in_transit", "2020-09-10T15:35:00Z"),  # AF
    ]
    assert events[1]["id"] == "000075776-75776-757760001-2"
    assert events[1]["data"]["objects"] == [
        {"type": "shipment", "ids": {"tracking:xxxx": "0542550913", "shipment:dddddd": "7727019"}}
    ]
    assert events[1]["data"]["facts"]["carrier"] == "XXXX"


def test_210_wrapped_at_80_columns() -> None:
    (interchange,) = tokenize(read("staedi/ts210_80char.edi"))
    assert interchange.control == "000026003"
    segments = interchange.groups[0].sets[0].segments
    assert segments[0].elements[:4] == ["B3", "", "699751522", "134982"]
    assert any(s.tag == "L5" and s.get(2) == "FSC FUEL SURCHARGE 10.50%" for s in segments)
    (ev,) = run("staedi/ts210_80char.edi").events
    assert ev["type"] == "freight.invoiced"
    assert ev["data"]["facts"]["amount"] == 124.17
    assert ev["data"]["facts"]["po_numbers"] == ["109483", "721295"]


def test_846_one_snapshot_per_lin() -> None:
    events = run("oopfactory-x12parser/846_Example2.txt").events
    assert [e["data"]["facts"]["sku"] for e in events] == ["38490-B", "38499-B", "38496-B", "38502-B", "35933"]
    assert events[0]["data"]["facts"]["on_hand"] == 1998.61


def test_unmapped_set_is_noted() -> None:
    body = read("staedi/simple997.edi").replace(b"ST*997*", b"ST*999*")
    result = run(body)
    assert result.events == []
    assert result.notes == ["transaction set 999 is not mapped"]


def test_built_997_reparses_and_matches() -> None:
    (received,) = tokenize(read("staedi/invoice810_po850_dual.edi"))
    reply = run("staedi/invoice810_po850_dual.edi").reply
    assert reply is not None
    (ack,) = tokenize(reply)
    assert (ack.sender, ack.receiver) == (received.receiver, received.sender)
    assert (ack.element_sep, ack.segment_term, ack.component_sep) == ("*", "~", ">")
    assert [g.functional_id for g in ack.groups] == ["FA", "FA"]
    ak9s = [next(s for s in g.sets[0].segments if s.tag == "AK9").elements[1:] for g in ack.groups]
    assert ak9s == [["A", "2", "2", "2"], ["A", "1", "1", "1"]]
    events = parse(reply, {}, {}).events
    assert [(e["type"], e["data"]["facts"]["accepted"]) for e in events] == [
        ("sync.acknowledged", 2),
        ("sync.acknowledged", 1),
    ]
    # one flow per kind of group, whatever its control number: 810s (IN) and 850s (PO)
    assert [(e["data"]["facts"]["operation"], e["data"]["facts"]["group_control"]) for e in events] == [
        ("997.in", "1"),
        ("997.po", "165"),
    ]
    assert all("error" not in e["data"]["facts"] and e["data"]["facts"]["documents_ok"] for e in events)
    assert_valid(events)


def test_built_997_keeps_odd_separators_and_rejects_bad_sets() -> None:
    (received,) = tokenize(read("oopfactory-x12parser/856_Example1.txt"))  # '~' elements, '*' terminator
    reply = build_997(received, rejected={("1", "0001"): "bad"})
    (ack,) = tokenize(reply)
    assert (ack.element_sep, ack.segment_term) == ("~", "*")
    segs = {s.tag: s.elements[1:] for s in ack.groups[0].sets[0].segments}
    assert segs["AK5"] == ["R", "5"]
    assert segs["AK9"] == ["R", "1", "1", "0"]


def test_set_that_cannot_be_mapped_is_rejected_in_the_997() -> None:
    body = read("node-x12/850.edi").replace(b"BEG*00*SA*08292233294*", b"BEG*00*SA**")
    result = run(body)
    assert result.events == []
    assert result.notes == [
        "transaction set 850 000000010 rejected: 850 000000010 BEG03: the purchase order has no PO number"
    ]
    assert result.reply is not None and b"AK5*R*5~AK9*R*1*1*0~" in result.reply


@pytest.mark.parametrize(
    ("old", "new", "where", "reason"),
    [
        (
            b"SE*33*000000010",
            b"SE*12*000000010",
            "SE01",
            "SE01 says 12 segments, the set 000000010 has 33 (ST and SE included)",
        ),
        (b"SE*33*000000010", b"SE*33*000000011", "SE02", "SE02 '000000011' does not match ST02 '000000010'"),
        (b"GE*1*1421", b"GE*1*1422", "GE02", "GE02 '1422' does not match GS06 '1421'"),
        (b"GE*1*1421", b"GE*2*1421", "GE01", "GE01 says 2 transaction sets, group 1421 has 1"),
        (b"IEA*1*000003438", b"IEA*1*000003439", "IEA02", "IEA02 '000003439' does not match ISA13 '000003438'"),
        (
            b"IEA*1*000003438",
            b"IEA*3*000003438",
            "IEA01",
            "IEA01 says 3 functional groups, interchange 000003438 has 1",
        ),
        (b"IEA*1*000003438~", b"", "IEA", "interchange 000003438 has no IEA trailer"),
    ],
)
def test_envelope_errors(old: bytes, new: bytes, where: str, reason: str) -> None:
    body = read("node-x12/850.edi")
    assert old in body
    with pytest.raises(AdapterError) as err:
        run(body.replace(old, new))
    assert (err.value.where, err.value.reason) == (where, reason)


def test_not_x12() -> None:
    with pytest.raises(AdapterError) as err:
        run(read("staedi/edifact_invoic_d97b.edi"))
    assert err.value.where == "ISA"


def test_945_takes_its_shipped_time_from_g62_when_it_gives_one() -> None:
    def interchange(g62: str) -> bytes:
        segs = [
            "ISA*00*          *00*          *ZZ*WESTLOG        *ZZ*ACMEDIST       *260301*2359*U*00401*000000007*0*P*>",
            "GS*SW*WESTLOG*ACMEDIST*20260301*2359*7*X*004010",
            "ST*945*0001",
            "W06*N*SO-0000042*20260301*SH-1",
            *([g62] if g62 else []),
            "W12*CC*4*4**EA**VN*SKU-1001",
            f"SE*{5 if g62 else 4}*0001",
            "GE*1*7",
            "IEA*1*000000007",
        ]
        return ("~".join(segs) + "~").encode()

    with_time = parse(interchange("G62*11*20260301*8*143005"), {}, {}).events[0]
    assert with_time["type"] == "fulfillment.packed"
    assert with_time["time"] == "2026-03-01T14:30:05Z"
    # without a G62, the W06 date at the group's time, as before
    assert parse(interchange(""), {}, {}).events[0]["time"] == "2026-03-01T23:59:00Z"
    # G62-05 names the zone of its time (was ignored: 14:30 Eastern read as 14:30 UTC, five hours early)
    eastern = parse(interchange("G62*11*20260301*8*143005*ET"), {}, {}).events[0]
    assert eastern["time"] == "2026-03-01T19:30:05Z"


def envelope(sender: str, receiver: str, functional: str, sent: str, body: list[str], control: int = 1) -> bytes:
    """One interchange, one group, one set; `sent` is the envelope's CCYYMMDDHHMM (GS04/GS05, ISA09/ISA10)."""
    st = [f"ST*{body[0]}*0001", *body[1:]]
    segs = [
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{receiver:<15}*{sent[2:8]}*{sent[8:]}*U*00401*"
        f"{control:09d}*0*P*>",
        f"GS*{functional}*{sender}*{receiver}*{sent[:8]}*{sent[8:]}*{control}*X*004010",
        *st,
        f"SE*{len(st) + 1}*0001",
        f"GE*1*{control}",
        f"IEA*1*{control:09d}",
    ]
    return ("~".join(segs) + "~").encode()


def test_a_bare_date_is_never_before_the_documents_it_answers() -> None:
    """An 850 sent at 15:00, its 855 and 810 dated that day but sent after midnight, the 856 with
    its own time: the 855 and 810 once read as midnight, hours before the 850, so the journey showed
    negative durations. A bare date sent on a later day is now the last second of that day."""
    order = envelope("BUYER", "SELLER", "PO", "202611201500", ["850", "BEG*00*SA*PO-1**20261120", "PO1*1*2*EA"])
    ack = envelope("SELLER", "BUYER", "PR", "202611210020", ["855", "BAK*00*AC*PO-1*20261120"], 2)
    asn = envelope(
        "SELLER", "BUYER", "SH", "202611211300",
        ["856", "BSN*00*SHP-1*20261121*1230", "HL*1**S", "HL*2*1*O", "PRF*PO-1"], 3,
    )  # fmt: skip
    invoice = envelope("SELLER", "BUYER", "IN", "202611220200", ["810", "BIG*20261121*INV-1**PO-1"], 4)
    times = [(e["type"], e["time"]) for body in (order, ack, asn, invoice) for e in run(body).events]
    assert times == [
        ("order.received", "2026-11-20T15:00:00Z"),  # same day as the envelope: its time
        ("order.accepted", "2026-11-20T23:59:59Z"),
        ("shipment.manifested", "2026-11-21T12:30:00Z"),  # a time of its own wins
        ("order.invoiced", "2026-11-21T23:59:59Z"),
    ]
    assert [t for _, t in times] == sorted(t for _, t in times)


def test_bare_dates_against_the_envelope_on_the_fixtures() -> None:
    # PO dated 2010-08-10, sent 2010-08-17 08:50: that day, at its last second
    (po,) = run("oopfactory-x12parser/850_Example1_PGWGlass.txt").events
    assert po["time"] == "2010-08-10T23:59:59Z"
    # 855 dated the envelope's day (GS04 20090612 2028): the envelope's time
    (ack,) = run("oopfactory-x12parser/855_Example1_Adobe.txt").events
    assert ack["time"] == "2009-06-12T20:28:00Z"
    # invoice dated after its envelope (BIG01 19971211, GS04 19960807): the start of the stated day
    assert run("staedi/simple810.edi").events[0]["time"] == "1997-12-11T00:00:00Z"


def test_a_bad_time_counts_as_no_time_and_the_isa_stands_in_for_a_bad_gs_date() -> None:
    body = envelope("SELLER", "BUYER", "SH", "202611211300", ["856", "BSN*00*SHP-1*20261121*2575", "HL*1**S"])
    assert run(body).events[0]["time"] == "2026-11-21T13:00:00Z"  # BSN04 2575 is no time: the envelope's
    no_gs_date = body.replace(b"*20261121*1300*1*X", b"*2026XX21*1300*1*X")
    assert run(no_gs_date.replace(b"BSN*00*SHP-1*20261121*2575", b"BSN*00*SHP-1")).events[0]["time"] == (
        "2026-11-21T13:00:00Z"
    )


def test_997_status_decides_acknowledged_or_failed_per_group() -> None:
    """A and E accept the group (E with errors noted); P accepts some sets, R/M/W/X none: failed steps.
    The sets a partly accepting 997 accepts one by one are listed, so an ASN among them is answered."""
    (received,) = tokenize(read("staedi/invoice810_po850_dual.edi"))  # group 1: 810s 000000001 and 000000002
    partly = build_997(received, rejected={("1", "000000002"): "bad"})
    events = parse(partly, {}, {}).events
    assert [(e["type"], e["data"]["facts"]["status"]) for e in events] == [
        ("sync.failed", "P"),
        ("sync.acknowledged", "A"),
    ]
    facts = events[0]["data"]["facts"]
    assert facts["accepted_sets"] == ["000000001"]
    assert facts["error"] == "IN group 1 partially accepted (P): 1 of 2 sets accepted"
    assert_valid(events)
    body = read("staedi/simple997.edi")
    for code, etype, ok in (
        ("E", "sync.acknowledged", False),
        ("X", "sync.failed", False),
        ("A", "sync.acknowledged", True),
    ):
        (ev,) = run(body.replace(b"AK9*R*", f"AK9*{code}*".encode())).events
        assert (ev["type"], ev["data"]["facts"]["documents_ok"]) == (etype, ok), code
        assert ("error" in ev["data"]["facts"]) == (etype == "sync.failed"), code
    (noted,) = run(body.replace(b"AK9*R*", b"AK9*E*")).events
    assert noted["data"]["facts"]["warning"] == "HC group 000001 accepted with errors noted (E): 0 of 1 sets accepted"
    odd = run(body.replace(b"AK9*R*", b"AK9*Q*"))
    assert odd.events[0]["type"] == "sync.failed"
    assert odd.notes == ["997 0001: AK901 'Q' is no acknowledgement code, counted as failed"]
