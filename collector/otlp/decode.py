"""OTLP/HTTP request bodies → protobuf messages: binary protobuf or OTLP/JSON, gzip or not.

OTLP/JSON is the protobuf JSON mapping with the differences the OTLP specification names: trace
and span ids are hex strings (not base64), field names are lowerCamelCase (snake_case accepted),
enums are integers, 64-bit integers may be strings, unknown fields are ignored. The hex ids are
turned into bytes here; `google.protobuf.json_format` does the rest of the mapping.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
M = TypeVar("M", bound=Message)

# The id fields of OTLP/JSON items (spans, span links, log records).
_ID_FIELDS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")


class DecodeFailure(Exception):
    """The body cannot be read: `status` (400, 413 or 415) and a message saying why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def encoding_of(content_type: str | None) -> str:
    """`application/x-protobuf` or `application/json` from a Content-Type; 415 for anything else."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if media == JSON:
        return JSON
    raise DecodeFailure(
        415,
        "unsupported_media_type",
        f"Content-Type {media or '(none)'!r} is not OTLP/HTTP; send application/x-protobuf or application/json",
    )


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding (gzip, deflate or none) undone, at most `limit` bytes."""
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in ("gzip", "deflate"):
        raise DecodeFailure(415, "unsupported_encoding", f"Content-Encoding {coding!r} is not supported; use gzip")
    wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
    out = bytearray()
    data = body
    while True:  # a gzip body may hold several members, one after another
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise DecodeFailure(400, "invalid_body", f"the body is not valid {coding}: {exc}") from None
        if len(out) > limit:
            raise DecodeFailure(413, "body_too_large", f"the body is over {limit} bytes once decompressed")
        if not inflater.eof:
            raise DecodeFailure(400, "invalid_body", f"the {coding} body is truncated")
        data = inflater.unused_data
        if not data or coding != "gzip":
            return bytes(out)


def parse(message: type[M], body: bytes, encoding: str, containers: tuple[tuple[str, ...], ...]) -> M:
    """Decode `body` as `message` in `encoding`. `containers` are the JSON list paths holding ids."""
    request = message()
    if encoding == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise DecodeFailure(400, "invalid_body", f"the body is not a valid {message.__name__}: {exc}") from None
        return request
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeFailure(400, "invalid_body", f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeFailure(400, "invalid_body", f"the body must be a JSON object ({message.__name__})")
    for path in containers:
        _hex_ids(document, path)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise DecodeFailure(400, "invalid_body", f"the body is not valid OTLP/JSON: {exc}") from None
    return request


def _hex_ids(node: Any, path: tuple[str, ...]) -> None:
    """Rewrite the hex ids found along `path` as the base64 the protobuf JSON mapping expects.

    A malformed id becomes an empty one; the processor then rejects that item by name (partial
    success) instead of the whole request failing."""
    if not path:
        if isinstance(node, dict):
            for name in _ID_FIELDS:
                value = node.get(name)
                if isinstance(value, str):
                    node[name] = _hex_to_base64(value)
            for link in node.get("links") or ():
                if isinstance(link, dict):
                    _hex_ids(link, ())
        return
    if isinstance(node, dict):
        children = node.get(path[0])
        if isinstance(children, list):
            for child in children:
                _hex_ids(child, path[1:])


def _hex_to_base64(value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        # Not hex: an id of the wrong length, refused with a reason by the processor.
        raw = b"\xff"
    return base64.b64encode(raw).decode()
