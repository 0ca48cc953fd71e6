"""`GET /v1/traces/{trace_id}`: every stored span of one trace, attributes typed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from correlator.spans import trace_spans
from tower.api import ApiError, ReadAccess

router = APIRouter(tags=["journeys"])


@router.get("/v1/traces/{trace_id}", summary="The spans of one trace (OpenTelemetry), as stored from /v1/traces")
def get_trace(
    request: Request,
    principal: ReadAccess,
    trace_id: Annotated[str, Path(pattern="^[0-9a-fA-F]{32}$", description="32 hex digits")],
) -> dict[str, Any]:
    spans = trace_spans(request.app.state.services.store, principal.tenant, [trace_id])
    if not spans:
        raise ApiError(404, "not_found", f"no spans of trace {trace_id!r} are stored for this tenant")
    return {"trace_id": trace_id.lower(), "spans": spans}
