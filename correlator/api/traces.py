"""`GET /v1/traces` (recent traces, filtered by service or span name) and `GET /v1/traces/{trace_id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field

from correlator.api.logs import LogRecord, Scope
from correlator.logs import search_logs
from correlator.spans import search_traces, trace_spans
from tower.api import ApiError, NanoInstant, ReadAccess, api_router
from tower.responses import Count, Page, Time, documented

router = api_router("traces")


class TraceRow(BaseModel):
    trace_id: str
    root: str = Field(description="the name of its root span (or earliest, without one)")
    services: list[str]
    spans: Count
    distinct_spans: Count
    errors: Count = Field(description="spans with status Error")
    start: Time
    duration_ns: int


class TracePage(Page[TraceRow]):
    """Traces, newest first; `spans` counts the spans of every trace listed or not."""

    spans: Count


class SpanStatus(BaseModel):
    code: str
    message: str | None


class Span(BaseModel):
    """A span as stored; attribute values keep their OTLP types."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    trace_state: str | None
    name: str
    kind: str
    service: str
    scope: Scope
    start: Time
    end: Time
    start_unix_nano: int
    duration_ns: int
    status: SpanStatus
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]


class Trace(BaseModel):
    trace_id: str = Field(pattern="^[0-9a-f]{32}$")
    spans: list[Span]
    logs: list[LogRecord] = Field(description="its log records, oldest first")


@router.get(
    "/v1/traces",
    summary="Traces stored from /v1/traces, newest first, by service, span name and time",
    responses={200: documented(TracePage, "A page of traces, newest first")},
)
def list_traces(
    request: Request,
    principal: ReadAccess,
    service: str | None = None,
    name: Annotated[str | None, Query(description="traces with a span of this name")] = None,
    start: Annotated[
        NanoInstant | None, Query(alias="from", description="traces with a span starting at or after")
    ] = None,
    end: Annotated[NanoInstant | None, Query(alias="to", description="traces with a span starting before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    return search_traces(
        request.app.state.services.store,
        principal.tenant,
        service=service,
        name=name,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/v1/traces/{trace_id}",
    summary="The spans of one trace and its log records, attributes typed",
    responses={200: documented(Trace, "The trace's spans and log records")},
)
def get_trace(
    request: Request,
    principal: ReadAccess,
    trace_id: Annotated[str, Path(pattern="^[0-9a-fA-F]{32}$", description="32 hex digits")],
) -> dict[str, Any]:
    store = request.app.state.services.store
    spans = trace_spans(store, principal.tenant, [trace_id])
    logs = search_logs(store, principal.tenant, trace_id=trace_id, limit=1000)["items"]
    if not spans and not logs:
        raise ApiError(404, "not_found", f"no spans or logs of trace {trace_id!r} are stored for this tenant")
    return {"trace_id": trace_id.lower(), "spans": spans, "logs": sorted(logs, key=lambda r: r["time_unix_nano"])}
