"""`POST /v1/adapters/{adapter}`: a platform's native payload in, canonical events accepted like `/v1/events`."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from opentelemetry import trace
from opentelemetry.trace import Span
from pydantic import BaseModel, Field

from adapters.base import AdapterError, AdapterResult
from adapters.partner_zones import HEADER as PARTNER_ZONES
from adapters.registry import ADAPTERS
from collector.api.events import admission, append, read_body, screen
from collector.ingest import BodyError, Candidate, Parsed, media_type
from collector.ledger import body_digest
from collector.quarantine import KEPT_HEADERS_EXCLUDED, DeadLetter
from tower.api import JSON, ApiError, IngestAccess, Principal, api_router, rfc3339
from tower.responses import Accepted, Count, documented
from tower.telemetry import request_span

router = api_router("ingest")
TRACER = trace.get_tracer("control-tower.collector")

TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


class Reply(BaseModel):
    """What the sender expects back in its own format (an X12 997, say), as text."""

    content_type: str
    body: str


class AdapterAccepted(Accepted):
    """A delivery taken (`answer`): the events its adapter made of it, and what became of them."""

    adapter: str
    events: Count = Field(description="events the adapter made of the payload")
    notes: list[str] = Field(description="what the adapter skipped or assumed, in words")
    reply: Reply | None = Field(None, description="present when the platform expects a reply")


@router.post(
    "/v1/adapters/{adapter:path}",
    status_code=202,
    summary="Ingest a platform's native payload (X12 file, Shopify webhook, carrier tracking event…)",
    responses={
        202: documented(AdapterAccepted, "Taken: the events the adapter made, stored, repeated or refused"),
        **{status: {} for status in (400, 401, 403, 404, 409, 413, 429, 503)},
    },
)
async def post_adapter(adapter: str, request: Request, principal: IngestAccess) -> JSON:
    attributes = {
        "tower.tenant": principal.tenant,
        "tower.adapter": adapter,
        "http.request.method": "POST",
        "http.route": "/v1/adapters/{adapter}",
    }
    with request_span(TRACER, f"ingest.adapter {adapter}", request.headers, attributes) as span:
        async with admission(request):
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
        headers = (
            {k.lower(): v for k, v in request.headers.items()}
            | {f"x-tower-param-{k.lower()}": v for k, v in request.query_params.items()}
            | {  # the server's own, never the client's: for providers that sign a timestamp, and EDI
                "x-tower-received-at": rfc3339(services.clock.now()) or "",
                "x-tower-signature-tolerance-s": str(settings.webhook_tolerance_s),
                PARTNER_ZONES: settings.edi_partner_zones,
            }
        )
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
    if result.delivery is not None and services.owns_store:
        entry = (adapter, result.delivery, body_digest(body))
        async with delivery_locks(request, principal.tenant, [entry[2]]):
            refused, new = await asyncio.to_thread(services.ledger.refusals, principal.tenant, [entry])
            if refused:
                raise refused[0]
            response = await _accept(request, adapter, principal, content_type, result, span, endpoint)
            if new:
                await services.ledger.record(services.telemetry, principal.tenant, [entry], services.clock.now())
            return response
    return await _accept(request, adapter, principal, content_type, result, span, endpoint)


@contextlib.asynccontextmanager
async def delivery_locks(request: Request, tenant: str, digests: list[str]) -> AsyncIterator[None]:
    """One delivery of a given signed body at a time (a replay racing its original), others in
    parallel; a batch takes the locks of all its bodies, in one order (no deadlock)."""
    locks: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] | None = getattr(
        request.app.state, "delivery_locks", None
    )
    if locks is None:
        locks = request.app.state.delivery_locks = {}
    keys = sorted({(tenant, d) for d in digests})
    held: list[tuple[tuple[str, str], asyncio.Lock, list[int]]] = []
    try:
        for key in keys:
            lock, users = locks.setdefault(key, (asyncio.Lock(), [0]))
            users[0] += 1
            held.append((key, lock, users))
            await lock.acquire()
        yield
    finally:
        for key, lock, users in held:
            if lock.locked():
                lock.release()
            users[0] -= 1
            if users[0] == 0:
                locks.pop(key, None)


async def _accept(
    request: Request,
    adapter: str,
    principal: Principal,
    content_type: str,
    result: AdapterResult,
    span: Span,
    endpoint: str,
) -> JSON:
    services = request.app.state.services
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
    return JSON(answer(adapter, result, accepted, duplicates, rejected), status_code=202)


def answer(
    adapter: str, result: AdapterResult, accepted: int, duplicates: int, rejected: list[dict[str, Any]]
) -> dict[str, Any]:
    """What a taken delivery is answered (alone, or as one line of `/v1/deliveries`)."""
    out: dict[str, Any] = {
        "adapter": adapter,
        "events": len(result.events),
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": rejected,
        "notes": result.notes,
    }
    if result.reply is not None:
        out["reply"] = {"content_type": result.reply_content_type, "body": result.reply.decode("utf-8", "replace")}
    return out
