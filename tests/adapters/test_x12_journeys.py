"""An 850 and the matching 855, 856 and 810 (same PO), posted in any order, land in one journey;
an 856 naming two POs relates its packs to both orders without merging them."""

from __future__ import annotations

import itertools

import httpx

from tests.conftest import ServerProcess, correlated, wait_for

BUYER, SELLER = "ACMERETAIL", "WIDGETCO"


def interchange(
    sender: str, receiver: str, control: int, functional: str, set_id: str, body: list[str], when: str = "202611201000"
) -> bytes:
    """A well-formed X12 004010 interchange with one group and one transaction set, made at `when`
    (CCYYMMDDHHMM, no time code)."""
    parties = f"ZZ*{sender:<15}*ZZ*{receiver:<15}"
    isa = f"ISA*00*          *00*          *{parties}*{when[2:8]}*{when[8:]}*U*00401*{control:09d}*0*P*>"
    segments = [f"ST*{set_id}*0001", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    lines = [
        isa,
        f"GS*{functional}*{sender}*{receiver}*{when[:8]}*{when[8:]}*{control}*X*004010",
        *segments,
        f"GE*1*{control}",
        f"IEA*1*{control:09d}",
    ]
    return ("~\n".join(lines) + "~\n").encode()


def documents(po: str, n: int) -> dict[str, bytes]:
    return {
        "850": interchange(
            BUYER,
            SELLER,
            100 + n,
            "PO",
            "850",
            [f"BEG*00*SA*{po}**20261120", "DTM*010*20261122", f"PO1*1*10*EA***VP*SKU-{n}", "CTT*1"],
        ),
        "855": interchange(
            SELLER,
            BUYER,
            200 + n,
            "PR",
            "855",
            [f"BAK*00*AC*{po}*20261120", f"PO1*1*10*EA***VP*SKU-{n}", "ACK*IA*10*EA", "CTT*1"],
        ),
        "856": interchange(
            SELLER,
            BUYER,
            300 + n,
            "SH",
            "856",
            [
                f"BSN*00*SHP{n}*20261121*1200",
                "HL*1**S",
                "TD5**2*UPSN",
                f"REF*BM*BOL{n}",
                "HL*2*1*O",
                f"PRF*{po}",
                "HL*3*2*P",
                f"MAN*GM*00000123450000000{n}",
                f"REF*CN*1Z999AA1000000{n}",
                "HL*4*3*I",
                f"LIN*1*VP*SKU-{n}",
                "SN1**10*EA",
                "CTT*4",
            ],
        ),
        "810": interchange(
            SELLER,
            BUYER,
            400 + n,
            "IN",
            "810",
            [f"BIG*20261122*INV{n}**{po}", f"IT1*1*10*EA*9.5**VP*SKU-{n}", "TDS*9500", "CTT*1"],
        ),
    }


def post(api: httpx.Client, body: bytes) -> dict[str, object]:
    response = api.post("/v1/adapters/x12", content=body, headers={"Content-Type": "application/edi-x12"})
    assert response.status_code == 202, response.text
    result = response.json()
    assert result["rejected"] == [] and result["accepted"] == 1, result
    return result


def test_the_documents_of_one_po_land_in_one_journey_in_any_order(server: ServerProcess) -> None:
    docs = documents("4500012", 1)
    orders = list(itertools.permutations(["850", "855", "856", "810"]))
    for i, order in enumerate([orders[0], orders[-1], orders[9], orders[17]]):
        with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": f"x12-order-{i}"}, timeout=60) as api:
            for set_id in order:
                post(api, docs[set_id])
            wait_for(lambda a=api: correlated(a))
            (match,) = api.get("/v1/lookup", params={"q": "4500012"}).json()["matches"]
            (journey_id,) = match["journeys"]
            journey = api.get(f"/v1/journeys/{journey_id}").json()
            assert [e["type"] for e in journey["events"]] == [
                "order.received",
                "order.accepted",
                "shipment.manifested",
                "order.invoiced",
            ]
            assert journey["stage"] == "manifested"
            for identifier in ("1Z999AA10000001", "INV1"):
                found = api.get("/v1/lookup", params={"q": identifier}).json()["matches"]
                assert [m["journeys"] for m in found] == [[journey_id]], identifier


def test_an_asn_for_two_pos_relates_each_order_to_its_own_pack(api: httpx.Client) -> None:
    for n, po in ((1, "PO-A"), (2, "PO-B")):
        post(api, documents(po, n)["850"])
    asn = interchange(
        SELLER,
        BUYER,
        999,
        "SH",
        "856",
        [
            "BSN*00*SHP9*20261121*1200",
            "HL*1**S",
            "REF*BM*BOL9",
            "HL*2*1*O",
            "PRF*PO-A",
            "HL*3*2*P",
            "REF*CN*1ZPACKA",
            "HL*4*1*O",
            "PRF*PO-B",
            "HL*5*4*P",
            "REF*CN*1ZPACKB",
            "CTT*5",
        ],
    )
    post(api, asn)
    wait_for(lambda: correlated(api))
    journeys = {po: api.get("/v1/lookup", params={"q": po}).json()["matches"][0]["journeys"] for po in ("PO-A", "PO-B")}
    assert journeys["PO-A"] != journeys["PO-B"] and all(len(j) == 1 for j in journeys.values())
    assert api.get("/v1/lookup", params={"q": "1ZPACKA"}).json()["matches"][0]["journeys"] == journeys["PO-A"]
    assert api.get("/v1/lookup", params={"q": "1ZPACKB"}).json()["matches"][0]["journeys"] == journeys["PO-B"]
    # The BOL-level load is downstream of both packs, so the ASN shows in both journeys.
    for po, (journey_id,) in journeys.items():
        events = api.get(f"/v1/journeys/{journey_id}").json()["events"]
        assert [e["type"] for e in events] == ["order.received", "shipment.manifested"], po


def test_documents_dated_before_an_overnight_transmission_keep_the_journey_in_order(api: httpx.Client) -> None:
    """The 850 arrives at 15:00; its 855 and 810, dated that day and the next, go out after midnight
    with no time of their own. Read as midnight they came before the 850 and the 856, and the
    journey showed negative durations; the day's last second keeps every stage in order."""
    po = "4500099"

    def dated(body: bytes, sent_date: str, sent_time: str) -> bytes:
        return body.replace(b"261120*1000", f"{sent_date[2:]}*{sent_time}".encode()).replace(
            b"20261120*1000", f"{sent_date}*{sent_time}".encode()
        )

    docs = documents(po, 9)
    post(api, dated(docs["850"], "20261120", "1500"))
    post(api, dated(docs["855"], "20261121", "0020"))  # BAK04 20261120
    post(api, dated(docs["856"], "20261121", "1300"))  # BSN 20261121 1200
    post(api, dated(docs["810"], "20261123", "0200"))  # BIG01 20261122
    wait_for(lambda: correlated(api))
    (match,) = api.get("/v1/lookup", params={"q": po}).json()["matches"]
    (journey_id,) = match["journeys"]
    journey = api.get(f"/v1/journeys/{journey_id}").json()
    assert [(e["type"], e["time"]) for e in journey["events"]] == [
        ("order.received", "2026-11-20T15:00:00Z"),
        ("order.accepted", "2026-11-20T23:59:59Z"),
        ("shipment.manifested", "2026-11-21T12:00:00Z"),
        ("order.invoiced", "2026-11-22T23:59:59Z"),
    ]
    assert journey["durations"]["received->accepted"] == 9 * 3600 - 1
    assert all(seconds >= 0 for seconds in journey["durations"].values()), journey["durations"]
    assert not [a for a in journey["anomalies"] if a["kind"] == "out_of_sequence"]
