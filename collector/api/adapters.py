"""`POST /v1/adapters/{adapter}`: a platform's native payload in, canonical events accepted like `/v1/events`."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from opentelemetry import trace
from opentelemetry.trace import Span

from adapters.base import AdapterError
from adapters.registry import ADAPTERS
from collector.api.events import append, read_body, screen
from collector.ingest import BodyError, Candidate, Parsed, media_type
from collector.quarantine import KEPT_HEADERS_EXCLUDED, DeadLetter
from tower.api import JSON, ApiError, IngestAccess, Principal
from tower.telemetry import request_span

router = APIRouter(tags=["ingest"])
TRACER = trace.get_tracer("control-tower.collector")

TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@router.post(
    "/v1/adapters/{adapter:path}",
    status_code=202,
    summary="Ingest a platform's native payload (X12 file, Shopify webhook, carrier tracking event…)",
    responses={400: {}, 401: {}, 403: {}, 404: {}, 413: {}, 429: {}},
)
async def post_adapter(adapter: str, request: Request, principal: IngestAccess) -> JSON:
    attributes = {
        "tower.tenant": principal.tenant,
        "tower.adapter": adapter,
        "http.request.method": "POST",
        "http.route": "/v1/adapters/{adapter}",
    }
    with request_span(TRACER, f"ingest.adapter {adapter}", request.headers, attributes) as span:
        response = await run_adapter(adapter, request, principal, span)
        span.set_attribute("http.response.status_code", response.status_code)
        return response


def carry_traceparent(events: list[dict[str, Any]], traceparent: str | None) -> None:
    """W3C trace context over HTTP: the sync step that delivered the payload is the one its events
    came from, unless the payload itself says otherwise."""
    if traceparent and TRACEPARENT.fullmatch(traceparent.strip()):
        for produced in events:
            produced.setdefault("traceparent", traceparent.strip())


async def run_adapter(adapter: str, request: Request, principal: Principal, span: Span) -> JSON:
    services = request.app.state.services
    settings = request.app.state.settings
    endpoint = f"/v1/adapters/{adapter}"
    parser = ADAPTERS.get(adapter)
    if parser is None:
        raise ApiError(404, "unknown_adapter", f"no adapter {adapter!r}; known: {', '.join(sorted(ADAPTERS))}")
    content_type = media_type(request.headers.get("content-type"))
    body = b""
    try:
        body = await read_body(request, settings.max_body_bytes)
        # Query parameters reach the adapter as x-tower-param-* headers (tracking?carrier=ups).
        headers = {k.lower(): v for k, v in request.headers.items()} | {
            f"x-tower-param-{k.lower()}": v for k, v in request.query_params.items()
        }
        with TRACER.start_as_current_span(
            f"adapter.parse {adapter}", attributes={"tower.body.bytes": len(body)}
        ) as parse:
            result = await asyncio.to_thread(parser.parse, body, headers, settings.secrets)
            parse.set_attribute("tower.events", len(result.events))
    except (BodyError, AdapterError) as exc:
        status = exc.status
        where = exc.field if isinstance(exc, BodyError) else exc.where
        reason = exc.message if isinstance(exc, BodyError) else exc.reason
        raw = exc.raw if isinstance(exc, BodyError) and exc.raw is not None else body
        kept = {k: v for k, v in request.headers.items() if k.lower() not in KEPT_HEADERS_EXCLUDED} | {
            f"x-tower-param-{k.lower()}": v for k, v in request.query_params.items()
        }
        letter = DeadLetter(principal.tenant, endpoint, content_type, status, -1, "", where, reason, raw, kept)
        await asyncio.to_thread(services.quarantine.record, [letter])
        code = (
            exc.code if isinstance(exc, BodyError) else ("unauthorized_payload" if status == 401 else "invalid_payload")
        )
        raise ApiError(status, code, reason, [{"index": None, "id": None, "field": where, "reason": reason}]) from None

    carry_traceparent(result.events, request.headers.get("traceparent"))
    parsed = Parsed([Candidate(i, None, e) for i, e in enumerate(result.events)])
    valid, rejected, letters = await asyncio.to_thread(screen, parsed, principal, content_type)
    for letter in letters:
        letter.endpoint = endpoint
    if letters:
        await asyncio.to_thread(services.quarantine.record, letters)
    accepted = duplicates = 0
    if valid:
        written = await append(services.writer, valid)
        accepted, duplicates = written.accepted, written.duplicates
    span.set_attributes(
        {
            "tower.events": len(result.events),
            "tower.events.accepted": accepted,
            "tower.events.duplicates": duplicates,
            "tower.events.rejected": len(rejected),
        }
    )
    body_out: dict[str, Any] = {
        "adapter": adapter,
        "events": len(result.events),
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": rejected,
        "notes": result.notes,
    }
    if result.reply is not None:
        body_out["reply"] = {"content_type": result.reply_content_type, "body": result.reply.decode("utf-8", "replace")}
    return JSON(body_out, status_code=202)
