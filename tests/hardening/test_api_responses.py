"""Every success body, on real traffic, matches the schema `/openapi.json` declares for it.

The schemathesis test checks every answer against the schema, but on a tenant seeded with three
events: most lists come back empty and their items are never looked at. Here a tenant gets a
slice of the order-management OCEL log (journeys with parcels, anomalies, delivered and stuck
orders), every X12 fixture through `/v1/deliveries` (EDI chains, inventory snapshots, 997 replies),
the OTLP examples and a bad event; then every operation is called the way a client would and each
answer is validated (JSON Schema 2020-12, formats checked) against the schema the server serves.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.conftest import ServerProcess, correlated, post_events, wait_for
from tests.support.ocel import FIXTURES, OCEL_ORDER_MANAGEMENT, load_ocel, ocel_to_canonical

OCEL_EVENTS = 3_000
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def rfc3339(value: object) -> bool:
    """RFC 3339 (jsonschema checks `date-time` only with a library this project does not need)."""
    return not isinstance(value, str) or RFC3339.fullmatch(value) is not None


def operations_events(now: datetime) -> list[dict[str, Any]]:
    """What the OCEL log has none of: inventory snapshots that disagree (one oversold) and sync
    failures, many in the last hour (the integration-errors SLO burns its budget: alerts)."""

    def event(eid: str, source: str, etype: str, minutes_ago: int, facts: dict[str, Any]) -> dict[str, Any]:
        at = (now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"specversion": "1.0", "id": eid, "source": source, "type": etype, "time": at, "data": {"facts": facts}}

    snapshot = {"warehouse": "dc-east", "sku": "SKU-9"}
    events = [
        event("snap-erp", "erp/netsuite", "inventory.snapshot", 30, {**snapshot, "on_hand": 10, "available": 8}),
        event("snap-wms", "wms/dc-east", "inventory.snapshot", 20, {**snapshot, "on_hand": 7, "available": -2}),
        event("snap-erp-2", "erp/netsuite", "inventory.snapshot", 10, {**snapshot, "on_hand": 10, "available": 8}),
        event("snap-wms-2", "wms/dc-east", "inventory.snapshot", 5, {**snapshot, "on_hand": 7, "available": -2}),
    ]
    for i in range(60):
        kind = ("sync.failed", "sync.retried", "sync.dead_lettered")[i % 3]
        facts = {"system": "erp", "operation": "post order", "error": "HTTP 503", "attempt": i}
        events.append(event(f"sync-{i}", "ipaas/celigo", kind, 60 - i, facts))
    return events


X12 = sorted((FIXTURES / "edi_x12/oopfactory-x12parser").glob("*.txt")) + sorted(
    (FIXTURES / "edi_x12/node-x12").glob("*.edi")
)


@pytest.fixture(scope="module")
def seeded(server: ServerProcess) -> Iterator[httpx.Client]:
    tenant = f"answers-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": tenant}, timeout=120) as client:
        events = sorted(ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT)), key=lambda e: (e["time"], e["id"]))
        post_events(client, events[:OCEL_EVENTS] + operations_events(datetime.now(UTC)))
        yield client


def served(client: httpx.Client) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/openapi.json").json()
    return spec


class Answers:
    """Validates answers against the served schema, remembering what it checked."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.checked: dict[str, int] = {}
        self.failures: list[str] = []

    def check(self, method: str, path: str, response: httpx.Response, expected: int) -> Any:
        label = f"{method.upper()} {path}"
        assert response.status_code == expected, (label, response.status_code, response.text[:500])
        declared = self.spec["paths"][path][method]["responses"][str(expected)]["content"]
        media = response.headers["content-type"].split(";")[0]
        assert media in declared, (label, media, list(declared))
        schema = declared[media]["schema"]
        if media.endswith("json"):
            body = response.json()
            validator = Draft202012Validator({**schema, "components": self.spec["components"]}, format_checker=FORMATS)
            for error in validator.iter_errors(body):
                self.failures.append(f"{label}: {error.json_path}: {error.message[:300]}")
        else:
            body = response.content
            if "pattern" in schema:
                assert re.search(schema["pattern"], response.text), (label, response.text[:200])
        self.checked[label] = self.checked.get(label, 0) + 1
        return body


def test_every_success_on_real_traffic_matches_its_schema(seeded: httpx.Client) -> None:
    api = seeded
    answers = Answers(served(api))
    ndjson = {"Content-Type": "application/x-ndjson"}

    # ingest: canonical events, one refused among them (it becomes a dead letter)
    bad = b'{"specversion":"1.0","id":"x"}\n'
    extra = orjson.dumps(
        {
            "specversion": "1.0",
            "id": "snap-1",
            "source": "erp/netsuite",
            "type": "order.received",
            "time": "2026-11-20T10:00:00Z",
            "data": {"objects": [{"type": "order", "ids": {"erp": "SO-ANSWERS"}}]},
        }
    )
    taken = answers.check("post", "/v1/events", api.post("/v1/events", content=bad + extra, headers=ndjson), 202)
    assert len(taken["rejected"]) == 1 and taken["accepted"] == 1

    # every X12 fixture through /v1/deliveries, and one line naming no adapter there is
    lines = [orjson.dumps({"adapter": "x12", "body": path.read_text(errors="replace")}) for path in X12]
    lines.append(orjson.dumps({"adapter": "no-such-adapter", "body": "x"}))
    delivered = answers.check(
        "post", "/v1/deliveries", api.post("/v1/deliveries", content=b"\n".join(lines), headers=ndjson), 202
    )
    assert delivered["deliveries"] == len(lines) and delivered["refused"] >= 1
    assert any(r["status"] == 202 and "reply" in r for r in delivered["results"]), "no X12 reply to check"

    # one adapter alone: an 850, answered with its 997
    order = (FIXTURES / "edi_x12/node-x12/850.edi").read_bytes()
    single = api.post("/v1/adapters/x12", content=order, headers={"Content-Type": "application/edi-x12"})
    answers.check("post", "/v1/adapters/{adapter}", single, 202)

    for signal, example in (("traces", "trace.json"), ("logs", "logs.json")):
        body = (FIXTURES / "otlp/opentelemetry-proto" / example).read_bytes()
        sent = api.post(f"/v1/{signal}", content=body, headers={"Content-Type": "application/json"})
        answers.check("post", f"/v1/{signal}", sent, 200)
    wait_for(lambda: correlated(api), timeout=120)

    # reads: lists, then the item each list leads to
    lists = {
        "/v1/journeys": {"limit": "20"},
        "/v1/journeys/summary": {"by": "stage,carrier"},
        "/v1/lookup": {"q": "SO-ANSWERS"},
        "/v1/dead-letters": {},
        "/v1/traces": {},
        "/v1/logs": {},
        "/v1/slos": {},
        "/v1/alerts": {},
        "/v1/silences": {},
        "/v1/kpis": {"from": "2000-01-01T00:00:00Z"},
        "/v1/kpis/targets": {},
        "/v1/admin/clock": {},
        "/v1/reconciliation/inventory": {"unconfirmed": "true"},
        "/v1/reconciliation/tracking": {},
        "/v1/reconciliation/edi": {},
        "/v1/reconciliation/stuck": {},
        "/v1/reconciliation/oversell": {},
        "/v1/reconciliation/anomalies": {"kind": "out_of_sequence"},
        "/v1/integration/failures": {"from": "2000-01-01T00:00:00Z"},
        "/healthz": {},
        "/readyz": {},
        "/metrics": {},
    }
    got = {path: answers.check("get", path, api.get(path, params=params), 200) for path, params in lists.items()}
    for journey in got["/v1/journeys"]["items"]:
        answers.check("get", "/v1/journeys/{journey_id}", api.get(f"/v1/journeys/{journey['id']}"), 200)
    trace_id = got["/v1/traces"]["items"][0]["trace_id"]
    answers.check("get", "/v1/traces/{trace_id}", api.get(f"/v1/traces/{trace_id}"), 200)
    for slo in got["/v1/slos"]["items"][:3]:
        answers.check("get", "/v1/slos/{name}/series", api.get(f"/v1/slos/{slo['name']}/series"), 200)

    # writes an operator makes
    answers.check("post", "/v1/slos/evaluate", api.post("/v1/slos/evaluate"), 200)
    targets = api.put("/v1/kpis/targets", json={"on_time_shipment": 0.95})
    answers.check("put", "/v1/kpis/targets", targets, 200)
    silence = {"matchers": [{"name": "slo", "value": "allocation"}], "ends_at": "2299-01-01T00:00:00Z"}
    created = answers.check("post", "/v1/silences", api.post("/v1/silences", json={**silence, "created_by": "t"}), 201)
    answers.check("delete", "/v1/silences/{silence_id}", api.delete(f"/v1/silences/{created['id']}"), 200)
    alerts = api.get("/v1/alerts", params={"state": "firing"}).json()["items"]
    if alerts:
        acked = api.post(f"/v1/alerts/{alerts[0]['id']}/ack", json={"by": "t"})
        answers.check("post", "/v1/alerts/{alert_id}/ack", acked, 200)
    assert answers.failures == []
    # the lists held items, so their item schemas were exercised, not only the envelope
    for path in (
        "/v1/journeys",
        "/v1/dead-letters",
        "/v1/traces",
        "/v1/logs",
        "/v1/slos",
        "/v1/reconciliation/inventory",
        "/v1/reconciliation/tracking",
        "/v1/reconciliation/edi",
        "/v1/reconciliation/stuck",
        "/v1/reconciliation/oversell",
        "/v1/reconciliation/anomalies",
        "/v1/integration/failures",
    ):
        assert got[path]["items"], f"{path} answered no items: its item schema went unchecked"
    assert got["/v1/lookup"]["matches"]
    # every operation but moving the clock (this server follows the system's: the next test) and the
    # replay of a dead letter (which succeeds only once what refused its input was fixed)
    missing = {f"{m.upper()} {p}" for p, item in answers.spec["paths"].items() for m in item} - set(answers.checked)
    assert missing == {"POST /v1/admin/clock", "POST /v1/dead-letters/{letter_id}/replay"}


def test_the_driven_clock_answers_as_declared(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(env={"TOWER_CLOCK": "2026-03-01T00:00:00Z"})
    with httpx.Client(base_url=server.url, timeout=60) as api:
        answers = Answers(served(api))
        moved = api.post("/v1/admin/clock", json={"now": "2026-03-02T00:00:00Z"})
        assert answers.check("post", "/v1/admin/clock", moved, 200)["now"] == "2026-03-02T00:00:00Z"
        assert answers.check("get", "/v1/admin/clock", api.get("/v1/admin/clock"), 200)["mode"] == "manual"
        released = answers.check("post", "/v1/admin/clock", api.post("/v1/admin/clock", json={"mode": "system"}), 200)
        assert released["mode"] == "system"
        assert answers.failures == []
