"""Carrier tracking adapters (karrio fixtures) and EasyPost tracker webhooks: exact mapping, HMAC,
malformed payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from typing import Any

import pytest

from adapters.base import AdapterError, AdapterResult
from adapters.payload import carrier_key
from adapters.registry import ADAPTERS, load_all
from tests.support.ocel import FIXTURES
from tower.events import validate_event

KARRIO = FIXTURES / "carrier" / "karrio"
EASYPOST = FIXTURES / "carrier" / "easypost-examples"


def run(
    adapter: str, body: bytes, headers: dict[str, str] | None = None, secrets: dict[str, str] | None = None
) -> AdapterResult:
    load_all()
    headers = dict(headers or {})
    if adapter.startswith("carrier-"):  # the tracking adapter, with ?carrier= as the edge passes it
        headers["x-tower-param-carrier"] = adapter.removeprefix("carrier-")
        adapter = "tracking"
    result = ADAPTERS[adapter].parse(body, headers, secrets or {})
    for produced in result.events:
        ok, problems = validate_event(produced)
        assert ok is not None and problems == [], problems
    return result


def summary(result: AdapterResult) -> list[tuple[str, str, str, dict[str, str], str]]:
    return [
        (e["id"], e["type"], e["time"], e["data"]["objects"][0]["ids"], e["data"]["facts"]["carrier_status_code"])
        for e in result.events
    ]


# --- karrio fixtures, one carrier each ----------------------------------------------------------


CARRIER_CASES = [
    (
        "carrier-ups",
        "ups_tracking_response.json",
        {},
        [
            (
                "1Z1442YY7229014688:F4:2022-01-26T16:30:00Z",
                "shipment.delivered",
                "2022-01-26T16:30:00Z",
                {"tracking:ups": "1Z1442YY7229014688"},
                "F4",
            )
        ],
        1,
    ),
    (
        "carrier-fedex",
        "fedex_tracking_response.json",
        {},
        [
            (
                "128667043726:PU:2018-02-02T19:01:00Z",
                "shipment.in_transit",
                "2018-02-02T19:01:00Z",
                {"tracking:fedex": "128667043726"},
                "PU",
            )
        ],
        1,  # the second tracked number is TRACKING.TRACKINGNUMBER.NOTFOUND
    ),
    (
        "carrier-usps",
        "usps_tracking_responses.json",
        {},
        [
            (
                "9400109104250532908587:01:2024-11-22T18:58:40Z",
                "shipment.delivered",
                "2024-11-22T18:58:40Z",
                {"tracking:usps": "9400109104250532908587"},
                "01",
            )
        ],
        1,  # the second response is the OpenAPI placeholder ("string"): unknown status
    ),
    (
        "carrier-dhl",
        "dhl_universal_tracking.json",
        {},
        [
            (
                "7777777770:pre-transit:2018-03-02T07:53:47Z",
                "shipment.manifested",
                "2018-03-02T07:53:47Z",
                {"tracking:dhl": "7777777770"},
                "pre-transit",
            )
        ],
        1,  # the response's error block
    ),
    (
        "carrier-mydhl",
        "mydhl_tracking_response.json",
        {},
        [
            (
                "1234567890:OK:2024-11-07T18:00:00Z",
                "shipment.delivered",
                "2024-11-07T18:00:00Z",
                {"tracking:dhl": "1234567890"},
                "OK",
            )
        ],
        0,
    ),
    (
        "carrier-australiapost",
        "australiapost_tracking_response.json",
        {},
        [
            (
                "7XX1000634011427:Delivered:2014-05-30T04:43:09Z",
                "shipment.delivered",
                "2014-05-30T04:43:09Z",
                {"tracking:australiapost": "7XX1000634011427"},
                "Delivered",
            )
        ],
        2,  # 7XX1000 is an invalid id; ET123456789AU's status is "Unknown"
    ),
    (
        "carrier-laposte",
        "laposte_tracking_response.json",
        {},
        [
            (
                "EW112720413FR:DI1:2023-03-09T08:38:00Z",
                "shipment.delivered",
                "2023-03-09T08:38:00Z",
                {"tracking:laposte": "EW112720413FR"},
                "DI1",
            )
        ],
        0,
    ),
    (
        "carrier-sendle",
        "sendle_tracking_response.json",
        {"x-tracking-number": "SNDLX7Q2"},
        [
            (
                "SNDLX7Q2:Delivered:2023-04-05T18:56:00Z",
                "shipment.delivered",
                "2023-04-05T18:56:00Z",
                {"tracking:sendle": "SNDLX7Q2"},
                "Delivered",
            )
        ],
        0,
    ),
]


@pytest.mark.parametrize(("adapter", "name", "headers", "expected", "notes"), CARRIER_CASES)
def test_carrier_fixture(adapter: str, name: str, headers: dict[str, str], expected: list[Any], notes: int) -> None:
    result = run(adapter, (KARRIO / name).read_bytes(), headers)
    assert summary(result) == expected
    assert len(result.notes) == notes, result.notes
    for produced in result.events:
        assert produced["source"] == f"carrier/{adapter.removeprefix('carrier-')}"
        carrier = next(iter(produced["data"]["objects"][0]["ids"])).removeprefix("tracking:")
        assert produced["data"]["dims"] == {"carrier": carrier}


def test_carrier_facts_keep_the_carriers_words() -> None:
    ups = run("carrier-ups", (KARRIO / "ups_tracking_response.json").read_bytes()).events[0]["data"]["facts"]
    assert ups["carrier_status_description"] == "DELIVERED"
    assert ups["carrier_status_type"] == "D"
    assert ups["carrier_status_number"] == "011"
    assert ups["location"] == "PARAMUS, NJ, US"
    assert ups["time_assumed_utc"] is True
    laposte = run("carrier-laposte", (KARRIO / "laposte_tracking_response.json").read_bytes()).events[0]
    assert laposte["data"]["facts"]["carrier_status_description"] == "Votre colis est livré."
    usps = run("carrier-usps", (KARRIO / "usps_tracking_responses.json").read_bytes()).events[0]
    assert usps["data"]["facts"]["carrier_status_category"] == "Delivered"
    assert usps["data"]["facts"]["carrier_status_description"] == "Delivered, Parcel Locker"


def test_several_parcels_several_events_and_repeats_share_ids() -> None:
    data = json.loads((KARRIO / "mydhl_tracking_response.json").read_bytes())
    second = json.loads(json.dumps(data["shipments"][0]))
    second["shipmentTrackingNumber"] = "9876543210"
    second["events"] = second["events"][1:]  # latest is "PL" processed
    data["shipments"].append(second)
    body = json.dumps(data).encode()
    result = run("carrier-mydhl", body)
    assert [(e["type"], e["data"]["facts"]["carrier_status_code"]) for e in result.events] == [
        ("shipment.delivered", "OK"),
        ("shipment.in_transit", "PL"),
    ]
    assert [e["id"] for e in run("carrier-mydhl", body).events] == [e["id"] for e in result.events]


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("D", "shipment.delivered"),
        ("I", "shipment.in_transit"),
        ("O", "shipment.out_for_delivery"),
        ("X", "shipment.exception"),
        ("M", "shipment.manifested"),
        ("ZZ", None),
    ],
)
def test_ups_status_types(event_type: str, expected: str | None) -> None:
    data = json.loads((KARRIO / "ups_tracking_response.json").read_bytes())
    data["trackResponse"]["shipment"][0]["package"][0]["activity"][0]["status"]["type"] = event_type
    result = run("carrier-ups", json.dumps(data).encode())
    assert [e["type"] for e in result.events] == ([expected] if expected else [])


def test_carrier_keys() -> None:
    assert [carrier_key(n) for n in ("UPS", "FedEx", "DHL Express", "DHLExpress", "Canada Post", None, " ")] == [
        "ups",
        "fedex",
        "dhl",
        "dhl",
        "canada-post",
        "unknown",
        "unknown",
    ]


def _edit(name: str, change: Any) -> bytes:
    data = json.loads((KARRIO / name).read_bytes())
    change(data)
    return json.dumps(data).encode()


def _set(path: list[Any], value: Any) -> Any:
    def apply(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return apply


UPS = ["trackResponse", "shipment", 0, "package", 0]
FEDEX = ["output", "completeTrackResults", 0, "trackResults", 0]


@pytest.mark.parametrize(
    ("adapter", "body", "where"),
    [
        ("carrier-ups", b"", "body"),
        ("carrier-ups", b"[]", "body"),
        ("carrier-ups", b"{}", "trackResponse"),
        (
            "carrier-ups",
            _edit("ups_tracking_response.json", _set(["trackResponse", "shipment"], {})),
            "trackResponse.shipment",
        ),
        (
            "carrier-ups",
            _edit("ups_tracking_response.json", _set([*UPS, "trackingNumber"], None)),
            "trackResponse.shipment[0].package[0].trackingNumber",
        ),
        (
            "carrier-ups",
            _edit("ups_tracking_response.json", _set([*UPS, "activity", 1, "date"], "26/01/2022")),
            "trackResponse.shipment[0].package[0].activity[1].date",
        ),
        (
            "carrier-ups",
            _edit("ups_tracking_response.json", _set([*UPS, "activity", 0, "status"], None)),
            "trackResponse.shipment[0].package[0].activity[0].status",
        ),
        ("carrier-fedex", b'{"output": {}}', "output.completeTrackResults"),
        (
            "carrier-fedex",
            _edit("fedex_tracking_response.json", _set([*FEDEX, "scanEvents", 0, "date"], "soon")),
            "output.completeTrackResults[0].trackResults[0].scanEvents[].date",
        ),
        ("carrier-usps", b'[{"trackingEvents": []}]', "[0].trackingNumber"),
        (
            "carrier-usps",
            b'{"trackingNumber": "9400", "trackingEvents": [{"eventCode": "01"}]}',
            "trackingEvents[0].GMTTimestamp",
        ),
        (
            "carrier-dhl",
            b'{"shipments": [{"id": "1", "status": {"timestamp": "2018-03-02T07:53:47Z"}}]}',
            "shipments[0].status.statusCode",
        ),
        ("carrier-dhl", b'{"shipments": [{"status": {}}]}', "shipments[0].id"),
        (
            "carrier-mydhl",
            b'{"shipments": [{"shipmentTrackingNumber": "1", "events": [{"date": "2024-11-07"}]}]}',
            "shipments[0].events[].typeCode",
        ),
        ("carrier-mydhl", b'{"shipments": [{"shipmentTrackingNumber": "1", "events": "none"}]}', "shipments[0].events"),
        (
            "carrier-australiapost",
            b'{"tracking_results": [{"status": "Delivered"}]}',
            "tracking_results[0].tracking_id",
        ),
        ("carrier-laposte", b'{"responses": [{"returnCode": 200}]}', "responses[0].shipment"),
        (
            "carrier-laposte",
            b'{"responses": [{"shipment": {"idShip": "X", "event": [{"code": "DI1"}]}}]}',
            "responses[0].shipment.event[0].date",
        ),
        ("carrier-sendle", (KARRIO / "sendle_tracking_response.json").read_bytes(), "X-Tracking-Number"),
        ("carrier-sendle", b'{"sendle_reference": "S1"}', "state"),
    ],
)
def test_carrier_malformed(adapter: str, body: bytes, where: str) -> None:
    with pytest.raises(AdapterError) as caught:
        run(adapter, body)
    assert caught.value.where == where
    assert caught.value.status == 400


def test_registry_names() -> None:
    names = set(load_all())
    assert {"shopify", "easypost", "tracking"} <= names
    for name in ("shopify", "easypost", "tracking"):
        assert ADAPTERS[name].content_types == ("application/json",)


def test_tracking_needs_a_supported_carrier() -> None:
    load_all()
    body = (KARRIO / "ups_tracking_response.json").read_bytes()
    with pytest.raises(AdapterError) as missing:
        ADAPTERS["tracking"].parse(body, {}, {})
    assert missing.value.where == "carrier"
    with pytest.raises(AdapterError, match="carrier 'royalmail' is not supported"):
        ADAPTERS["tracking"].parse(body, {"x-tower-param-carrier": "royalmail"}, {})
    assert ADAPTERS["tracking"].parse(body, {"x-carrier": "UPS"}, {}).events


# --- EasyPost -------------------------------------------------------------------------------------


def test_easypost_event_body() -> None:
    result = run("easypost", (EASYPOST / "event-body.json").read_bytes())
    (ev,) = result.events
    assert ev["id"] == "evt_1"
    assert ev["source"] == "easypost"
    assert ev["type"] == "shipment.in_transit"
    assert ev["time"] == "2024-08-02T18:50:00Z"  # the latest in_transit scan, not one event per scan
    assert ev["data"]["objects"] == [{"type": "shipment", "ids": {"tracking:fedex": "1"}}]
    assert ev["data"]["dims"] == {"carrier": "fedex"}
    assert ev["data"]["facts"] == {
        "easypost_status": "in_transit",
        "carrier_status_detail": "arrived_at_facility",
        "carrier_status_code": "AR",
        "carrier_status_description": "Arrived at FedEx location",
        "location": "EDISON, NJ, US, 08817",
        "est_delivery_date": "2024-08-05T00:00:00Z",
        "tracker_id": "trk_1",
        "previous_easypost_status": "in_transit",
    }


@pytest.mark.parametrize(
    ("name", "event_id", "etype", "time", "ids", "message"),
    [
        (
            "tracking-webhook.json",
            "evt_...",
            "shipment.delivered",
            "2014-11-19T10:51:54Z",
            {"tracking:ups": "EZ4000000004"},
            "DELIVERED",
        ),
        (
            "tracking_webhook_response.json",
            "evt_qatAiJDM",
            "shipment.delivered",
            "2014-08-24T15:33:00Z",
            {"tracking:ups": "EZ4000000004"},
            "DELIVERED",
        ),
        (
            "trackers-create.json",
            "trk_9135862729734d96ad2f9ed0f0565a27:pre_transit:2025-05-09T20:40:17Z",
            "shipment.manifested",
            "2025-04-10T09:17:17Z",
            {"tracking:usps": "EZ1000000001"},
            "Shipping Label Created",
        ),
        (
            "trackers-retrieve.json",
            "trk_9135862729734d96ad2f9ed0f0565a27:pre_transit:2025-05-09T20:40:17Z",
            "shipment.manifested",
            "2025-04-10T09:17:17Z",
            {"tracking:usps": "EZ1000000001"},
            "Shipping Label Created",
        ),
    ],
)
def test_easypost_fixtures(name: str, event_id: str, etype: str, time: str, ids: dict[str, str], message: str) -> None:
    (ev,) = run("easypost", (EASYPOST / name).read_bytes()).events
    assert (ev["id"], ev["type"], ev["time"], ev["data"]["objects"][0]["ids"]) == (event_id, etype, time, ids)
    assert ev["data"]["facts"]["carrier_status_description"] == message


def test_easypost_tracker_list() -> None:
    result = run("easypost", (EASYPOST / "trackers-list.json").read_bytes())
    assert [e["data"]["objects"][0]["ids"] for e in result.events] == [{"tracking:usps": "EZ1000000001"}]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pre_transit", "shipment.manifested"),
        ("in_transit", "shipment.in_transit"),
        ("out_for_delivery", "shipment.out_for_delivery"),
        ("available_for_pickup", "shipment.out_for_delivery"),
        ("delivered", "shipment.delivered"),
        ("return_to_sender", "shipment.exception"),
        ("failure", "shipment.exception"),
        ("error", "shipment.exception"),
        ("cancelled", "shipment.exception"),
        ("unknown", None),
    ],
)
def test_easypost_status_map(status: str, expected: str | None) -> None:
    data = json.loads((EASYPOST / "event-body.json").read_bytes())
    data["result"]["status"] = status
    result = run("easypost", json.dumps(data).encode())
    assert [e["type"] for e in result.events] == ([expected] if expected else [])
    assert bool(result.notes) == (expected is None)


def test_easypost_non_tracker_event_is_a_note() -> None:
    body = json.dumps({"object": "Event", "id": "evt_2", "description": "batch.created", "result": {"object": "Batch"}})
    result = run("easypost", body.encode())
    assert result.events == [] and result.notes


# HMAC: the fixture's own test vector (client-library-fixtures.json → webhooks) signs
# event-body.json without its trailing newline with the secret "sécret" normalised NFKD.


def _vector() -> tuple[bytes, str, str]:
    webhooks = json.loads((EASYPOST / "client-library-fixtures.json").read_bytes())["webhooks"]
    return (EASYPOST / "event-body.json").read_bytes().rstrip(b"\n"), webhooks["secret"], webhooks["hmac_signature"]


def test_easypost_hmac_fixture_vector() -> None:
    body, secret, signature = _vector()
    (ev,) = run("easypost", body, {"x-hmac-signature": signature}, {"easypost": secret}).events
    assert ev["id"] == "evt_1"


def test_easypost_hmac_made_up_secret() -> None:
    body = (EASYPOST / "tracking-webhook.json").read_bytes()
    secret = "made-up-ëasypost"
    good = (
        "hmac-sha256-hex=" + hmac.new(unicodedata.normalize("NFKD", secret).encode(), body, hashlib.sha256).hexdigest()
    )
    assert run("easypost", body, {"x-hmac-signature": good}, {"easypost": secret}).events


@pytest.mark.parametrize(
    "signature", [None, "", "hmac-sha256-hex=00", "38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"]
)
def test_easypost_hmac_bad_or_missing(signature: str | None) -> None:
    body, secret, _ = _vector()
    headers = {} if signature is None else {"x-hmac-signature": signature}
    with pytest.raises(AdapterError) as caught:
        run("easypost", body, headers, {"easypost": secret})
    assert caught.value.where == "X-Hmac-Signature"
    assert caught.value.status == 401


def test_easypost_hmac_body_tampered() -> None:
    body, secret, signature = _vector()
    with pytest.raises(AdapterError) as caught:
        run("easypost", body + b" ", {"x-hmac-signature": signature}, {"easypost": secret})
    assert caught.value.status == 401


def _event(change: Any) -> bytes:
    data = json.loads((EASYPOST / "event-body.json").read_bytes())
    change(data)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"{oops", "body"),
        (b'"text"', "body"),
        (b"{}", "object"),
        (b'{"object": "Batch"}', "object"),
        ((EASYPOST / "events-retrieve.json").read_bytes(), "result"),  # an Event without its Tracker
        (_event(_set(["description"], None)), "description"),
        (_event(_set(["id"], None)), "id"),
        (_event(_set(["result", "tracking_code"], None)), "result.tracking_code"),
        (_event(_set(["result", "carrier"], "")), "result.carrier"),
        (_event(_set(["result", "status"], 3.5)), "result.status"),
        (_event(_set(["result", "tracking_details"], "x")), "result.tracking_details"),
        (_event(_set(["result", "tracking_details", 2, "datetime"], "later")), "result.tracking_details[2].datetime"),
        (_event(_set(["result", "est_delivery_date"], "someday")), "result.est_delivery_date"),
    ],
)
def test_easypost_malformed(body: bytes, where: str) -> None:
    with pytest.raises(AdapterError) as caught:
        run("easypost", body)
    assert caught.value.where == where
    assert caught.value.status == 400


# --- never an uncaught exception ----------------------------------------------------------------


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Any:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            yield from _paths(item, (*path, index))


def mutations(data: Any) -> Any:
    """The fixture with one node at a time replaced by a value of another JSON type."""
    for path in list(_paths(data))[1:]:
        for odd in (None, "x", 1, {}, []):
            copy = json.loads(json.dumps(data))
            node = copy
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = odd
            yield path, copy


@pytest.mark.parametrize(
    ("adapter", "path", "headers"),
    [
        *[(case[0], KARRIO / case[1], case[2]) for case in CARRIER_CASES],
        ("easypost", EASYPOST / "event-body.json", {}),
        ("easypost", EASYPOST / "trackers-list.json", {}),
    ],
)
def test_mutated_fixtures_fail_only_with_adapter_errors(adapter: str, path: Any, headers: dict[str, str]) -> None:
    for where, body in mutations(json.loads(path.read_bytes())):
        try:
            result = run(adapter, json.dumps(body).encode(), headers)
        except AdapterError as error:
            assert error.status == 400 and error.where, where
        else:
            assert isinstance(result, AdapterResult)


def test_scacs_name_the_same_carrier_as_tracking_apis() -> None:
    # An 856 naming UPS by its SCAC and an EasyPost tracker naming it "UPS" must meet in one
    # tracking namespace, or the parcel's scans never join the order that shipped it.
    assert {carrier_key(n) for n in ("UPSN", "UPS", "United Parcel Service")} == {"ups"}
    assert {carrier_key(n) for n in ("FDEG", "FXFE", "FedEx Ground")} == {"fedex"}
    assert carrier_key("USPS") == "usps"
