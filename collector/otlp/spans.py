"""ExportTraceServiceRequest → rows of `otel_traces` and `span_links`. Pure: message in, Arrow out.

A span is refused (and counted in the partial success) when its ids cannot be stored: a trace id
that is not 16 bytes or is all zero, a span id that is not 8 bytes or is all zero, a parent span
id or link id of the wrong length. Everything else about a span is kept as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.otlp.columns import ListColumn, MapColumn, MapListColumn
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

RANGE_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("TraceId", pa.string()),
        ("Start", pa.timestamp("s", tz="UTC")),
        ("End", pa.timestamp("s", tz="UTC")),
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
    ranges: pa.Table  # otel_traces_trace_id_ts: each trace's first and last span start, in seconds
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
    """Why a span cannot be stored, or None."""
    if len(span.trace_id) != 16 or span.trace_id == ZERO_TRACE:
        return "traceId must be 16 bytes (32 hex digits) and not all zero"
    if len(span.span_id) != 8 or span.span_id == ZERO_SPAN:
        return "spanId must be 8 bytes (16 hex digits) and not all zero"
    if len(span.parent_span_id) not in (0, 8):
        return "parentSpanId must be empty or 8 bytes (16 hex digits)"
    if span.start_time_unix_nano >= MAX_TIME or span.end_time_unix_nano >= MAX_TIME:
        return "startTimeUnixNano and endTimeUnixNano must be before the year 2262"
    for event in span.events:
        if event.time_unix_nano >= MAX_TIME:
            return "events must have timeUnixNano before the year 2262"
    for i, link in enumerate(span.links):
        if len(link.trace_id) != 16 or len(link.span_id) != 8:
            return f"links[{i}] must have a 16-byte traceId and an 8-byte spanId"
    return None


def span_rows(request: ExportTraceServiceRequest, tenant: str, identifier_attributes: dict[str, str]) -> SpanRows:
    """Rows for every storable span; `identifier_attributes` maps span attribute → identifier namespace."""
    plain: dict[str, list[Any]] = {
        name: []
        for name in (
            "Timestamp",
            "TraceId",
            "SpanId",
            "ParentSpanId",
            "TraceState",
            "SpanName",
            "SpanKind",
            "ServiceName",
            "ScopeName",
            "ScopeVersion",
            "Duration",
            "StatusCode",
            "StatusMessage",
        )
    }
    maps = {
        name: MapColumn()
        for name in (
            "ResourceAttributes",
            "ResourceAttributeTypes",
            "ScopeAttributes",
            "SpanAttributes",
            "SpanAttributeTypes",
        )
    }
    event_times, event_names = ListColumn(NS), ListColumn(pa.string())
    event_values, event_types = MapListColumn(), MapListColumn()
    link_traces, link_spans, link_states = ListColumn(pa.string()), ListColumn(pa.string()), ListColumn(pa.string())
    link_values, link_types = MapListColumn(), MapListColumn()
    nested: dict[str, ListColumn | MapListColumn] = {
        "Events.Timestamp": event_times,
        "Events.Name": event_names,
        "Events.Attributes": event_values,
        "Events.AttributeTypes": event_types,
        "Links.TraceId": link_traces,
        "Links.SpanId": link_spans,
        "Links.TraceState": link_states,
        "Links.Attributes": link_values,
        "Links.AttributeTypes": link_types,
    }
    links: dict[str, list[Any]] = {name: [] for name in LINK_SCHEMA.names}
    ranges: dict[str, tuple[int, int]] = {}
    rejected = 0
    reasons: list[str] = []
    timestamps, trace_ids, span_ids = plain["Timestamp"], plain["TraceId"], plain["SpanId"]
    for r, resource_spans in enumerate(request.resource_spans):
        resource_values, resource_types = attributes(resource_spans.resource.attributes)
        service = resource_values.get("service.name", "")
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope
            scope_values = attributes(scope.attributes)[0]
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
                timestamps.append(start)
                trace_ids.append(trace_id)
                seen = ranges.get(trace_id)
                ranges[trace_id] = (start, start) if seen is None else (min(seen[0], start), max(seen[1], start))
                span_ids.append(span_id)
                plain["ParentSpanId"].append(span.parent_span_id.hex())
                plain["TraceState"].append(span.trace_state)
                plain["SpanName"].append(span.name)
                plain["SpanKind"].append(KINDS[span.kind] if 0 <= span.kind < len(KINDS) else "")
                plain["ServiceName"].append(service)
                plain["ScopeName"].append(scope.name)
                plain["ScopeVersion"].append(scope.version)
                plain["Duration"].append(max(0, span.end_time_unix_nano - start))
                status = span.status
                plain["StatusCode"].append(STATUSES[status.code] if 0 <= status.code < len(STATUSES) else "")
                plain["StatusMessage"].append(status.message)
                maps["ResourceAttributes"].add(resource_values)
                maps["ResourceAttributeTypes"].add(resource_types)
                maps["ScopeAttributes"].add(scope_values)
                values, types = attributes(span.attributes)
                maps["SpanAttributes"].add(values)
                maps["SpanAttributeTypes"].add(types)
                events = span.events
                for event in events:
                    event_times.items.append(event.time_unix_nano)
                    event_names.items.append(event.name)
                    ev, et = attributes(event.attributes)
                    event_values.items.add(ev)
                    event_types.items.add(et)
                for column in (event_times, event_names, event_values, event_types):
                    column.close(len(events))
                span_links = span.links
                for link in span_links:
                    link_traces.items.append(link.trace_id.hex())
                    link_spans.items.append(link.span_id.hex())
                    link_states.items.append(link.trace_state)
                    lv, lt = attributes(link.attributes)
                    link_values.items.add(lv)
                    link_types.items.add(lt)
                for column in (link_traces, link_spans, link_states, link_values, link_types):
                    column.close(len(span_links))
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
    count = len(timestamps)
    columns: dict[str, pa.Array] = {"tenant": pa.array([tenant] * count, pa.string())}
    for name, values_ in plain.items():
        columns[name] = pa.array(values_, SPAN_SCHEMA.field(name).type)
    for name, built in (maps | nested).items():
        columns[name] = built.array()
    spans = pa.Table.from_arrays([columns[name] for name in SPAN_SCHEMA.names], schema=SPAN_SCHEMA)
    trace_ranges = pa.Table.from_pydict(
        {
            "tenant": [tenant] * len(ranges),
            "TraceId": list(ranges),
            "Start": [first // 1_000_000_000 for first, _ in ranges.values()],
            "End": [last // 1_000_000_000 for _, last in ranges.values()],
        },
        schema=RANGE_SCHEMA,
    )
    link_rows = pa.Table.from_pydict(links, schema=LINK_SCHEMA)
    return SpanRows(spans, trace_ranges, link_rows, count, rejected, reasons)
