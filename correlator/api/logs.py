"""`GET /v1/logs`: OpenTelemetry log records stored from /v1/logs, newest first, by trace or service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, Field

from correlator.logs import search_logs
from tower.api import ReadAccess, api_router
from tower.responses import Page, Time, documented

router = api_router("traces")


class Severity(BaseModel):
    text: str | None
    number: int


class Scope(BaseModel):
    name: str
    version: str


class LogRecord(BaseModel):
    """An OpenTelemetry log record as stored; attribute values keep their OTLP types."""

    time: Time = Field(description="to the nanosecond")
    time_unix_nano: int
    trace_id: str | None
    span_id: str | None
    flags: int
    severity: Severity
    service: str
    event_name: str | None
    body: Any = Field(description="a string, number, boolean, list or map, as sent")
    scope: Scope
    attributes: dict[str, Any]
    resource: dict[str, Any]


class LogPage(Page[LogRecord]):
    """Log records, newest first."""


@router.get(
    "/v1/logs",
    summary="Log records stored from /v1/logs, newest first, by trace id or service",
    responses={200: documented(LogPage, "A page of log records, newest first")},
)
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
