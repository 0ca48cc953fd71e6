"""End to end with TOWER_EDI_PARTNER_ZONES: a Chicago buyer's 850 and a Chicago seller's 856 and
810, written on local clocks without time codes, interleave correctly with a Shopify fulfillment
that carries a real UTC offset (the shared fixture's), in one journey. The ERP's acceptance, which
knows the order by both its PO and its Shopify id, ties the two sides together."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.adapters.test_x12_journeys import interchange as x12_interchange
from tests.conftest import ServerProcess, correlated, post_events, wait_for
from tests.support.ocel import FIXTURES

BUYER, SELLER = "ACMERETAIL", "WIDGETCO"
ZONES = f"{BUYER}=America/Chicago,{SELLER}=America/Chicago"


def interchange(
    sender: str, receiver: str, control: int, functional: str, set_id: str, when: str, body: list[str]
) -> bytes:
    return x12_interchange(sender, receiver, control, functional, set_id, body, when=when)


def post(api: httpx.Client, adapter: str, body: bytes, headers: dict[str, str]) -> None:
    response = api.post(f"/v1/adapters/{adapter}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1, response.text


def test_a_chicago_partners_documents_keep_their_place_beside_a_shopify_fulfillment(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(env={"TOWER_EDI_PARTNER_ZONES": ZONES})
    # The Shopify fixture's fulfillment: created 2013-11-01T16:06:08-04:00 (20:06:08Z), tracking 1Z2345.
    fulfillment = json.loads((FIXTURES / "shopify" / "shopify_python_api" / "fulfillment.json").read_bytes())
    fulfillment["fulfillment"]["tracking_company"] = "UPS"
    # Chicago on 2013-11-01 is CDT (UTC-5): 09:00 → 14:00Z, 11:00 → 16:00Z, 16:30 → 21:30Z. Read as
    # UTC, the 810 (16:30Z) would land before the fulfillment (20:06Z) that it really follows.
    x12 = {"Content-Type": "application/edi-x12"}
    order = interchange(
        BUYER, SELLER, 11, "PO", "850", "201311010900", ["BEG*00*SA*PO-CHI**20131101", "PO1*1*2*EA***VP*IPOD2008GREEN"]
    )
    asn = interchange(
        SELLER,
        BUYER,
        12,
        "SH",
        "856",
        "201311011105",
        [
            "BSN*00*SHP-CHI*20131101*1100",
            "HL*1**S",
            "TD5**2*UPSN",
            "HL*2*1*O",
            "PRF*PO-CHI",
            "HL*3*2*P",
            "REF*CN*1Z2345",
        ],
    )
    invoice = interchange(
        SELLER,
        BUYER,
        13,
        "IN",
        "810",
        "201311011630",
        ["BIG*20131101*INV-CHI**PO-CHI", "IT1*1*2*EA*199**VP*IPOD2008GREEN"],
    )
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": "zones"}, timeout=60) as api:
        # a client cannot choose the zone: the server's setting overwrites this header
        post(api, "x12", order, {**x12, "X-Tower-EDI-Partner-Zones": "*=Asia/Tokyo"})
        post(api, "x12", invoice, x12)
        post(
            api,
            "shopify",
            json.dumps(fulfillment).encode(),
            {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "fulfillments/create",
                "X-Shopify-Shop-Domain": "shop.myshopify.com",
            },
        )
        post(api, "x12", asn, x12)
        accepted = {
            "specversion": "1.0",
            "id": "so-1",
            "source": "erp/widgetco",
            "type": "order.accepted",
            "time": "2013-11-01T09:30:00-05:00",
            "data": {
                "objects": [
                    {
                        "type": "order",
                        "ids": {"po:acmeretail": "PO-CHI", "shopify_id/shop.myshopify.com": "450789469"},
                    }
                ]
            },
        }
        post_events(api, [accepted])
        wait_for(lambda: correlated(api))
        (match,) = api.get("/v1/lookup", params={"q": "PO-CHI"}).json()["matches"]
        (journey_id,) = match["journeys"]
        journey = api.get(f"/v1/journeys/{journey_id}").json()
    seen = [(e["source"].split("/")[0], e["type"], e["time"]) for e in journey["events"]]
    assert seen == [
        ("edi", "order.received", "2013-11-01T14:00:00Z"),
        ("erp", "order.accepted", "2013-11-01T14:30:00Z"),
        ("edi", "shipment.manifested", "2013-11-01T16:00:00Z"),
        ("shopify", "shipment.manifested", "2013-11-01T20:06:08Z"),
        ("edi", "order.invoiced", "2013-11-01T21:30:00Z"),
    ]
    assert not [a for a in journey["anomalies"] if "sequence" in str(a)], journey["anomalies"]
    assert journey["durations"]["internal_cycle"] == 2 * 3600  # 850 to the first shipment leaving: two hours

    # POST /v1/deliveries takes the same setting, whatever header the delivery line carries
    other = interchange(BUYER, SELLER, 21, "PO", "850", "201401150900", ["BEG*00*SA*PO-WINTER**20140115"])
    line = {"adapter": "x12", "headers": {"x-tower-edi-partner-zones": "*=Asia/Tokyo"}, "body": other.decode()}
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": "zones"}, timeout=60) as api:
        answer = api.post("/v1/deliveries", content=json.dumps(line), headers={"Content-Type": "application/x-ndjson"})
        assert answer.status_code == 202 and answer.json()["accepted"] == 1, answer.text
        wait_for(lambda: correlated(api))
        (match,) = api.get("/v1/lookup", params={"q": "PO-WINTER"}).json()["matches"]
        (event,) = api.get(f"/v1/journeys/{match['journeys'][0]}").json()["events"]
    assert event["time"] == "2014-01-15T15:00:00Z"  # 09:00 CST, UTC-6
