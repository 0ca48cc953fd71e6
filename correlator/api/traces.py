"""`GET /v1/traces` (recent traces, filtered by service or span name) and `GET /v1/traces/{trace_id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from correlator.logs import search_logs
from correlator.spans import search_traces, trace_spans
from tower.api import ApiError, Instant, ReadAccess

router = APIRouter(tags=["traces"])


@router.get("/v1/traces", summary="Traces stored from /v1/traces, newest first, by service, span name and time")
def list_traces(
    request: Request,
    principal: ReadAccess,
    service: str | None = None,
    name: Annotated[str | None, Query(description="traces with a span of this name")] = None,
    start: Annotated[Instant | None, Query(alias="from", description="traces with a span starting at or after")] = None,
    end: Annotated[Instant | None, Query(alias="to", description="traces with a span starting before")] = None,
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


@router.get("/v1/traces/{trace_id}", summary="The spans of one trace and its log records, attributes typed")
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
