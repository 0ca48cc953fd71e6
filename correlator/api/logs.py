"""`GET /v1/logs`: OpenTelemetry log records stored from /v1/logs, newest first, by trace or service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from correlator.logs import search_logs
from tower.api import ReadAccess

router = APIRouter(tags=["traces"])


@router.get("/v1/logs", summary="Log records stored from /v1/logs, newest first, by trace id or service")
def list_logs(
    request: Request,
    principal: ReadAccess,
    trace_id: Annotated[str | None, Query(pattern="^[0-9a-fA-F]{32}$")] = None,
    service: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    return search_logs(
        request.app.state.services.store,
        principal.tenant,
        trace_id=trace_id,
        service=service,
        limit=limit,
        cursor=cursor,
    )
