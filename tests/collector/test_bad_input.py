"""Bad input on `POST /v1/events`, against a real `tower serve`: every malformed request gets a 4xx with
a precise error (code; which event, which field, why) and lands in dead letters byte-exact.

Each table row is one request in a fresh tenant, so the tenant's dead letters hold exactly what that
request left there.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ServerProcess, wait_for

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
NDJSON = "application/x-ndjson"

SMALL_LIMITS = {"TOWER_MAX_BODY_BYTES": "4096", "TOWER_MAX_BATCH_EVENTS": "5"}

_DEFAULT = object()


def event(event_id: str = "evt-1", order: str = "#1001", **changes: Any) -> dict[str, Any]:
    """A valid canonical event; `changes` replace top-level fields, a value of `_DEFAULT` removes one."""
    value: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": "shopify/acme",
        "type": "order.received",
        "time": "2026-11-20T10:00:00Z",
        "data": {"objects": [{"type": "order", "ids": {"shopify/acme": order}}]},
    }
    for name, new in changes.items():
        if new is _DEFAULT:
            value.pop(name, None)
        else:
            value[name] = new
    return value


def with_data(event_id: str, **data: Any) -> dict[str, Any]:
    """A valid event whose `data` members are replaced by `data`."""
    value = event(event_id)
    value["data"] = {**value["data"], **data}
    return value


def one_object(event_id: str, obj: Any) -> dict[str, Any]:
    return with_data(event_id, objects=[obj])


@dataclass(frozen=True)
class Case:
    body: bytes
    content_type: str | None
    status: int
    code: str
    field: str
    reason: str  # a substring of the first detail's reason that says why
    index: int | None = None  # None: the request as a whole
    event_id: Any = None
    raw: bytes | None = None  # what dead letters must hold; the whole body when None
    raw_is_prefix: bool = False  # oversized bodies: the dead letter holds the prefix that was read
    min_raw: int = 0  # ... and at least this much of it

    @property
    def dead_raw(self) -> bytes:
        return self.body if self.raw is None else self.raw


def whole(body: bytes, content_type: str | None, status: int, code: str, reason: str) -> Case:
    """A request that fails as a whole: no event index, no event id, no field."""
    return Case(body, content_type, status, code, "", reason)


def single(value: Any, field: str, reason: str, event_id: Any = _DEFAULT) -> Case:
    """One invalid event sent as application/cloudevents+json: 400 invalid_events, detail index 0."""
    if event_id is _DEFAULT:
        event_id = value.get("id") if isinstance(value, dict) and isinstance(value.get("id"), str) else None
    return Case(orjson.dumps(value), SINGLE, 400, "invalid_events", field, reason, index=0, event_id=event_id)


BAD_UTF8_EVENT = orjson.dumps(event("evt-utf8")).replace(b"shopify/acme", b"shop\xff\xfeify")
LONG_ID = "x" * 513
ZERO_TRACE = "00-00000000000000000000000000000000-00f067aa0ba902b7-01"

CASES = [
    # --- the body as a whole cannot be read -------------------------------------------------------
    pytest.param(whole(b"hello, tower", SINGLE, 400, "invalid_json", "not valid UTF-8 JSON"), id="not-json"),
    pytest.param(
        whole(b'{"specversion": "1.0", "id": "evt-', SINGLE, 400, "invalid_json", "not valid UTF-8 JSON"),
        id="truncated-json",
    ),
    pytest.param(
        whole(b'[{"specversion": "1.0"}', BATCH, 400, "invalid_json", "not valid UTF-8 JSON"), id="truncated-json-batch"
    ),
    pytest.param(
        whole(orjson.dumps(event()), "text/plain", 415, "unsupported_media_type", "'text/plain' is not accepted"),
        id="content-type-text-plain",
    ),
    pytest.param(
        whole(
            b"<event><id>1</id></event>",
            "application/xml",
            415,
            "unsupported_media_type",
            "'application/xml' is not accepted",
        ),
        id="content-type-xml",
    ),
    pytest.param(
        whole(orjson.dumps(event()), None, 415, "unsupported_media_type", "Content-Type is missing"),
        id="content-type-missing",
    ),
    pytest.param(
        whole(
            orjson.dumps(event()),
            f"{SINGLE}; charset=latin-1",
            415,
            "unsupported_charset",
            "charset 'latin-1' is not supported",
        ),
        id="charset-latin-1",
    ),
    pytest.param(whole(BAD_UTF8_EVENT, SINGLE, 400, "invalid_json", "not valid UTF-8 JSON"), id="non-utf8-single"),
    pytest.param(
        whole(b"[" + BAD_UTF8_EVENT + b"]", BATCH, 400, "invalid_json", "not valid UTF-8 JSON"), id="non-utf8-batch"
    ),
    pytest.param(
        Case(
            BAD_UTF8_EVENT + b"\n",
            NDJSON,
            400,
            "invalid_events",
            "",
            "line is not valid UTF-8 JSON",
            index=0,
            raw=BAD_UTF8_EVENT,
        ),
        id="non-utf8-ndjson",
    ),
    pytest.param(whole(b"", SINGLE, 400, "empty_body", "body is empty"), id="empty-body"),
    pytest.param(whole(b" \r\n\t  \n", SINGLE, 400, "empty_body", "body is empty"), id="whitespace-body"),
    pytest.param(whole(b"[]", BATCH, 400, "empty_batch", "holds no events"), id="empty-json-array"),
    pytest.param(whole(b"\n\n\n", NDJSON, 400, "empty_body", "body is empty"), id="empty-ndjson"),
    pytest.param(
        whole(orjson.dumps([event()]), SINGLE, 400, "wrong_shape", f"send a list as {BATCH}"), id="list-as-single"
    ),
    pytest.param(
        whole(orjson.dumps(event()), BATCH, 400, "wrong_shape", "must be a JSON array of events"), id="object-as-batch"
    ),
    # --- JSON, but not an event -------------------------------------------------------------------
    pytest.param(single(42, "", "an event must be a JSON object, got a number"), id="top-level-number"),
    pytest.param(single("order.received", "", "an event must be a JSON object, got a string"), id="top-level-string"),
    pytest.param(single(None, "", "an event must be a JSON object, got null"), id="top-level-null"),
    # --- the envelope -----------------------------------------------------------------------------
    pytest.param(
        single(event("evt-nospec", specversion=_DEFAULT), "specversion", "is required"), id="specversion-missing"
    ),
    pytest.param(
        single(event("evt-spec03", specversion="0.3"), "specversion", "must be \"1.0\", got '0.3'"),
        id="specversion-0.3",
    ),
    pytest.param(single(event(id=_DEFAULT), "id", "is required"), id="id-missing"),
    pytest.param(single(event(id=1001), "id", "must be a string, got a number"), id="id-number"),
    pytest.param(single(event(id="   "), "id", "must not be blank"), id="id-blank"),
    pytest.param(single(event(id=LONG_ID), "id", "is 513 characters; at most 512"), id="id-too-long"),
    pytest.param(single(event("evt-nosource", source=_DEFAULT), "source", "is required"), id="source-missing"),
    pytest.param(single(event("evt-notype", type=_DEFAULT), "type", "is required"), id="type-missing"),
    pytest.param(
        single(event("evt-camel", type="OrderReceived"), "type", "is not a lowercase domain.action name"),
        id="type-camel-case",
    ),
    pytest.param(
        single(event("evt-noaction", type="order"), "type", "is not a lowercase domain.action name"),
        id="type-no-action",
    ),
    pytest.param(
        single(event("evt-upper", type="order.Received"), "type", "is not a lowercase domain.action name"),
        id="type-upper-action",
    ),
    pytest.param(single(event("evt-notime", time=_DEFAULT), "time", "is required"), id="time-missing"),
    pytest.param(
        single(event("evt-yesterday", time="yesterday"), "time", "is not an RFC 3339 date-time"), id="time-words"
    ),
    pytest.param(
        single(event("evt-date", time="2026-11-20"), "time", "is not an RFC 3339 date-time"), id="time-date-only"
    ),
    pytest.param(
        single(event("evt-naive", time="2026-11-20T10:00:00"), "time", "has no UTC offset"), id="time-no-offset"
    ),
    pytest.param(
        single(
            event("evt-impossible", time="2026-13-45T99:00:00Z"),
            "time",
            "is not a valid RFC 3339 date-time: month must be in 1..12",
        ),
        id="time-impossible",
    ),
    pytest.param(
        single(event("evt-number-time", time=1763632800), "time", "must be an RFC 3339 date-time string"),
        id="time-number",
    ),
    pytest.param(
        single(event("evt-tp", traceparent="00-abc-def-01"), "traceparent", "is not a W3C traceparent"),
        id="traceparent-malformed",
    ),
    pytest.param(
        single(event("evt-tp0", traceparent=ZERO_TRACE), "traceparent", "is not a W3C traceparent"),
        id="traceparent-zero-trace-id",
    ),
    pytest.param(
        single(event("evt-tenant", tenant="acme corp"), "tenant", "must be 1-128 letters, digits"),
        id="tenant-with-spaces",
    ),
    pytest.param(
        single(event("evt-dct", datacontenttype="text/xml"), "datacontenttype", "must be application/json"),
        id="datacontenttype-xml",
    ),
    # --- data ---------------------------------------------------------------------------------------
    pytest.param(single(event("evt-nodata", data=_DEFAULT), "data", "is required"), id="data-missing"),
    pytest.param(
        single(event("evt-datalist", data=[1, 2]), "data", "must be a JSON object, got a list"), id="data-list"
    ),
    pytest.param(
        single(
            with_data("evt-objdict", objects={"type": "order"}),
            "data.objects",
            "must be a list of objects, got an object",
        ),
        id="objects-not-list",
    ),
    pytest.param(
        single(
            with_data("evt-objstr", objects=["#1001"]),
            "data.objects[0]",
            "must be an object with type and ids, got a string",
        ),
        id="object-not-object",
    ),
    pytest.param(
        single(one_object("evt-otype", {"ids": {"shopify/acme": "#1001"}}), "data.objects[0].type", "is required"),
        id="object-type-missing",
    ),
    pytest.param(
        single(
            one_object("evt-oupper", {"type": "Order", "ids": {"shopify/acme": "#1001"}}),
            "data.objects[0].type",
            "'Order' is not a lowercase object type",
        ),
        id="object-type-capital",
    ),
    pytest.param(
        single(
            one_object("evt-oids", {"type": "order", "ids": {}}), "data.objects[0].ids", "must be a non-empty object"
        ),
        id="object-ids-empty",
    ),
    pytest.param(
        single(
            one_object("evt-oidnum", {"type": "order", "ids": {"shopify/acme": 1001}}),
            "data.objects[0].ids.shopify/acme",
            "must be a string, got a number",
        ),
        id="object-id-number",
    ),
    pytest.param(
        single(
            one_object("evt-oidblank", {"type": "order", "ids": {"erp": "  "}}),
            "data.objects[0].ids.erp",
            "must be a non-blank string",
        ),
        id="object-id-blank",
    ),
    pytest.param(
        single(
            one_object("evt-ons", {"type": "order", "ids": {"": "#1001"}}),
            "data.objects[0].ids",
            "namespace '' must be 1-512 characters",
        ),
        id="object-namespace-empty",
    ),
    pytest.param(
        single(
            with_data("evt-relrange", relations=[[0, 5]]),
            "data.relations[0]",
            "index out of range: data.objects has 1 object(s)",
        ),
        id="relations-out-of-range",
    ),
    pytest.param(
        single(with_data("evt-relself", relations=[[0, 0]]), "data.relations[0]", "relates an object to itself"),
        id="relations-self",
    ),
    pytest.param(
        single(
            with_data("evt-reldict", relations={"0": 1}),
            "data.relations",
            "must be a list of [i, j] or [i, j, qualifier], got an object",
        ),
        id="relations-not-list",
    ),
    pytest.param(
        single(
            with_data("evt-reltriple", relations=[[0, 1, 2, 3]]),
            "data.relations[0]",
            "must be [i, j] or [i, j, qualifier]",
        ),
        id="relations-pair-too-long",
    ),
    pytest.param(
        single(with_data("evt-dimnum", dims={"channel": 5}), "data.dims.channel", "must be a string, got a number"),
        id="dims-number",
    ),
    pytest.param(
        single(with_data("evt-factlist", facts=[{"sku": "A"}]), "data.facts", "must be a JSON object, got a list"),
        id="facts-list",
    ),
    # --- per-event problems inside batches: index, id and raw are the element's own ---------------
    pytest.param(
        Case(
            orjson.dumps([event("evt-b0", type="order")]),
            BATCH,
            400,
            "invalid_events",
            "type",
            "is not a lowercase domain.action name",
            index=0,
            event_id="evt-b0",
            raw=orjson.dumps(event("evt-b0", type="order")),
        ),
        id="batch-element-invalid",
    ),
    pytest.param(
        Case(
            b'  {"specversion": "1.0", "id": "evt-n0"}  \n',
            NDJSON,
            400,
            "invalid_events",
            "source",
            "is required",
            index=0,
            event_id="evt-n0",
            raw=b'{"specversion": "1.0", "id": "evt-n0"}',
        ),
        id="ndjson-line-invalid",
    ),
    pytest.param(
        Case(
            b"\n[1, 2]\n",
            NDJSON,
            400,
            "invalid_events",
            "",
            "an event must be a JSON object, got a list",
            index=0,
            raw=b"[1, 2]",
        ),
        id="ndjson-line-is-list",
    ),
    pytest.param(
        Case(
            b'{"specversion": "1.0", "id": "evt-',
            NDJSON,
            400,
            "invalid_events",
            "",
            "line is not valid UTF-8 JSON",
            index=0,
        ),
        id="ndjson-line-truncated",
    ),
]


def decoded_raw(item: dict[str, Any]) -> bytes:
    encoding = item["raw_encoding"]
    assert encoding in ("utf-8", "base64"), item
    return item["raw"].encode("utf-8") if encoding == "utf-8" else base64.b64decode(item["raw"])


def dead_letters(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/v1/dead-letters")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def post(client: httpx.Client, body: bytes | Iterator[bytes], content_type: str | None) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return client.post("/v1/events", content=body, headers=headers)


def check_response(response: httpx.Response, case: Case) -> None:
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["code"] == case.code, error
    assert error["message"], error
    first = error["details"][0]
    assert first["index"] == case.index, first
    assert first["id"] == case.event_id, first
    assert first["field"] == case.field, first
    assert case.reason in first["reason"], first
    if case.code == "invalid_events":
        assert {"field": case.field, "reason": first["reason"]} in first["problems"], first


def check_dead_letter(client: httpx.Client, case: Case, sent: bytes) -> None:
    items = dead_letters(client)
    assert len(items) == 1, items  # a fresh tenant per case: this request's letter and nothing else
    letter = items[0]
    assert case.reason in letter["reason"], letter
    assert letter["endpoint"] == "/v1/events", letter
    assert letter["status"] == case.status, letter
    assert letter["field"] == case.field, letter
    assert letter["index"] == case.index, letter
    assert letter["event_id"] == (case.event_id or None), letter
    raw = decoded_raw(letter)
    if case.raw_is_prefix:
        assert sent.startswith(raw), (raw[:80], sent[:80])
        assert len(raw) >= case.min_raw, (len(raw), case.min_raw)
    else:
        assert raw == case.dead_raw, (raw, case.dead_raw)
    if case.dead_raw and b"\xff" in case.dead_raw:
        assert letter["raw_encoding"] == "base64", letter


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_rejected_precisely_and_dead_lettered(api: httpx.Client, case: Case) -> None:
    response = post(api, case.body, case.content_type)
    check_response(response, case)
    assert 400 <= response.status_code < 500
    check_dead_letter(api, case, case.body)


# --- size and count limits, on a server of its own with small limits --------------------------------


@pytest.fixture(scope="module")
def small_server(start_module_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    server = start_module_server(env=SMALL_LIMITS)
    yield server
    server.stop()  # not left running (and competing for CPU) for the rest of the session


@pytest.fixture
def small_api(small_server: ServerProcess, tenant: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small_server.url, headers={"X-Tower-Tenant": tenant}, timeout=60) as client:
        yield client


def _padded(event_id: str, size: int) -> bytes:
    """A valid event padded (in data.facts.note) to `size` bytes."""
    value = with_data(event_id, facts={"note": ""})
    base = len(orjson.dumps(value))
    value["data"]["facts"]["note"] = "n" * (size - base)
    body = orjson.dumps(value)
    assert len(body) == size
    return body


SIX_EVENTS = [event(f"evt-many-{i}", order=f"#20{i:02}") for i in range(6)]
BIG = _padded("evt-big", 6000)

LIMIT_CASES = [
    # Content-Length says it all: refused before reading, so the prefix read is empty
    pytest.param(
        Case(BIG, SINGLE, 413, "body_too_large", "", "the body is 6000 bytes; at most 4096", raw_is_prefix=True),
        False,
        id="body-too-large-declared",
    ),
    # chunked: read until past the limit; what was read is quarantined
    pytest.param(
        Case(BIG, SINGLE, 413, "body_too_large", "", "the body is over 4096 bytes", raw_is_prefix=True, min_raw=4097),
        True,
        id="body-too-large-chunked",
    ),
    pytest.param(
        Case(b"\n".join(orjson.dumps(e) for e in SIX_EVENTS), NDJSON, 413, "too_many_events", "", "more than 5 events"),
        False,
        id="too-many-events-ndjson",
    ),
    pytest.param(
        Case(orjson.dumps(SIX_EVENTS), BATCH, 413, "too_many_events", "", "holds 6 events; at most 5"),
        False,
        id="too-many-events-array",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "chunked"), LIMIT_CASES)
def test_limits_are_enforced_and_dead_lettered(small_api: httpx.Client, case: Case, chunked: bool) -> None:
    assert len(case.body) < 4096 or case.code == "body_too_large"
    body: bytes | Iterator[bytes] = (
        iter([case.body[i : i + 1024] for i in range(0, len(case.body), 1024)]) if chunked else case.body
    )
    response = post(small_api, body, case.content_type)
    check_response(response, case)
    check_dead_letter(small_api, case, case.body)
    # the limits leave the server serving: five events in a small body still go through
    five = b"\n".join(orjson.dumps(e) for e in SIX_EVENTS[:5])
    ok = post(small_api, five, NDJSON)
    assert ok.status_code == 202, ok.text
    assert ok.json()["accepted"] == 5


# --- mixed batches: the valid events go in, the invalid ones are dead-lettered -----------------------


def journey_event_ids(client: httpx.Client, identifier: str) -> list[str] | None:
    """The event ids in the journey of the order known by `identifier`, once the correlator has it."""
    matches = client.get("/v1/lookup", params={"q": identifier}).json()["matches"]
    if not matches or not matches[0]["journeys"]:
        return None
    assert len(matches) == 1 and len(matches[0]["journeys"]) == 1, matches
    journey = client.get(f"/v1/journeys/{matches[0]['journeys'][0]}")
    assert journey.status_code == 200, journey.text
    return sorted(e["id"] for e in journey.json()["events"])


def wait_for_journey(client: httpx.Client, identifier: str, expected: list[str], timeout: float = 5) -> None:
    """Poll until the journey of `identifier` holds exactly `expected` (correlation is asynchronous)."""
    seen: list[list[str] | None] = []

    def check() -> bool:
        seen.append(journey_event_ids(client, identifier))
        return seen[-1] == expected

    try:
        wait_for(check, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"journey of {identifier}: expected events {expected}, last saw {seen[-1]}") from None


def mixed_events(prefix: str) -> list[dict[str, Any]]:
    """Five events about order #3001: #1 lacks a source, #3 has a date-only time; the others are valid."""
    events = [event(f"{prefix}-{i}", order="#3001", time=f"2026-11-20T10:0{i}:00Z") for i in range(5)]
    events[1].pop("source")
    events[3]["time"] = "2026-11-20"
    return events


def check_mixed(client: httpx.Client, response: httpx.Response, prefix: str, raws: dict[int, bytes]) -> None:
    assert response.status_code == 202, response.text
    payload = response.json()
    assert payload["accepted"] == 3 and payload["duplicates"] == 0, payload
    rejected = payload["rejected"]
    assert [(r["index"], r["id"], r["field"]) for r in rejected] == [
        (1, f"{prefix}-1", "source"),
        (3, f"{prefix}-3", "time"),
    ], rejected
    assert rejected[0]["reason"] == "is required", rejected
    assert "is not an RFC 3339 date-time" in rejected[1]["reason"], rejected

    valid_ids = [f"{prefix}-0", f"{prefix}-2", f"{prefix}-4"]
    wait_for_journey(client, "#3001", valid_ids)

    letters = {d["index"]: d for d in dead_letters(client)}
    assert sorted(letters) == [1, 3], letters
    for index, field in ((1, "source"), (3, "time")):
        letter = letters[index]
        assert letter["event_id"] == f"{prefix}-{index}", letter
        assert letter["field"] == field, letter
        assert letter["status"] == 400, letter
        assert decoded_raw(letter) == raws[index], (decoded_raw(letter), raws[index])


@pytest.mark.slow
def test_mixed_batch_accepts_the_valid_events(api: httpx.Client) -> None:
    events = mixed_events("mix-nd")
    # lines as a client writes them: spacing inside, CRLF line ends, a blank line in between
    lines = [orjson.dumps(e).replace(b'","', b'", "') for e in events]
    body = b"\r\n".join(lines[:3]) + b"\r\n\r\n" + b"\r\n".join(lines[3:]) + b"\r\n"
    response = post(api, body, NDJSON)
    check_mixed(api, response, "mix-nd", {1: lines[1], 3: lines[3]})


@pytest.mark.slow
def test_mixed_json_array_accepts_the_valid_events(api: httpx.Client) -> None:
    events = mixed_events("mix-arr")
    response = post(api, orjson.dumps(events), BATCH)
    check_mixed(api, response, "mix-arr", {1: orjson.dumps(events[1]), 3: orjson.dumps(events[3])})


# --- duplicates -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_duplicate_is_counted_not_stored(api: httpx.Client) -> None:
    first = event("dup-a", order="#4001")
    second = event("dup-b", order="#4002", type="order.accepted")

    def ingest(body: bytes, content_type: str) -> dict[str, Any]:
        response = post(api, body, content_type)
        assert response.status_code == 202, response.text
        return dict(response.json())

    assert ingest(orjson.dumps(first), SINGLE) == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert ingest(orjson.dumps(first), SINGLE) == {"accepted": 0, "duplicates": 1, "rejected": []}
    # a batch naming the stored event twice stores nothing
    assert ingest(orjson.dumps([first, first]), BATCH) == {"accepted": 0, "duplicates": 2, "rejected": []}
    # a batch naming a new event twice stores it once
    assert ingest(orjson.dumps([second, second]), BATCH) == {"accepted": 1, "duplicates": 1, "rejected": []}
    # and a batch of both, again, stores nothing
    both = orjson.dumps(first) + b"\n" + orjson.dumps(second)
    assert ingest(both, NDJSON) == {"accepted": 0, "duplicates": 2, "rejected": []}
    # same (source, id) with a different body is still the same event
    changed = {**first, "time": "2026-11-21T10:00:00Z"}
    assert ingest(orjson.dumps(changed), SINGLE) == {"accepted": 0, "duplicates": 1, "rejected": []}

    wait_for_journey(api, "#4001", ["dup-a"])
    wait_for_journey(api, "#4002", ["dup-b"])
    assert dead_letters(api) == []
