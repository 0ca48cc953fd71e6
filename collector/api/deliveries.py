"""`POST /v1/deliveries`: many native deliveries (webhooks, EDI files, tracking responses) in one request.

Each line of the NDJSON body is one delivery as its platform sent it — the adapter's name, the
headers it came with (signatures included: each is verified as if it had come alone), the query
parameters, and the body — and each goes through its adapter exactly as `POST /v1/adapters/{name}`
would take it: refused ones are dead-lettered with their reason, the events of the others accepted
once durable. What it saves is the HTTP round trip and the commit per delivery: for replaying an
archive of webhooks after an outage, for bridges that buffer, and for the simulator, which delivers
a month of a distributor's traffic in minutes.

    {"adapter": "shopify", "headers": {"x-shopify-topic": "orders/create", …}, "body": "{…}"}
    {"adapter": "tracking", "params": {"carrier": "ups"}, "headers": {…}, "body_base64": "…"}

The answer (`202`) has one result per line, in order, with what the single route would have said:
`status` 202 and the counts, or the refusal's status and error. A delivery the writer had no room
for has status 429 and `retry_after` (seconds), and its index is in `retry`: send those again
(nothing of them was stored; a delivery sent twice is deduplicated on its events' ids anyway).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from fastapi import Request
from opentelemetry import trace
from opentelemetry.trace import Span
from pydantic import BaseModel, Field

from adapters.base import AdapterError, AdapterResult
from adapters.partner_zones import HEADER as PARTNER_ZONES
from adapters.registry import ADAPTERS
from collector.api.adapters import AdapterAccepted, answer, carry_traceparent, delivery_locks
from collector.api.events import admission, append, read_body, screen
from collector.ingest import BodyError, Candidate, Parsed, media_type
from collector.ledger import body_digest
from collector.quarantine import KEPT_HEADERS_EXCLUDED, DeadLetter
from tower.api import JSON, ApiError, IngestAccess, Principal, api_router, rfc3339
from tower.events import Event
from tower.responses import Count, ErrorInfo, documented
from tower.telemetry import request_span

router = api_router("ingest")
TRACER = trace.get_tracer("control-tower.collector")

ENDPOINT = "/v1/deliveries"
MAX_DELIVERIES = 5_000  # deliveries in one request (413 above)


class DeliveryTaken(AdapterAccepted):
    """A line its adapter took: what `POST /v1/adapters/{name}` would have answered, with its index."""

    index: Count
    status: Literal[202]


class DeliveryRefused(BaseModel):
    """A line refused (the single route's error status and body), or not written for want of room
    (status 429 with `retry_after`: send it again)."""

    index: Count
    adapter: str
    status: int = Field(ge=400, le=599)
    error: ErrorInfo
    retry_after: int | None = Field(None, description="seconds; present when the line is to be sent again")


class DeliveriesAnswer(BaseModel):
    deliveries: Count = Field(description="lines read")
    accepted: Count
    duplicates: Count
    refused: Count = Field(description="lines refused for good (to fix, not to resend)")
    retry: list[Count] = Field(description="indexes of the lines to send again (nothing of them was stored)")
    results: list[DeliveryTaken | DeliveryRefused] = Field(description="one per line, in order")


@dataclass(slots=True)
class Delivery:
    index: int
    adapter: str
    headers: dict[str, str]  # lower-cased, query parameters as x-tower-param-*
    body: bytes
    events: list[Event] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    ledger: tuple[str, str, str] | None = None  # (adapter, delivery id, body digest): a body-signed webhook


@router.post(
    ENDPOINT,
    status_code=202,
    summary="Ingest many native deliveries (webhooks, EDI files…) in one request, each through its adapter",
    responses={
        202: documented(DeliveriesAnswer, "Every line answered, in order: taken with its counts, or refused"),
        **{status: {} for status in (400, 401, 403, 413, 415, 429, 503)},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": 'one delivery a line: {"adapter", "headers", "params", "body"|"body_base64"}',
                    }
                }
            },
        }
    },
)
async def post_deliveries(request: Request, principal: IngestAccess) -> JSON:
    attributes = {"tower.tenant": principal.tenant, "http.request.method": "POST", "http.route": ENDPOINT}
    with request_span(TRACER, "ingest.deliveries", request.headers, attributes) as span:
        async with admission(request):
            return await take_deliveries(request, principal, span)


async def take_deliveries(request: Request, principal: Principal, span: Span) -> JSON:
    services = request.app.state.services
    settings = request.app.state.settings
    body = b""
    try:
        if media_type(request.headers.get("content-type")) != "application/x-ndjson":
            raise BodyError(415, "unsupported_media_type", "send deliveries as application/x-ndjson, one per line")
        body = await read_body(request, settings.max_body_bytes)
        deliveries = read_deliveries(body)
    except BodyError as exc:
        letter = DeadLetter(
            principal.tenant,
            ENDPOINT,
            media_type(request.headers.get("content-type")),
            exc.status,
            -1 if exc.index is None else exc.index,
            "",
            exc.field,
            exc.message,
            body if exc.raw is None else exc.raw,
        )
        await asyncio.to_thread(services.quarantine.record, [letter])
        detail = {"index": exc.index, "id": None, "field": exc.field, "reason": exc.message}
        raise ApiError(exc.status, exc.code, exc.message, [detail]) from None

    # the server's own headers, never the client's: for providers that sign a timestamp, and EDI
    own = {
        "x-tower-received-at": rfc3339(services.clock.now()) or "",
        "x-tower-signature-tolerance-s": str(settings.webhook_tolerance_s),
        PARTNER_ZONES: settings.edi_partner_zones,
    }
    for d in deliveries:
        d.headers.update(own)
    # Parsing is CPU work: all of it in one trip off the event loop.
    letters = await asyncio.to_thread(parse_all, deliveries, principal, settings.secrets)
    if letters:
        await asyncio.to_thread(services.quarantine.record, letters)
    signed = [d for d in deliveries if d.ledger is not None and services.owns_store]
    async with delivery_locks(request, principal.tenant, [d.ledger[2] for d in signed if d.ledger]):
        new = await write(services, principal.tenant, deliveries, signed)
        if new:
            await services.ledger.record(services.telemetry, principal.tenant, new, services.clock.now())
    results = [d.result for d in deliveries]
    totals = {
        "deliveries": len(results),
        "accepted": sum(r.get("accepted", 0) for r in results),
        "duplicates": sum(r.get("duplicates", 0) for r in results),
        "refused": sum(1 for r in results if r["status"] != 202 and "retry_after" not in r),
        "retry": [r["index"] for r in results if "retry_after" in r],
    }
    span.set_attributes({f"tower.deliveries.{k}": v for k, v in totals.items() if k != "retry"})
    span.set_attribute("http.response.status_code", 202)
    return JSON({**totals, "results": results}, status_code=202)


async def write(
    services: Any, tenant: str, deliveries: list[Delivery], signed: list[Delivery]
) -> list[tuple[str, str, str]]:
    """Refuse the replayed body-signed webhooks, hand the rest's events to the writer together
    (one group commit; each delivery learns its own counts), and return the ledger entries of the
    body-signed ones newly accepted."""
    ledger = [d.ledger for d in signed if d.ledger is not None]
    refused, new = await asyncio.to_thread(services.ledger.refusals, tenant, ledger) if ledger else ({}, set())
    for i, error in refused.items():
        d = signed[i]
        d.events = []
        d.result = refusal(d, error.status, error.code, "delivery", error.message)
    carrying = [d for d in deliveries if d.events]
    written = await asyncio.gather(*(append(services.writer, d.events) for d in carrying), return_exceptions=True)
    for delivery, outcome in zip(carrying, written, strict=True):
        if isinstance(outcome, ApiError):  # the writer is behind: this delivery is to be sent again
            delivery.result = refusal(delivery, outcome.status, outcome.code, "", outcome.message)
            delivery.result["retry_after"] = int(outcome.headers.get("Retry-After", "1"))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            delivery.result["accepted"] = outcome.accepted
            delivery.result["duplicates"] = outcome.duplicates
    return [d.ledger for i, d in enumerate(signed) if i in new and d.ledger is not None and d.result["status"] == 202]


def read_deliveries(body: bytes) -> list[Delivery]:
    """The NDJSON lines as deliveries; a line that is not a delivery refuses the whole request,
    naming the line and the field (nothing of it was taken yet)."""
    deliveries: list[Delivery] = []
    for number, line in enumerate(body.splitlines()):
        if not line.strip():
            continue
        index = len(deliveries)
        if index >= MAX_DELIVERIES:
            raise BodyError(413, "too_many_deliveries", f"at most {MAX_DELIVERIES} deliveries per request", index=index)
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, "invalid_json", f"line {number + 1}: {exc}", index=index) from None
        if not isinstance(item, dict):
            raise BodyError(400, "invalid_delivery", f"line {number + 1} is not a JSON object", index=index)
        adapter = item.get("adapter")
        if not isinstance(adapter, str) or not adapter:
            raise BodyError(400, "invalid_delivery", "a delivery names its adapter", "adapter", index)
        headers, params = item.get("headers") or {}, item.get("params") or {}
        for name, mapping in (("headers", headers), ("params", params)):
            if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
                raise BodyError(400, "invalid_delivery", f"{name} must map names to strings", name, index)
        if isinstance(item.get("body"), str):
            payload = item["body"].encode()
        elif isinstance(item.get("body_base64"), str):
            try:
                payload = base64.b64decode(item["body_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise BodyError(400, "invalid_delivery", "body_base64 is not base64", "body_base64", index) from None
        else:
            raise BodyError(400, "invalid_delivery", "a delivery has a body (text) or body_base64", "body", index)
        lowered = {k.lower(): v for k, v in headers.items()} | {
            f"x-tower-param-{k.lower()}": v for k, v in params.items()
        }
        deliveries.append(Delivery(index, adapter, lowered, payload))
    if not deliveries:
        raise BodyError(400, "empty_batch", "the body holds no deliveries")
    return deliveries


def parse_all(deliveries: list[Delivery], principal: Principal, secrets: dict[str, str]) -> list[DeadLetter]:
    """Run every delivery through its adapter and screen its events; fill in each one's result
    (refusal or events to write) and return the dead letters. Blocking."""
    letters: list[DeadLetter] = []
    for d in deliveries:
        endpoint = f"/v1/adapters/{d.adapter}"  # a dead letter replays through the single route
        content_type = media_type(d.headers.get("content-type"))
        parser = ADAPTERS.get(d.adapter)
        if parser is None:
            reason = f"no adapter {d.adapter!r}; known: {', '.join(sorted(ADAPTERS))}"
            d.result = refusal(d, 404, "unknown_adapter", "adapter", reason)
            continue
        try:
            with TRACER.start_as_current_span(
                f"adapter.parse {d.adapter}", attributes={"tower.body.bytes": len(d.body)}
            ):
                result: AdapterResult = parser.parse(d.body, d.headers, secrets)
        except AdapterError as exc:
            code = "unauthorized_payload" if exc.status == 401 else "invalid_payload"
            d.result = refusal(d, exc.status, code, exc.where, exc.reason)
            kept = {k: v for k, v in d.headers.items() if k not in KEPT_HEADERS_EXCLUDED}
            letters.append(
                DeadLetter(
                    principal.tenant, endpoint, content_type, exc.status, -1, "", exc.where, exc.reason, d.body, kept
                )
            )
            continue
        if result.delivery is not None:
            d.ledger = (d.adapter, result.delivery, body_digest(d.body))
        carry_traceparent(result.events, d.headers.get("traceparent"))
        parsed = Parsed([Candidate(i, None, e) for i, e in enumerate(result.events)])
        valid, rejected, screened = screen(parsed, principal, content_type)
        for letter in screened:
            letter.endpoint = endpoint
        letters.extend(screened)
        d.events = valid
        d.result = {"index": d.index, "status": 202, **answer(d.adapter, result, 0, 0, rejected)}
    return letters


def refusal(d: Delivery, status: int, code: str, where: str, reason: str) -> dict[str, Any]:
    return {
        "index": d.index,
        "adapter": d.adapter,
        "status": status,
        "error": {
            "code": code,
            "message": reason,
            "details": [{"index": None, "id": None, "field": where, "reason": reason}],
        },
    }
