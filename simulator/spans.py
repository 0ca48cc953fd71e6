"""The simulated sync steps' spans, made with opentelemetry-sdk.

Every sync step (an order import, a label purchase, a file transfer) runs in a span of its
system's service; the events it produced carry that span's W3C `traceparent`. Ids come from a
`SeededIdGenerator` and times are the simulated ones, so a seed gives the same spans byte for
byte. The spans of each step are gathered and sent to the tower as one OTLP/protobuf request
(`POST /v1/traces`); when the standard `OTEL_*` variables name another backend, they go there too
(through the SDK's batch processor).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from tower.telemetry import SeededIdGenerator, configure_tracing, nanos


class _Gather(SpanExporter):
    """Keeps finished spans until the step that made them is delivered."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.spans.clear()


class SyncSteps:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.ids = SeededIdGenerator(seed)
        self._gathered = _Gather()
        self._tracers: dict[str, Tracer] = {}
        self._providers: list[TracerProvider] = []

    def _tracer(self, service: str) -> Tracer:
        tracer = self._tracers.get(service)
        if tracer is None:
            attributes = {"service.name": service, "service.instance.id": f"simulator-{self.seed}"}
            provider = configure_tracing(
                service, id_generator=self.ids, resource_attributes=attributes, set_global=False
            )
            if provider is None:  # no OTEL_* backend: the tower is the only one
                provider = TracerProvider(
                    resource=Resource.create(attributes), id_generator=self.ids, shutdown_on_exit=False
                )
            provider.add_span_processor(SimpleSpanProcessor(self._gathered))
            self._providers.append(provider)
            tracer = provider.get_tracer("control-tower.simulator")
            self._tracers[service] = tracer
        return tracer

    def record(
        self, name: str, service: str, start: datetime, end: datetime, attributes: dict[str, Any], error: str | None
    ) -> str:
        """One finished sync step; returns the traceparent its events carry."""
        span = self._tracer(service).start_span(
            name, kind=SpanKind.CLIENT, attributes=attributes, start_time=nanos(start)
        )
        if error:
            span.set_status(Status(StatusCode.ERROR, error))
        context = span.get_span_context()
        span.end(end_time=nanos(max(end, start)))
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"

    def take(self) -> tuple[int, bytes]:
        """The spans gathered since the last call, as an OTLP/protobuf ExportTraceServiceRequest."""
        spans, self._gathered.spans = self._gathered.spans, []
        if not spans:
            return 0, b""
        return len(spans), encode_spans(spans).SerializeToString()

    def close(self) -> None:
        for provider in self._providers:
            provider.shutdown()
