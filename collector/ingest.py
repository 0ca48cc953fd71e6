"""Request bodies → candidate events, by content type: one event, a JSON array, or NDJSON.

Pure: bytes in, `Parsed` out. Each candidate keeps its own raw bytes so a rejected event can be
quarantined exactly as it was sent (NDJSON lines verbatim; array elements re-serialised).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq")
PLAIN_JSON = "application/json"
ACCEPTED_TYPES = (SINGLE, BATCH, NDJSON[0], PLAIN_JSON)


class BodyError(Exception):
    """The body as a whole cannot be read; `status` is the HTTP status to answer with."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str = "",
        index: int | None = None,
        raw: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.index = index
        self.raw = raw  # what was read when the body was not read whole (to quarantine); None: the body


@dataclass(slots=True)
class Candidate:
    index: int
    sent: bytes | None  # the bytes as sent, when the event had bytes of its own (NDJSON line, single body)
    value: Any = None
    problem: str | None = None  # set when this one element could not even be decoded

    @property
    def raw(self) -> bytes:
        """The event's bytes: as sent, or for an array element re-serialised (only needed when rejected)."""
        if self.sent is not None:
            return self.sent
        try:
            return orjson.dumps(self.value)
        except TypeError:  # what orjson cannot write (an adapter's integer beyond 64 bits) is still kept
            return json.dumps(self.value, default=repr).encode()


@dataclass(slots=True)
class Parsed:
    candidates: list[Candidate] = field(default_factory=list)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str | None, max_events: int) -> Parsed:
    kind = media_type(content_type)
    charset = _charset(content_type)
    if charset and charset not in ("utf-8", "utf8"):
        raise BodyError(415, "unsupported_charset", f"charset {charset!r} is not supported; send UTF-8 JSON")
    if not kind:
        raise BodyError(
            415, "unsupported_media_type", f"Content-Type is missing; send one of {', '.join(ACCEPTED_TYPES)}"
        )
    if not body.strip():
        raise BodyError(400, "empty_body", "the request body is empty; send at least one event")
    if kind in NDJSON:
        return _ndjson(body, max_events)
    if kind not in (SINGLE, BATCH, PLAIN_JSON):
        raise BodyError(
            415,
            "unsupported_media_type",
            f"Content-Type {kind!r} is not accepted; send one of {', '.join(ACCEPTED_TYPES)}",
        )
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "invalid_json", f"the body is not valid UTF-8 JSON: {exc}") from None
    if kind == SINGLE:
        if isinstance(value, list):
            raise BodyError(400, "wrong_shape", f"{SINGLE} carries one event object; send a list as {BATCH}")
        return Parsed([Candidate(0, body, value)])
    if kind == BATCH and not isinstance(value, list):
        raise BodyError(400, "wrong_shape", f"{BATCH} must be a JSON array of events")
    items = value if isinstance(value, list) else [value]
    if not items:
        raise BodyError(400, "empty_batch", "the batch holds no events")
    if len(items) > max_events:
        raise BodyError(
            413, "too_many_events", f"the batch holds {len(items)} events; at most {max_events} are accepted"
        )
    if len(items) == 1 and not isinstance(value, list):
        return Parsed([Candidate(0, body, value)])
    return Parsed([Candidate(i, None, item) for i, item in enumerate(items)])


def _ndjson(body: bytes, max_events: int) -> Parsed:
    parsed = Parsed()
    index = 0
    for line in body.split(b"\n"):
        stripped = line.strip()
        if not stripped:
            continue
        if index >= max_events:
            raise BodyError(413, "too_many_events", f"the body holds more than {max_events} events")
        try:
            parsed.candidates.append(Candidate(index, stripped, orjson.loads(stripped)))
        except orjson.JSONDecodeError as exc:
            parsed.candidates.append(Candidate(index, stripped, problem=f"line is not valid UTF-8 JSON: {exc}"))
        index += 1
    if not parsed.candidates:
        raise BodyError(400, "empty_batch", "the body holds no events")
    return parsed


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None
