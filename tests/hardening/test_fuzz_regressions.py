"""Every crash the fuzzers found, pinned by its minimal failing input (see docs/reliability/fuzzing.md)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from adapters.base import AdapterError
from adapters.registry import ADAPTERS, load_all
from adapters.x12 import tokenize
from tower.events import validate_event

load_all()


def cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# -- adapters and the canonical event parser (found by test_adapter_fuzz) --------------------


def test_ocel_timezone_offset_past_24_hours_is_an_adapter_error() -> None:
    """Was: ValueError from datetime.timezone (a 500 at /v1/adapters/ocel?timezone=%2B99:99)."""
    with pytest.raises(AdapterError) as refused:
        ADAPTERS["ocel"].parse(b"{}", {"x-tower-param-timezone": "+99:99"}, {})
    assert refused.value.where == "timezone" and "00-23" in refused.value.reason


def test_integer_beyond_64_bits_in_facts_is_a_problem_naming_its_path() -> None:
    """Was: TypeError from orjson while storing the payload (adapters decode JSON with Python's json,
    which reads integers of any size; a 500 at /v1/adapters/*)."""
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "wms/dc-east",
        "type": "fulfillment.picked",
        "time": "2026-11-20T10:00:00Z",
        "data": {"objects": [], "facts": {"lines": [{"sku": "SKU-A", "quantity": 99999999999999999999999999}]}},
    }
    accepted, problems = validate_event(event, "t")
    assert accepted is None
    assert [(p.field, p.reason) for p in problems] == [
        ("data.facts.lines[0].quantity", "cannot be stored as JSON: Integer exceeds 64-bit range")
    ]


WMS_HUGE_QUANTITY = (
    b"order_no,pick_ticket,status,sku,qty,warehouse,tracking,carrier,confirmed_at\n"
    b"SO-1001,PT-77,picked,SKU-A,99999999999999999999999999,DC-East,,,2026-11-20T10:00:00Z\n"
)


def test_wms_csv_with_a_quantity_beyond_64_bits_is_a_400_naming_it(api: httpx.Client) -> None:
    """The same crash as the adapter endpoint met it (a 500), with the fuzzer's minimal WMS file; the
    mapping now refuses the record, naming the fact, and the file is kept as a dead letter."""
    response = api.post(
        "/v1/adapters/mapping/generic-wms-confirmation", content=WMS_HUGE_QUANTITY, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 400, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "generic-wms-confirmation.facts.lines[0].quantity at record 0"
    letters = api.get("/v1/dead-letters", params={"endpoint": "/v1/adapters/mapping/generic-wms-confirmation"}).json()
    assert letters["items"][0]["raw"] == WMS_HUGE_QUANTITY.decode()


@pytest.mark.parametrize(
    ("adapter", "headers", "body"),
    [
        (
            "shopify",
            {"x-shopify-topic": "orders/paid", "x-shopify-shop-domain": "acme"},
            b'{"cancel_reason": 18446744073709551616}',
        ),
        ("mapping/erpnext-sales-order", {}, b'[{"items": [{"item_code": -18446744073709551616}]}]'),
        (
            "ocel",
            {},
            b'{"objectTypes": [], "eventTypes": [], "objects": [], "events": [], "x": 1e2, "n": 99999999999999999999}',
        ),
    ],
)
def test_json_integers_beyond_64_bits_are_refused_when_read(adapter: str, headers: dict[str, str], body: bytes) -> None:
    """Was: carried into facts and crashing the store's JSON writer (found in erpnext items, Shopify's
    cancel_reason and OCEL attributes)."""
    with pytest.raises(AdapterError) as refused:
        ADAPTERS[adapter].parse(body, headers, {})
    assert refused.value.where == "body" and "beyond 64 bits" in refused.value.reason


UBL_LONG_ID = (
    b'<DespatchAdvice xmlns="urn:oasis:names:specification:ubl:schema:xsd:DespatchAdvice-2"'
    b' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
    b"<cbc:ID>" + b"x" * 600 + b"</cbc:ID><cbc:IssueDate>2026-11-20</cbc:IssueDate></DespatchAdvice>"
)


def test_an_id_longer_than_the_contract_allows_is_an_adapter_error() -> None:
    """Was: an event with a 652-character id, refused by every ingest (found by mutating UBL text)."""
    with pytest.raises(AdapterError) as refused:
        ADAPTERS["ubl"].parse(UBL_LONG_ID, {}, {})
    assert "at most 512" in refused.value.reason


X12_997_WITHOUT_GROUP_CONTROL = (
    b"ISA*00*          *00*          *ZZ*ReceiverID     *ZZ*Sender         *050812*1953*^*00501*000000001*0*P*:~"
    b"GS*FA*ReceiverDept*SenderDept*20050812*195335*000005*X*005010X230~"
    b"ST*997*0001~AK1~AK9*R*1*1*0~SE*4*0001~GE*1*000005~IEA*1*000000001~"
)


def test_x12_997_without_ak102_is_refused_naming_it() -> None:
    """Was: a sync.acknowledged event whose edi_group identifier was blank (rejected downstream).
    Now the set is refused like any set that cannot be mapped: no event, a note naming AK102."""
    result = ADAPTERS["x12"].parse(X12_997_WITHOUT_GROUP_CONTROL, {}, {})
    assert result.events == []
    assert result.notes == [
        "transaction set 997 0001 rejected: 997 0001 AK102: names no group control number to acknowledge"
    ]


X12_IEA_AS_DATA = (
    b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *261120*1000*U*00401*000000042*0*P*~|"
    b"GS*PO*SENDER*RECEIVER*20261120*1000*7*X*004010|ST*850*0001|BEG*IEA*|SE*3*0001|GE*1*7|IEA*1*000000042|"
)


def test_x12_element_data_reading_iea_is_not_taken_for_the_trailer() -> None:
    """Was: AdapterError "no IEA trailer" on a valid interchange, because the reader looked for the
    text ``IEA*`` anywhere (found by tests/adapters/test_x12_properties.py under a random seed)."""
    (interchange,) = tokenize(X12_IEA_AS_DATA)
    (tset,) = interchange.groups[0].sets
    (beg,) = tset.segments  # the set's body, between its ST and SE
    assert beg.tag == "BEG" and beg.get(1) == "IEA"
    assert interchange.groups[0].sets[0].set_id == "850"


# -- the HTTP API (found by test_api_schema) --------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/traces", {"to": "1596-07-16T18:57:32.561Z"}),  # was 503: DateTime64(9) overflow
        ("/v1/journeys", {"to": "0985-05-12T10:53:59Z"}),  # was 503: the store refused the parameter
        ("/v1/journeys/summary", {"from": "2300-01-01T00:00:00Z"}),
        ("/v1/kpis", {"from": "0001-01-01T00:00:00Z"}),  # was 503
        ("/v1/integration/failures", {"to": "9999-12-31T23:59:59Z"}),
        ("/v1/journeys", {"from": "0001-01-01T00:00:00+01:00"}),  # moved to UTC: before year 1
        ("/v1/traces", {"to": "9999-12-31T23:59:59-01:00"}),  # moved to UTC: after year 9999
        ("/v1/traces", {"from": "2299-05-15T13:23:23.045Z"}),  # was 503: past DateTime64(9)'s 2262-04-11
        ("/v1/traces", {"to": "2262-04-11T23:47:17Z"}),  # the first second past it
    ],
)
def test_times_outside_the_stores_range_are_a_400_naming_the_parameter(
    api: httpx.Client, path: str, params: dict[str, str]
) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    named = [d["field"] for d in error["details"]] + [error["message"]]
    assert any(next(iter(params)) in text for text in named), error


def test_traces_take_times_up_to_the_last_nanosecond_timestamp(api: httpx.Client) -> None:
    response = api.get("/v1/traces", params={"from": "2262-04-11T23:47:16Z"})
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


@pytest.mark.parametrize("path", ["/v1/dead-letters", "/v1/journeys"])
@pytest.mark.parametrize(
    "forged",
    [[1], ["x", "y"], [1, 2], [99999999999999999999, "a"], ["0985-05-12 10:53:59.000000", "a"]],
    ids=["one-number", "not-a-time", "numbers", "huge", "year-985"],
)
def test_forged_paging_cursors_are_a_400(api: httpx.Client, path: str, forged: list[object]) -> None:
    """Was: dead letters 500 (IndexError on [1]), journeys 503 (the store refused the parameter)."""
    response = api.get(path, params={"cursor": cursor(forged)})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "params",
    [
        {"ack_hours": "1.445341811511458e+203"},  # was 500: OverflowError in timedelta
        {"invoice_hours": "-4e16"},
        {"asn_hours": "nan"},
    ],
)
def test_edi_reconciliation_hours_out_of_range_are_a_400(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get("/v1/reconciliation/edi", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["field"] == next(iter(params))


@pytest.mark.parametrize("path", ["/v1/reconciliation/anomalies", "/v1/reconciliation/stuck"])
def test_reconciliation_limit_below_one_is_a_400(api: httpx.Client, path: str) -> None:
    """Was (anomalies): 503, a negative LIMIT bound as UInt32."""
    response = api.get(path, params={"limit": -210})
    assert response.status_code == 400, response.text


def test_openapi_documents_400_not_422_and_the_error_shape(api: httpx.Client) -> None:
    """Was: every operation with parameters declared FastAPI's 422, which the server never sends."""
    spec = api.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            if operation.get("parameters") or "requestBody" in operation:
                assert "400" in responses, (method, path)
    journey = spec["paths"]["/v1/journeys/{journey_id}"]["get"]
    assert journey["x-tower-scope"] == "read" and journey["security"] == [{"bearer": []}]
    assert journey["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
