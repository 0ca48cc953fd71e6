"""What `/v1/traces` and `/v1/logs` share: reading an OTLP/HTTP body and answering in its encoding.

Per the OTLP/HTTP specification: a protobuf request gets a protobuf reply, a JSON request a JSON
one; a success is `200` with the Export*ServiceResponse (its `partial_success` naming what was
refused and why); a failure is a `google.rpc.Status` in the request's encoding, `400` for a body
that cannot be decoded, `413` past the size limit, `415` for another content type, `429` with
`Retry-After` when the writer is behind (exporters retry those).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc.status_pb2 import Status

from collector.api.events import read_body
from collector.ingest import BodyError
from collector.otlp.decode import JSON, PROTOBUF, DecodeFailure, decompress, encoding_of
from collector.writer import Backpressure

# google.rpc.Code for each HTTP status we answer with.
RPC_CODES = {400: 3, 413: 3, 415: 3, 429: 8, 503: 14}


class OtlpFailure(Exception):
    """An OTLP request refused as a whole, answered as a google.rpc.Status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


async def read_otlp_body(request: Request, limit: int) -> tuple[str, bytes]:
    """(encoding, decompressed body) of an OTLP/HTTP request, or `OtlpFailure` (415 answered in JSON)."""
    try:
        encoding = encoding_of(request.headers.get("content-type"))
    except DecodeFailure as exc:
        raise OtlpFailure(exc.status, exc.message) from None
    try:
        body = await read_body(request, limit)
        return encoding, decompress(body, request.headers.get("content-encoding"), limit)
    except BodyError as exc:
        raise OtlpFailure(exc.status, exc.message) from None
    except DecodeFailure as exc:
        raise OtlpFailure(exc.status, exc.message) from None


def backpressure(exc: Backpressure) -> OtlpFailure:
    return OtlpFailure(
        429, f"the writer is behind; retry after {exc.retry_after}s", {"Retry-After": str(exc.retry_after)}
    )


def reply(encoding: str, message: Message) -> Response:
    if encoding == PROTOBUF:
        return Response(message.SerializeToString(), status_code=200, media_type=PROTOBUF)
    return Response(json_format.MessageToJson(message, indent=None), status_code=200, media_type=JSON)


STATUS_SCHEMA: dict[str, Any] = {
    "title": "Status",
    "type": "object",
    "description": "google.rpc.Status, as OTLP/HTTP answers a refused request (in the request's encoding)",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}


def failure_response(description: str, *, or_error: bool = False) -> dict[str, Any]:
    """An OpenAPI response for an OTLP failure: a Status, in JSON or protobuf. `or_error`: the status
    is also one the key check answers (`tower.api` errors: a tenant header it cannot use)."""
    json_schema: dict[str, Any] = (
        {"anyOf": [STATUS_SCHEMA, {"$ref": "#/components/schemas/Error"}]} if or_error else STATUS_SCHEMA
    )
    return {
        "description": description,
        "content": {
            "application/json": {"schema": json_schema},
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        },
    }


def success_response(signal: str, rejected: str) -> dict[str, Any]:
    """The OpenAPI `200` of an OTLP export: `Export{signal}ServiceResponse`, in the request's encoding.
    In OTLP/JSON an int64 is a decimal string and an unset `partialSuccess` is left out (`{}`)."""
    name = f"Export{signal}ServiceResponse"
    return {
        "description": f"{name}; `partialSuccess` names how many were refused and why",
        "content": {
            "application/json": {
                "schema": {
                    "title": name,
                    "type": "object",
                    "properties": {
                        "partialSuccess": {
                            "type": "object",
                            "properties": {
                                rejected: {"type": "string", "pattern": "^[0-9]+$"},
                                "errorMessage": {"type": "string"},
                            },
                            "additionalProperties": False,
                        }
                    },
                    "additionalProperties": False,
                }
            },
            PROTOBUF: {"schema": {"type": "string", "format": "binary", "description": f"{name} (protobuf)"}},
        },
    }


OTLP_FAILURES: dict[int | str, dict[str, Any]] = {
    400: failure_response("The body cannot be decoded, or the tenant header is not valid", or_error=True),
    413: failure_response("The body is over TOWER_MAX_BODY_BYTES"),
    415: failure_response("Neither application/x-protobuf nor application/json"),
    429: failure_response("The store's writer is behind; retry after Retry-After seconds"),
}


def failure_reply(encoding: str, failure: OtlpFailure) -> Response:
    status = Status(code=RPC_CODES.get(failure.status, 2), message=failure.message)
    if encoding == PROTOBUF:
        body = status.SerializeToString()
    else:
        body = json_format.MessageToJson(status, indent=None).encode()
    return Response(body, status_code=failure.status, media_type=encoding, headers=failure.headers)
