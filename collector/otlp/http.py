"""What `/v1/traces` and `/v1/logs` share: reading an OTLP/HTTP body and answering in its encoding.

Per the OTLP/HTTP specification: a protobuf request gets a protobuf reply, a JSON request a JSON
one; a success is `200` with the Export*ServiceResponse (its `partial_success` naming what was
refused and why); a failure is a `google.rpc.Status` in the request's encoding, `400` for a body
that cannot be decoded, `413` past the size limit, `415` for another content type, `429` with
`Retry-After` when the writer is behind (exporters retry those).
"""

from __future__ import annotations

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


def failure_reply(encoding: str, failure: OtlpFailure) -> Response:
    status = Status(code=RPC_CODES.get(failure.status, 2), message=failure.message)
    if encoding == PROTOBUF:
        body = status.SerializeToString()
    else:
        body = json_format.MessageToJson(status, indent=None).encode()
    return Response(body, status_code=failure.status, media_type=encoding, headers=failure.headers)
