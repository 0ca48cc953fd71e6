"""`POST /v1/logs`: OTLP/HTTP log records (protobuf or JSON, gzip or not) into `otel_logs`.

As `/v1/traces`: the reply is sent once the records are stored; records that cannot be stored are
refused one by one in `partial_success`; not traced itself.
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.responses import Response
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
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
from collector.otlp.logs import LogRows, log_rows
from collector.writer import Backpressure
from tower.api import IngestAccess, api_router

router = api_router("ingest")

LOG_CONTAINERS = (("resourceLogs", "scopeLogs", "logRecords"), ("resource_logs", "scope_logs", "log_records"))


def decode_logs(body: bytes, encoding: str, tenant: str) -> LogRows:
    return log_rows(parse(ExportLogsServiceRequest, body, encoding, LOG_CONTAINERS), tenant)


@router.post(
    "/v1/logs",
    summary="Ingest OpenTelemetry log records (OTLP/HTTP: application/x-protobuf or application/json, gzip or not)",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-protobuf": {
                    "schema": {"type": "string", "format": "binary", "description": "ExportLogsServiceRequest"}
                },
                "application/json": {
                    "schema": {"type": "object", "description": "ExportLogsServiceRequest in the OTLP/JSON mapping"}
                },
            },
        }
    },
    responses={
        200: success_response("Logs", "rejectedLogRecords"),
        **OTLP_FAILURES,
        401: {},
        403: {},
    },
)
async def post_logs(request: Request, principal: IngestAccess) -> Response:
    services = request.app.state.services
    settings = request.app.state.settings
    encoding = JSON
    try:
        encoding, body = await read_otlp_body(request, settings.max_body_bytes)
        try:
            rows = await asyncio.to_thread(decode_logs, body, encoding, principal.tenant)
        except DecodeFailure as exc:
            raise OtlpFailure(exc.status, exc.message) from None
        try:
            await services.telemetry.submit({"otel_logs": rows.logs})
        except Backpressure as exc:
            raise backpressure(exc) from None
    except OtlpFailure as failure:
        return failure_reply(encoding, failure)
    response = ExportLogsServiceResponse()
    if rows.rejected:
        response.partial_success.rejected_log_records = rows.rejected
        response.partial_success.error_message = rows.error_message()
    return reply(encoding, response)
