"""An X12 interchange posted to `/v1/adapters/x12` lands as events in journeys, and gets its 997."""

from __future__ import annotations

import httpx

from tests.conftest import correlated, wait_for
from tests.support.ocel import FIXTURES


def test_a_collective_invoice_shows_in_each_order_it_bills(api: httpx.Client) -> None:
    body = (FIXTURES / "edi_x12/staedi/invoice810_po850_dual.edi").read_bytes()
    response = api.post("/v1/adapters/x12", content=body, headers={"Content-Type": "application/edi-x12"})
    assert response.status_code == 202, response.text
    result = response.json()
    assert (result["events"], result["accepted"], result["duplicates"], result["rejected"]) == (3, 3, 0, [])
    assert result["reply"]["body"].startswith("ISA") and "ST*997*" in result["reply"]["body"]
    wait_for(lambda: correlated(api))

    invoice = api.get("/v1/lookup", params={"q": "00001"}).json()["matches"]
    assert [m["object"]["type"] for m in invoice] == ["invoice"]
    assert len(invoice[0]["journeys"]) == 2
    for po in ("A99999-01", "A99999-04"):
        (match,) = api.get("/v1/lookup", params={"q": po}).json()["matches"]
        journey = api.get(f"/v1/journeys/{match['journeys'][0]}").json()
        assert [e["type"] for e in journey["events"]] == ["order.invoiced"]
        assert match["journeys"][0] in invoice[0]["journeys"]

    again = api.post("/v1/adapters/x12", content=body, headers={"Content-Type": "application/edi-x12"}).json()
    assert (again["accepted"], again["duplicates"]) == (0, 3)


def test_a_broken_envelope_is_rejected_by_name_and_dead_lettered(api: httpx.Client) -> None:
    body = (FIXTURES / "edi_x12/node-x12/850.edi").read_bytes().replace(b"IEA*1*", b"IEA*2*")
    response = api.post("/v1/adapters/x12", content=body, headers={"Content-Type": "application/edi-x12"})
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "IEA01"
    letters = api.get("/v1/dead-letters").json()["items"]
    assert letters[0]["endpoint"] == "/v1/adapters/x12"
    assert letters[0]["raw"].encode() == body
