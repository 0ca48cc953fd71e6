"""`POST /v1/events`: canonical events in, `202` once they are durable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from opentelemetry import trace
from opentelemetry.trace import Span

from collector.ingest import BodyError, Parsed, media_type, parse_body
from collector.produce import KafkaAppender
from collector.quarantine import DeadLetter
from collector.writer import Backpressure, GroupCommitWriter, Unavailable, WriteResult
from tower.api import JSON, ApiError, IngestAccess, Principal, api_router
from tower.events import EVENT_JSON_SCHEMA, Event, Problem, validate_event
from tower.responses import Accepted, documented
from tower.telemetry import request_span

router = api_router("ingest")

ENDPOINT = "/v1/events"
TRACER = trace.get_tracer("control-tower.collector")


async def append(writer: GroupCommitWriter | KafkaAppender, events: list[Event]) -> WriteResult:
    """Hand events to the group commit; a writer that is behind becomes `429 Retry-After`, and one
    that cannot store (the store or the broker failed) `503 Retry-After` saying why."""
    try:
        return await writer.submit(events)
    except Unavailable as exc:
        raise ApiError(503, exc.code, exc.reason, headers={"Retry-After": str(exc.retry_after)}) from None
    except Backpressure as exc:
        raise ApiError(
            429,
            "backpressure",
            f"{exc.why}; retry after {exc.retry_after}s",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or a 413 once it passes `limit` bytes (without reading the rest)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, "body_too_large", f"the body is {declared} bytes; at most {limit} are accepted")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            raise BodyError(
                413, "body_too_large", f"the body is over {limit} bytes; send smaller batches", raw=b"".join(chunks)
            )
    return b"".join(chunks)


@router.post(
    "/v1/events",
    status_code=202,
    summary="Ingest canonical events (CloudEvents JSON, batch JSON or NDJSON)",
    responses={
        202: documented(Accepted, "Durable: the events stored, those already stored, and each one refused"),
        **{status: {} for status in (400, 401, 403, 413, 415, 429, 503)},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": EVENT_JSON_SCHEMA},
                "application/cloudevents-batch+json": {"schema": {"type": "array", "items": EVENT_JSON_SCHEMA}},
                "application/x-ndjson": {"schema": {"type": "string", "description": "one event per line"}},
            },
        }
    },
)
async def post_events(request: Request, principal: IngestAccess) -> JSON:
    attributes = {"tower.tenant": principal.tenant, "http.request.method": "POST", "http.route": ENDPOINT}
    with request_span(TRACER, "ingest.events", request.headers, attributes) as span:
        response = await ingest_events(request, principal, span)
        span.set_attribute("http.response.status_code", response.status_code)
        return response


@contextlib.asynccontextmanager
async def admission(request: Request) -> AsyncIterator[None]:
    """Admit an ingest request or shed it, before reading it: refusing an overload must cost less
    than accepting it. Shed when the writer holds `TOWER_PENDING_MAX_EVENTS` or more than
    `TOWER_PENDING_MAX_WAIT_S` of work, when admitted bodies being read and parsed would pass
    `TOWER_INGEST_MAX_BYTES` (one request is always admitted when none is in flight), or while the
    correlator is `TOWER_CORRELATOR_MAX_LAG_EVENTS` behind (parsing what the writer would refuse
    anyway took the CPU the correlator needed to catch up: it applied 3.4k events/s instead of 12k)."""
    settings = request.app.state.settings
    writer = request.app.state.services.writer
    behind = writer.correlator_behind()
    if behind is not None:
        raise ApiError(
            429,
            "backpressure",
            f"{behind.why}; retry after {behind.retry_after}s",
            headers={"Retry-After": str(behind.retry_after)},
        )
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else settings.max_body_bytes
    in_flight = getattr(request.app.state, "ingesting_bytes", 0)
    if (
        writer.pending >= settings.pending_max_events
        or writer.backlog_seconds() > settings.pending_max_wait_s
        or (in_flight > 0 and in_flight + size > settings.ingest_max_bytes)
    ):
        retry_after = max(1, round(writer.backlog_seconds()))
        raise ApiError(
            429,
            "backpressure",
            f"{writer.pending} events are waiting for the writer and {in_flight} bytes are being read; "
            f"retry after {retry_after}s",
            headers={"Retry-After": str(retry_after)},
        )
    request.app.state.ingesting_bytes = in_flight + size
    try:
        yield
    finally:
        request.app.state.ingesting_bytes -= size


async def ingest_events(request: Request, principal: Principal, span: Span) -> JSON:
    async with admission(request):
        return await admitted(request, principal, span)


async def admitted(request: Request, principal: Principal, span: Span) -> JSON:
    """Read, parse, validate and append one admitted request."""
    services = request.app.state.services
    settings = request.app.state.settings
    content_type = request.headers.get("content-type", "")
    body = b""
    try:
        body = await read_body(request, settings.max_body_bytes)
        parsed = await asyncio.to_thread(parse_body, body, content_type, settings.max_batch_events)
    except BodyError as exc:
        detail = {"index": exc.index, "id": None, "field": exc.field, "reason": exc.message}
        await asyncio.to_thread(
            services.quarantine.record,
            [
                DeadLetter(
                    principal.tenant,
                    ENDPOINT,
                    media_type(content_type),
                    exc.status,
                    -1,
                    "",
                    exc.field,
                    exc.message,
                    body if exc.raw is None else exc.raw,
                )
            ],
        )
        raise ApiError(exc.status, exc.code, exc.message, [detail]) from None

    # Parsing and validation are CPU work: off the event loop, so other requests keep moving.
    valid, rejected, letters = await asyncio.to_thread(screen, parsed, principal, media_type(content_type))
    if letters:
        await asyncio.to_thread(services.quarantine.record, letters)
    span.set_attribute("tower.events.rejected", len(rejected))
    if not valid:
        noun = "event was" if len(rejected) == 1 else f"all {len(rejected)} events were"
        raise ApiError(400, "invalid_events", f"the {noun} rejected; see details", rejected)
    result = await append(services.writer, valid)
    span.set_attributes(
        {
            "tower.events.accepted": result.accepted,
            "tower.events.duplicates": result.duplicates,
            "tower.events.rejected": len(rejected),
        }
    )
    return JSON(
        {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": rejected},
        status_code=202,
    )


def screen(
    parsed: Parsed, principal: Principal, content_type: str
) -> tuple[list[Event], list[dict[str, Any]], list[DeadLetter]]:
    """Validate every candidate: the events to keep, the rejections to answer, the dead letters to store."""
    valid: list[Event] = []
    rejected: list[dict[str, Any]] = []
    letters: list[DeadLetter] = []
    for candidate in parsed.candidates:
        if candidate.problem is not None:
            problems = [Problem("", candidate.problem)]
            event = None
        else:
            event, problems = validate_event(candidate.value, principal.tenant, candidate.sent)
        if event is not None and principal.tenant_locked and event.tenant != principal.tenant:
            problems = [Problem("tenant", f"this API key may only send events for tenant {principal.tenant!r}")]
            event = None
        if event is not None:
            valid.append(event)
            continue
        event_id = candidate.value.get("id") if isinstance(candidate.value, dict) else None
        event_id = event_id if isinstance(event_id, str) else None
        first = problems[0]
        reason = "; ".join(f"{p.field or 'event'}: {p.reason}" for p in problems) if len(problems) > 1 else first.reason
        rejected.append(
            {
                "index": candidate.index,
                "id": event_id,
                "field": first.field,
                "reason": first.reason,
                "problems": [{"field": p.field, "reason": p.reason} for p in problems],
            }
        )
        letters.append(
            DeadLetter(
                principal.tenant,
                ENDPOINT,
                content_type,
                400,
                candidate.index,
                event_id or "",
                first.field,
                reason,
                candidate.raw,
            )
        )

    return valid, rejected, letters
