"""`POST /v1/traces`: OTLP/HTTP spans (protobuf or JSON, gzip or not) into `otel_traces`.

The reply is sent once the spans are stored. Spans whose ids cannot be stored are refused one by
one in `partial_success` (how many, and which and why for the first few); the rest are kept.
This route is deliberately not traced itself: were Control Tower's own exporter pointed at it,
every export would make a span to export.
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.responses import Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.otlp.decode import JSON, DecodeFailure, parse
from collector.otlp.http import (
    OTLP_FAILURES,
    OtlpFailure,
    backpressure,
    failure_reply,
    read_otlp_body,
    reply,
    success_response,
)
from collector.otlp.spans import SpanRows, span_rows
from collector.writer import Backpressure
from tower.api import IngestAccess, api_router

router = api_router("ingest")

SPAN_CONTAINERS = (("resourceSpans", "scopeSpans", "spans"), ("resource_spans", "scope_spans", "spans"))


def decode_spans(body: bytes, encoding: str, tenant: str, identifier_attributes: dict[str, str]) -> SpanRows:
    request = parse(ExportTraceServiceRequest, body, encoding, SPAN_CONTAINERS)
    return span_rows(request, tenant, identifier_attributes)


@router.post(
    "/v1/traces",
    summary="Ingest OpenTelemetry spans (OTLP/HTTP: application/x-protobuf or application/json, gzip or not)",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-protobuf": {
                    "schema": {"type": "string", "format": "binary", "description": "ExportTraceServiceRequest"}
                },
                "application/json": {
                    "schema": {"type": "object", "description": "ExportTraceServiceRequest in the OTLP/JSON mapping"}
                },
            },
        }
    },
    responses={
        200: success_response("Trace", "rejectedSpans"),
        **OTLP_FAILURES,
        401: {},
        403: {},
    },
)
async def post_traces(request: Request, principal: IngestAccess) -> Response:
    services = request.app.state.services
    settings = request.app.state.settings
    encoding = JSON
    try:
        encoding, body = await read_otlp_body(request, settings.max_body_bytes)
        try:
            rows = await asyncio.to_thread(decode_spans, body, encoding, principal.tenant, settings.span_identifiers)
        except DecodeFailure as exc:
            raise OtlpFailure(exc.status, exc.message) from None
        try:
            await services.telemetry.submit(
                {
                    "otel_traces": rows.spans,
                    "spans_by_trace": rows.spans,
                    "otel_traces_trace_id_ts": rows.ranges,
                    "span_links": rows.links,
                }
            )
        except Backpressure as exc:
            raise backpressure(exc) from None
    except OtlpFailure as failure:
        return failure_reply(encoding, failure)
    response = ExportTraceServiceResponse()
    if rows.rejected:
        response.partial_success.rejected_spans = rows.rejected
        response.partial_success.error_message = rows.error_message()
    return reply(encoding, response)
