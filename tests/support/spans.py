"""OTLP requests for tests that store spans directly (no server): one trace of two spans."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

TRACE = "0af7651916cd43dd8448eb211c80319c"


def two_spans(trace: str = TRACE, with_event_and_link: bool = False) -> ExportTraceServiceRequest:
    """`sync.order` then `erp.post` in `trace`, one nanosecond apart (nanosecond times past 2^60), each
    with a span event `retry` and a link to another trace when asked."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i, name in enumerate(("sync.order", "erp.post")):
        span = scope.spans.add(name=name, start_time_unix_nano=1_790_000_000_000_000_007 + i)
        span.end_time_unix_nano = 1_790_000_001_000_000_009
        span.trace_id = bytes.fromhex(trace)
        span.span_id = bytes.fromhex(f"b7ad6b716920333{i}")
        if with_event_and_link:
            span.events.add(time_unix_nano=1_790_000_000_500_000_011, name="retry")
            span.links.add(trace_id=bytes.fromhex("1" * 32), span_id=bytes.fromhex("2" * 16))
    return request
