"""`POST /v1/traces`: OTLP/HTTP spans from a real exporter, the OTLP JSON fixtures, partial success, bad bodies."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.trace import Status as SpanStatus

from tests.conftest import ServerProcess
from tests.support.ocel import FIXTURES

OTLP_FIXTURES = sorted((FIXTURES / "otlp").rglob("*.json"))
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON_BODY = {"Content-Type": "application/json"}


def record_spans(count: int) -> list[ReadableSpan]:
    """`count` finished spans from the SDK: nested, typed attributes, events, links, an error status."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "wms-sync", "deployment.id": 7}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.traces", "1.2.3")
    made = 0
    while made < count:
        with tracer.start_as_current_span("sync.run", kind=SpanKind.SERVER, attributes={"batch": made}) as root:
            made += 1
            previous = root.get_span_context()
            for attempt in range(min(4, count - made)):
                with tracer.start_as_current_span(
                    "erp.push_order",
                    kind=SpanKind.CLIENT,
                    links=[Link(previous, {"link.kind": "retry_of", "attempt": attempt})],
                    attributes={
                        "order.id": f"SO-{made}",
                        "attempt": attempt,
                        "latency.ratio": 0.25 * attempt + 0.1,
                        "retry": attempt > 0,
                        "tags": ["erp", "push"],
                        "codes": [200, 503],
                    },
                ) as span:
                    span.add_event("http.response", {"status": 503, "retry_after": 1.5, "final": False})
                    if attempt < 2:
                        span.set_status(SpanStatus(StatusCode.ERROR, "503 from ERP"))
                    previous = span.get_span_context()
                made += 1
    provider.shutdown()
    return list(memory.get_finished_spans())


def as_json(value: Any) -> Any:
    """SDK attribute values as the API returns them: tuples are lists."""
    if isinstance(value, tuple):
        return [as_json(v) for v in value]
    return value


def stored_trace(api: httpx.Client, trace_id: int) -> dict[str, dict[str, Any]]:
    response = api.get(f"/v1/traces/{trace_id:032x}")
    assert response.status_code == 200, response.text
    return {s["span_id"]: s for s in response.json()["spans"]}


def test_a_real_otlp_exporter_stores_every_span_with_ids_and_typed_attributes(api: httpx.Client) -> None:
    spans = record_spans(120)
    exporter = OTLPSpanExporter(
        endpoint=f"{api.base_url}/v1/traces",
        compression=Compression.Gzip,
        headers={"X-Tower-Tenant": api.headers["X-Tower-Tenant"]},
    )
    # The exporter's own batches: protobuf, gzip, as a BatchSpanProcessor would send them.
    for start in range(0, len(spans), 50):
        assert exporter.export(spans[start : start + 50]) == SpanExportResult.SUCCESS
    exporter.shutdown()

    stored: dict[str, dict[str, Any]] = {}
    for trace_id in {s.context.trace_id for s in spans}:
        stored |= stored_trace(api, trace_id)
    assert len(stored) == len(spans)
    for span in spans:
        got = stored[f"{span.context.span_id:016x}"]
        assert got["trace_id"] == f"{span.context.trace_id:032x}"
        assert got["parent_span_id"] == (f"{span.parent.span_id:016x}" if span.parent else None)
        assert got["name"] == span.name
        assert got["kind"] == {SpanKind.SERVER: "Server", SpanKind.CLIENT: "Client"}[span.kind]
        assert got["service"] == "wms-sync"
        assert got["scope"] == {"name": "tests.traces", "version": "1.2.3"}
        assert got["start_unix_nano"] == span.start_time
        assert got["duration_ns"] == span.end_time - span.start_time
        assert got["attributes"] == {k: as_json(v) for k, v in span.attributes.items()}
        assert got["resource"]["deployment.id"] == 7
        assert got["status"]["code"] == {StatusCode.UNSET: "Unset", StatusCode.ERROR: "Error"}[span.status.status_code]
        assert got["status"]["message"] == span.status.description
        assert [(e["name"], e["attributes"]) for e in got["events"]] == [
            (e.name, dict(e.attributes)) for e in span.events
        ]
        assert [(ln["trace_id"], ln["span_id"], ln["attributes"]) for ln in got["links"]] == [
            (f"{ln.context.trace_id:032x}", f"{ln.context.span_id:016x}", dict(ln.attributes)) for ln in span.links
        ]
    # Typed means typed: ints, floats, bools and arrays come back as such, not as their strings.
    retry = next(s for s in stored.values() if s["attributes"].get("attempt") == 3)
    assert retry["attributes"]["attempt"] == 3 and retry["attributes"]["retry"] is True
    assert retry["attributes"]["latency.ratio"] == 0.85 and retry["attributes"]["codes"] == [200, 503]
    assert retry["events"][0]["attributes"] == {"status": 503, "retry_after": 1.5, "final": False}


def count_spans(document: dict[str, Any]) -> int:
    return sum(
        len(scope.get("spans", []))
        for resource in document.get("resourceSpans", [])
        for scope in resource.get("scopeSpans", [])
    )


def count_log_records(document: dict[str, Any]) -> int:
    return sum(
        len(scope.get("logRecords", []))
        for resource in document.get("resourceLogs", [])
        for scope in resource.get("scopeLogs", [])
    )


@pytest.mark.parametrize("path", OTLP_FIXTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_otlp_json_fixture_ingests_with_its_span_count(path: Path, api: httpx.Client) -> None:
    """Every file goes to /v1/traces (a logs or metrics file holds no spans: none are stored);
    a logs file also goes to /v1/logs, with its record count."""
    document = json.loads(path.read_bytes())
    expected = count_spans(document)
    response = api.post("/v1/traces", content=path.read_bytes(), headers=JSON_BODY)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "partialSuccess" not in response.json()
    listed = api.get("/v1/traces", params={"limit": 1000}).json()
    assert listed["spans"] == expected
    assert sum(item["spans"] for item in listed["items"]) == expected
    sent_traces = {
        span["traceId"].lower()
        for resource in document.get("resourceSpans", [])
        for scope in resource.get("scopeSpans", [])
        for span in scope.get("spans", [])
    }
    assert {item["trace_id"] for item in listed["items"]} == sent_traces
    if "resourceLogs" in document:
        response = api.post("/v1/logs", content=path.read_bytes(), headers=JSON_BODY)
        assert response.status_code == 200, response.text
        assert "partialSuccess" not in response.json()
        assert api.get("/v1/logs").json()["total"] == count_log_records(document) > 0


def test_log_records_keep_their_typed_attributes_and_body_and_join_their_trace(api: httpx.Client) -> None:
    logs = FIXTURES / "otlp" / "opentelemetry-proto" / "logs.json"
    response = api.post(
        "/v1/logs", content=gzip.compress(logs.read_bytes()), headers={**JSON_BODY, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    (record,) = api.get("/v1/logs", params={"trace_id": "5B8EFFF798038103D269B633813FC60C"}).json()["items"]
    assert record["attributes"] == {
        "string.attribute": "some string",
        "boolean.attribute": True,
        "int.attribute": 10,
        "double.attribute": 637.704,
        "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"},
    }
    assert record["body"] == "Example log record"
    assert record["severity"] == {"text": "Information", "number": 10}
    assert (record["span_id"], record["service"]) == ("eee19b7ec3c1b174", "my.service")
    assert record["time_unix_nano"] == 1544712660300000000
    events = FIXTURES / "otlp" / "opentelemetry-proto" / "events.json"
    assert api.post("/v1/logs", content=events.read_bytes(), headers=JSON_BODY).status_code == 200
    (event,) = [r for r in api.get("/v1/logs").json()["items"] if r["event_name"]]
    assert event["event_name"] == "browser.page_view"
    assert event["body"]["type"] == 0  # a kvlist body comes back as a map, its int as an int


def test_log_records_with_unusable_ids_are_refused_in_a_partial_success(api: httpx.Client) -> None:
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"timeUnixNano": "1700000000000000000", "traceId": "abcd", "body": {"stringValue": "x"}},
                            {"timeUnixNano": "1700000000000000000", "body": {"stringValue": "kept"}},
                        ]
                    }
                ]
            }
        ]
    }
    response = api.post("/v1/logs", json=body)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "logRecords[0]: traceId" in response.json()["partialSuccess"]["errorMessage"]
    assert [r["body"] for r in api.get("/v1/logs").json()["items"]] == ["kept"]


def test_the_fixtures_are_there() -> None:
    assert len(OTLP_FIXTURES) >= 12, f"expected the OTLP fixtures under {FIXTURES / 'otlp'}"


def test_json_ids_names_and_typed_values_follow_the_otlp_json_mapping(api: httpx.Client) -> None:
    source = FIXTURES / "otlp" / "jaeger" / "cassandra_otel_traces_01.json"
    raw = source.read_bytes()
    two_members = gzip.compress(raw[:100]) + gzip.compress(raw[100:])  # as `cat a.gz b.gz` makes
    response = api.post("/v1/traces", content=two_members, headers={**JSON_BODY, "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    (span,) = api.get("/v1/traces/00000000000000010000000000000000").json()["spans"]
    assert span["span_id"] == "0000000000000002" and span["parent_span_id"] == "0000000000000003"
    assert span["trace_state"] == "some-state"
    assert span["attributes"] == {
        "blob": "AAAwOQ==",
        "peer.service": "service-y",
        "temperature": 72.5,
        "peer.ipv4": 23456,
    }
    assert span["status"] == {"code": "Error", "message": "random-message"}
    assert span["start_unix_nano"] == 1485467191639875000 and span["duration_ns"] == 5000
    assert [e["name"] for e in span["events"]] == ["", "testing-event"]
    assert [(ln["trace_id"], ln["span_id"]) for ln in span["links"]] == [
        ("00000000000000010000000000000000", "0000000000000004"),
        ("00000000000000ff0000000000000000", "00000000000000ff"),
    ]
    # Upper-case hex ids (opentelemetry-proto's own example) are the same ids.
    example = FIXTURES / "otlp" / "opentelemetry-proto" / "trace.json"
    assert api.post("/v1/traces", content=example.read_bytes(), headers=JSON_BODY).status_code == 200
    (server,) = api.get("/v1/traces/5B8EFFF798038103D269B633813FC60C").json()["spans"]
    assert (server["span_id"], server["kind"]) == ("eee19b7ec3c1b174", "Server")
    assert server["scope"] == {"name": "my.library", "version": "1.0.0"}
    logs = FIXTURES / "otlp" / "opentelemetry-proto" / "logs.json"
    assert api.post("/v1/logs", content=logs.read_bytes(), headers=JSON_BODY).status_code == 200
    (log,) = api.get("/v1/traces/5b8efff798038103d269b633813fc60c").json()["logs"]
    assert log["span_id"] == server["span_id"]  # the trace view carries the trace's log records


def json_span(trace_id: str, span_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000",
        **extra,
    }


def test_spans_with_unusable_ids_are_refused_one_by_one_in_a_partial_success(api: httpx.Client) -> None:
    good = "0af7651916cd43dd8448eb211c80319c"
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            json_span("not-hex", "b7ad6b7169203331", "bad trace id"),
                            json_span(good, "0000000000000000", "zero span id"),
                            json_span(good, "b7ad6b7169203331", "kept", parentSpanId="abc"),
                            json_span(good, "b7ad6b7169203332", "kept too", kind="SPAN_KIND_CLIENT"),
                        ]
                    }
                ]
            }
        ]
    }
    response = api.post("/v1/traces", json=body)
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3"  # int64 is a string in OTLP/JSON
    assert "spans[0] ('bad trace id'): traceId" in partial["errorMessage"]
    assert "spans[1] ('zero span id'): spanId" in partial["errorMessage"]
    assert "spans[2] ('kept'): parentSpanId" in partial["errorMessage"]
    (kept,) = api.get(f"/v1/traces/{good}").json()["spans"]
    assert (kept["name"], kept["kind"]) == ("kept too", "Client")

    # The same refusal over protobuf is a protobuf ExportTraceServiceResponse.
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(trace_id=bytes(16), span_id=bytes.fromhex("b7ad6b7169203331"), name="zero trace")
    spans.add(trace_id=bytes.fromhex(good), span_id=bytes.fromhex("b7ad6b7169203333"), name="fine")
    response = api.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    reply = ExportTraceServiceResponse.FromString(response.content)
    assert reply.partial_success.rejected_spans == 1
    assert "('zero trace'): traceId" in reply.partial_success.error_message
    assert len(api.get(f"/v1/traces/{good}").json()["spans"]) == 2


@pytest.mark.parametrize(
    ("headers", "body", "status", "says"),
    [
        (PROTOBUF, b"\x0a\xff\xff\xff", 400, "not a valid ExportTraceServiceRequest"),
        (JSON_BODY, b"{not json", 400, "not JSON"),
        (JSON_BODY, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": {"a": 1}}]}]}]}', 400, "OTLP/JSON"),
        (JSON_BODY, b"[]", 400, "JSON object"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, b"plain bytes", 400, "not valid gzip"),
        ({**PROTOBUF, "Content-Encoding": "br"}, b"x", 415, "'br'"),
        ({"Content-Type": "text/plain"}, b"x", 415, "application/x-protobuf or application/json"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, gzip.compress(bytes(17 * 1024 * 1024)), 413, "decompressed"),
    ],
    ids=["garbage-protobuf", "bad-json", "name-not-a-string", "json-array", "bad-gzip", "brotli", "text", "gzip-bomb"],
)
def test_bodies_that_cannot_be_read_are_refused_whole_with_a_status_saying_why(
    api: httpx.Client, headers: dict[str, str], body: bytes, status: int, says: str
) -> None:
    response = api.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == status, response.text
    if response.headers["content-type"] == "application/x-protobuf":
        message = Status.FromString(response.content).message
    else:
        message = response.json()["message"]
    assert says in message


@pytest.fixture
def closed_port_env() -> Iterator[dict[str, str]]:
    from tests.conftest import free_port

    yield {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}", "OTEL_BSP_SCHEDULE_DELAY": "50"}


def test_a_server_whose_span_exporter_is_down_still_ingests(
    start_server: Any, closed_port_env: dict[str, str], tenant: str
) -> None:
    from tests.conftest import correlated, post_events, wait_for

    server: ServerProcess = start_server(env=closed_port_env)
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": tenant}, timeout=30) as client:
        for n in range(20):
            post_events(
                client,
                [
                    {
                        "specversion": "1.0",
                        "id": f"o-{n}",
                        "source": "shop/eu",
                        "type": "order.received",
                        "time": "2026-11-20T10:00:00Z",
                        "data": {"objects": [{"type": "order", "ids": {"shop": f"#{n}"}}]},
                    }
                ],
            )
        wait_for(lambda: correlated(client))
        assert len(client.get("/v1/lookup", params={"q": "#19"}).json()["matches"]) == 1
    assert "Failed to export" in server.log() or "Transient error" in server.log()
