"""tower.telemetry: configured by OTEL_* variables, never blocking the host, deterministic when seeded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.base import event
from adapters.sdk import Emitter
from tests.conftest import correlated, free_port, wait_for
from tower.telemetry import SeededIdGenerator, configure_tracing, nanos, shutdown_tracing


def test_tracing_is_off_unless_the_otel_variables_ask_for_it() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert configure_tracing("t", environ={}, set_global=False) is None
    assert configure_tracing("t", environ={**endpoint, "OTEL_SDK_DISABLED": "true"}, set_global=False) is None
    assert configure_tracing("t", environ={**endpoint, "OTEL_TRACES_EXPORTER": "none"}, set_global=False) is None
    on = configure_tracing("t", environ=endpoint, set_global=False)
    assert isinstance(on, TracerProvider)
    assert on.resource.attributes["service.name"] == "t"
    assert shutdown_tracing(on)
    console = configure_tracing("t", environ={"OTEL_TRACES_EXPORTER": "console"}, set_global=False)
    assert isinstance(console, TracerProvider)
    assert shutdown_tracing(console)


def simulated_trace(seed: int) -> tuple[list[Any], bytes]:
    memory = InMemorySpanExporter()
    provider = configure_tracing(
        "simulator",
        exporter=memory,
        id_generator=SeededIdGenerator(seed),
        resource_attributes={"service.instance.id": f"sim-{seed}"},
        set_global=False,
    )
    assert provider is not None
    tracer = provider.get_tracer("simulator")
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    for order in range(5):
        at = start + timedelta(minutes=order)
        root = tracer.start_span("erp.push_order", start_time=nanos(at), attributes={"order.id": f"SO-{order}"})
        root.end(end_time=nanos(at + timedelta(milliseconds=250)))
    provider.force_flush()
    spans = list(memory.get_finished_spans())
    shutdown_tracing(provider)
    return spans, encode_spans(spans).SerializeToString()


def test_a_seeded_id_generator_and_simulated_times_give_byte_identical_spans() -> None:
    first, first_bytes = simulated_trace(42)
    again, again_bytes = simulated_trace(42)
    other, _ = simulated_trace(43)
    assert first_bytes == again_bytes
    assert [s.context.trace_id for s in first] == [s.context.trace_id for s in again]
    assert {s.context.trace_id for s in first}.isdisjoint({s.context.trace_id for s in other})
    assert first[0].start_time == nanos(datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) == 1772355600 * 10**9
    assert first[0].end_time - first[0].start_time == 250_000_000


def test_an_exporter_that_refuses_connections_drops_spans_and_never_blocks_the_host() -> None:
    port = free_port()
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_BSP_MAX_QUEUE_SIZE": "256",
        "OTEL_BSP_SCHEDULE_DELAY": "10",
    }
    provider = configure_tracing("host", environ=environ, set_global=False)
    assert provider is not None
    tracer = provider.get_tracer("host")
    ended = 0
    for n in range(20_000):  # far past the queue: the extra spans are dropped, not waited for
        with tracer.start_as_current_span("work", attributes={"n": n}):
            ended += 1
    assert ended == 20_000
    assert shutdown_tracing(provider, timeout=10)  # the export in flight gives up within its own timeout
    exporter = provider._active_span_processor._span_processors[0].span_exporter  # type: ignore[attr-defined]
    assert exporter._endpoint == f"http://127.0.0.1:{port}/v1/traces"  # the refusing endpoint, from environ
    assert exporter.export([]) == SpanExportResult.FAILURE  # shut down, not hanging


def test_control_tower_traces_its_own_ingest_and_correlation_beneath_the_callers_step(
    start_server: Any, tenant: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(
        port=port,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"X-Tower-Tenant={tenant}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"X-Tower-Tenant": tenant})
    provider = configure_tracing("wms-sync", exporter=exporter, set_global=False)
    assert provider is not None
    tracer = provider.get_tracer("wms-sync")
    with (
        tracer.start_as_current_span("wms.confirm_pack") as step,
        Emitter(server.url, tenant=tenant, source="wms/dc-west") as tower,
    ):
        objects = [{"type": "order", "ids": {"erp": "SO-9001"}}]
        tower.emit(event("pack-9001", "", "fulfillment.packed", "2026-11-20T12:00:00Z", objects))
    shutdown_tracing(provider)
    step_id = f"{step.get_span_context().span_id:016x}"

    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": tenant}, timeout=30) as api:
        wait_for(lambda: correlated(api))
        (match,) = api.get("/v1/lookup", params={"q": "SO-9001"}).json()["matches"]

        def server_spans_beneath_the_step() -> dict[str, dict[str, Any]]:
            journey = api.get(f"/v1/journeys/{match['journeys'][0]}").json()
            (packed,) = journey["events"]
            spans = {s["name"]: s for s in packed["spans"]}
            return spans if {"POST /v1/events", "ingest.events"} <= spans.keys() else {}

        spans = wait_for(server_spans_beneath_the_step, timeout=20)
        request, ingest = spans["POST /v1/events"], spans["ingest.events"]
        assert request["parent_span_id"] == step_id  # the Emitter's traceparent header, continued
        assert request["service"] == "control-tower" and request["kind"] == "Server"
        assert ingest["parent_span_id"] == request["span_id"]
        assert ingest["attributes"]["tower.events.accepted"] == 1
        assert ingest["attributes"]["tower.tenant"] == tenant
        steps = wait_for(
            lambda: api.get("/v1/traces", params={"service": "control-tower", "name": "correlator.step"}).json()[
                "items"
            ],
            timeout=20,
        )
        assert steps[0]["root"] == "correlator.step"
        # Its own span exports and the readiness polling make no spans: nothing feeds back.
        roots = {item["root"] for item in api.get("/v1/traces", params={"limit": 1000}).json()["items"]}
        assert roots.isdisjoint({"POST /v1/traces", "GET /readyz"}), roots
