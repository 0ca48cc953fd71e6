"""The SDK: events emitted inside a sync step carry that step's span as their traceparent."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.base import event
from adapters.sdk import EmitError, Emitter, sync_step
from tests.conftest import ServerProcess, correlated, wait_for

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def tracing() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)


def test_a_sync_step_stamps_its_span_on_the_events_it_emits(server: ServerProcess, tenant: str) -> None:
    with Emitter(server.url, tenant=tenant, source="wms/dc-east") as tower:

        @sync_step("wms.confirm_pick", emitter=tower, attributes={"warehouse": "dc-east"})
        def confirm(order: str) -> None:
            tower.emit(
                event(
                    "pick-1",
                    "",
                    "fulfillment.picked",
                    "2026-11-20T10:00:00Z",
                    [{"type": "order", "ids": {"erp": order}}],
                )
            )

        confirm("SO-77")
        assert tower.accepted == 1
    (span,) = [s for s in EXPORTER.get_finished_spans() if s.name == "wms.confirm_pick"]
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": tenant}) as api:
        wait_for(lambda: correlated(api))
        (match,) = api.get("/v1/lookup", params={"q": "SO-77"}).json()["matches"]
        journey = api.get(f"/v1/journeys/{match['journeys'][0]}").json()
    (emitted,) = journey["events"]
    context = span.context
    assert emitted["traceparent"] == (
        f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    )
    assert journey["traces"] == [f"{span.context.trace_id:032x}"]


def test_rejected_events_raise_with_the_servers_reasons(server: ServerProcess, tenant: str) -> None:
    tower = Emitter(server.url, tenant=tenant, source="wms/dc-east")
    tower.emit({"specversion": "1.0", "id": "x", "type": "Picked", "time": "2026-11-20T10:00:00Z", "data": {}})
    with pytest.raises(EmitError) as raised:
        tower.flush()
    assert raised.value.details[0]["field"] == "type"


def test_a_failing_step_marks_its_span_as_an_error() -> None:
    @sync_step("erp.push_order")
    def push() -> None:
        raise ConnectionError("ERP unreachable")

    with pytest.raises(ConnectionError):
        push()
    (span,) = [s for s in EXPORTER.get_finished_spans() if s.name == "erp.push_order"]
    assert span.status.status_code.name == "ERROR"
    assert span.events[0].name == "exception"
