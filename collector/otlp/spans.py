"""ExportTraceServiceRequest → rows of `otel_traces` and `span_links`. Pure: message in, Arrow out.

A span is refused (and counted in the partial success) when its ids cannot be stored: a trace id
that is not 16 bytes or is all zero, a span id that is not 8 bytes or is all zero, a parent span
id or link id of the wrong length. Everything else about a span is kept as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tower.otel_values import attributes

NS = pa.timestamp("ns", tz="UTC")
STRING_MAP = pa.map_(pa.string(), pa.string())
KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")  # pcommon's SpanKindStr
STATUSES = ("Unset", "Ok", "Error")
MAX_REASONS = 10
ZERO_TRACE = bytes(16)
ZERO_SPAN = bytes(8)
MAX_TIME = 2**63  # nanoseconds: what DateTime64(9) and Arrow hold

SPAN_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("Timestamp", NS),
        ("TraceId", pa.string()),
        ("SpanId", pa.string()),
        ("ParentSpanId", pa.string()),
        ("TraceState", pa.string()),
        ("SpanName", pa.string()),
        ("SpanKind", pa.string()),
        ("ServiceName", pa.string()),
        ("ResourceAttributes", STRING_MAP),
        ("ResourceAttributeTypes", STRING_MAP),
        ("ScopeName", pa.string()),
        ("ScopeVersion", pa.string()),
        ("ScopeAttributes", STRING_MAP),
        ("SpanAttributes", STRING_MAP),
        ("SpanAttributeTypes", STRING_MAP),
        ("Duration", pa.uint64()),
        ("StatusCode", pa.string()),
        ("StatusMessage", pa.string()),
        ("Events.Timestamp", pa.list_(NS)),
        ("Events.Name", pa.list_(pa.string())),
        ("Events.Attributes", pa.list_(STRING_MAP)),
        ("Events.AttributeTypes", pa.list_(STRING_MAP)),
        ("Links.TraceId", pa.list_(pa.string())),
        ("Links.SpanId", pa.list_(pa.string())),
        ("Links.TraceState", pa.list_(pa.string())),
        ("Links.Attributes", pa.list_(STRING_MAP)),
        ("Links.AttributeTypes", pa.list_(STRING_MAP)),
    ]
)

LINK_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("value", pa.string()),
        ("namespace", pa.string()),
        ("attribute", pa.string()),
        ("TraceId", pa.string()),
        ("SpanId", pa.string()),
        ("Timestamp", NS),
    ]
)


@dataclass
class SpanRows:
    """What one request gives: rows to insert, and the spans refused with the reasons for the first few."""

    spans: pa.Table
    links: pa.Table
    accepted: int
    rejected: int
    reasons: list[str] = field(default_factory=list)

    def error_message(self) -> str:
        if not self.rejected:
            return ""
        more = "; …" if self.rejected > len(self.reasons) else ""
        return f"{self.rejected} span(s) rejected: " + "; ".join(self.reasons) + more


def span_problem(span: Span) -> str | None:
    """Why a span's ids cannot be stored, or None."""
    if len(span.trace_id) != 16 or span.trace_id == ZERO_TRACE:
        return "traceId must be 16 bytes (32 hex digits) and not all zero"
    if len(span.span_id) != 8 or span.span_id == ZERO_SPAN:
        return "spanId must be 8 bytes (16 hex digits) and not all zero"
    if len(span.parent_span_id) not in (0, 8):
        return "parentSpanId must be empty or 8 bytes (16 hex digits)"
    if span.start_time_unix_nano >= MAX_TIME or span.end_time_unix_nano >= MAX_TIME:
        return "startTimeUnixNano and endTimeUnixNano must be before the year 2262"
    if any(event.time_unix_nano >= MAX_TIME for event in span.events):
        return "events must have timeUnixNano before the year 2262"
    for i, link in enumerate(span.links):
        if len(link.trace_id) != 16 or len(link.span_id) != 8:
            return f"links[{i}] must have a 16-byte traceId and an 8-byte spanId"
    return None


def span_rows(request: ExportTraceServiceRequest, tenant: str, identifier_attributes: dict[str, str]) -> SpanRows:
    """Rows for every storable span; `identifier_attributes` maps span attribute → identifier namespace."""
    cols: dict[str, list] = {name: [] for name in SPAN_SCHEMA.names}
    links: dict[str, list] = {name: [] for name in LINK_SCHEMA.names}
    rejected = 0
    reasons: list[str] = []
    for r, resource_spans in enumerate(request.resource_spans):
        resource_values, resource_types = attributes(resource_spans.resource.attributes)
        service = resource_values.get("service.name", "")
        resource_items = list(resource_values.items())
        resource_type_items = list(resource_types.items())
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope
            scope_values = list(attributes(scope.attributes)[0].items())
            for i, span in enumerate(scope_spans.spans):
                problem = span_problem(span)
                if problem is not None:
                    rejected += 1
                    if len(reasons) < MAX_REASONS:
                        reasons.append(f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}] ({span.name!r}): {problem}")
                    continue
                trace_id = span.trace_id.hex()
                span_id = span.span_id.hex()
                start = span.start_time_unix_nano
                values, types = attributes(span.attributes)
                cols["tenant"].append(tenant)
                cols["Timestamp"].append(start)
                cols["TraceId"].append(trace_id)
                cols["SpanId"].append(span_id)
                cols["ParentSpanId"].append(span.parent_span_id.hex())
                cols["TraceState"].append(span.trace_state)
                cols["SpanName"].append(span.name)
                cols["SpanKind"].append(KINDS[span.kind] if 0 <= span.kind < len(KINDS) else "")
                cols["ServiceName"].append(service)
                cols["ResourceAttributes"].append(resource_items)
                cols["ResourceAttributeTypes"].append(resource_type_items)
                cols["ScopeName"].append(scope.name)
                cols["ScopeVersion"].append(scope.version)
                cols["ScopeAttributes"].append(scope_values)
                cols["SpanAttributes"].append(list(values.items()))
                cols["SpanAttributeTypes"].append(list(types.items()))
                cols["Duration"].append(max(0, span.end_time_unix_nano - start))
                code = span.status.code
                cols["StatusCode"].append(STATUSES[code] if 0 <= code < len(STATUSES) else "")
                cols["StatusMessage"].append(span.status.message)
                event_times, event_names, event_values, event_types = [], [], [], []
                for event in span.events:
                    event_times.append(event.time_unix_nano)
                    event_names.append(event.name)
                    ev, et = attributes(event.attributes)
                    event_values.append(list(ev.items()))
                    event_types.append(list(et.items()))
                cols["Events.Timestamp"].append(event_times)
                cols["Events.Name"].append(event_names)
                cols["Events.Attributes"].append(event_values)
                cols["Events.AttributeTypes"].append(event_types)
                link_traces, link_spans, link_states, link_values, link_types = [], [], [], [], []
                for link in span.links:
                    link_traces.append(link.trace_id.hex())
                    link_spans.append(link.span_id.hex())
                    link_states.append(link.trace_state)
                    lv, lt = attributes(link.attributes)
                    link_values.append(list(lv.items()))
                    link_types.append(list(lt.items()))
                cols["Links.TraceId"].append(link_traces)
                cols["Links.SpanId"].append(link_spans)
                cols["Links.TraceState"].append(link_states)
                cols["Links.Attributes"].append(link_values)
                cols["Links.AttributeTypes"].append(link_types)
                for attribute, namespace in identifier_attributes.items():
                    value = values.get(attribute)
                    if value:
                        links["tenant"].append(tenant)
                        links["value"].append(value)
                        links["namespace"].append(namespace)
                        links["attribute"].append(attribute)
                        links["TraceId"].append(trace_id)
                        links["SpanId"].append(span_id)
                        links["Timestamp"].append(start)
    spans = pa.Table.from_pydict(cols, schema=SPAN_SCHEMA)
    return SpanRows(spans, pa.Table.from_pydict(links, schema=LINK_SCHEMA), spans.num_rows, rejected, reasons)
