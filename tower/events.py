"""The canonical event of DESIGN.md: a CloudEvents 1.0 envelope in structured JSON mode.

`validate_event` turns one decoded JSON value into an `Event`, or into the list of problems that
name the field and the reason. It is hand-written rather than a pydantic model because it sits on
the ingest hot path (it runs once per event at tens of thousands of events a second) and because
its messages are part of the product: they must say which field of which event was wrong and why.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
OBJECT_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")
TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
MAX_ID_LENGTH = 512
MAX_IDENTIFIER_LENGTH = 512
DIMENSIONS = ("channel", "warehouse", "carrier", "customer", "system")


@dataclass(frozen=True, slots=True)
class Problem:
    """What was wrong with one event: the field (dotted path) and why."""

    field: str
    reason: str


@dataclass(slots=True)
class ObjectRef:
    """A business object as an event names it: its type and its identifiers by namespace."""

    type: str
    ids: dict[str, str]


@dataclass(slots=True)
class Event:
    """A validated canonical event. `time` is UTC; `payload` is the event as stored (JSON bytes)."""

    tenant: str
    source: str
    id: str
    type: str
    time: datetime
    traceparent: str
    objects: list[ObjectRef]
    relations: list[tuple[int, int, str]] | None
    dims: dict[str, str]
    facts: dict[str, Any]
    payload: bytes
    # When the writer stored it (µs since the epoch; the `events.ingested_at` column), once known
    # where the event is handled: 0 before it is stored, and in a correlator fed by the Kafka topic.
    ingested_at_us: int = field(default=0, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tenant, self.source, self.id)

    @property
    def system(self) -> str:
        """The system the event is about, stored as `events.system`: see `event_system`."""
        return event_system(self.source, self.dims, self.facts)

    @property
    def carrier(self) -> str:
        """`dims.carrier`, stored as `events.carrier` ('' when the event names none)."""
        return self.dims.get("carrier", "")

    @property
    def operation(self) -> str:
        """`facts.operation` when a string (a sync step's operation), stored as `events.operation`."""
        operation = self.facts.get("operation")
        return operation if isinstance(operation, str) else ""


def event_system(source: str, dims: dict[str, str], facts: dict[str, Any]) -> str:
    """The system an event is about: `facts.system` (an integration platform reporting on another
    system's step) when it is a non-empty string, else `dims.system`, else the source's prefix
    before '/' (`erp/netsuite` → `erp`).

    The writers store it as the `events.system` column; the column's DEFAULT
    (collector/schema.py `EVENT_SYSTEM_SQL`) computes the same from the payload for rows written
    without it, so SLIs and detections slice by system without parsing any JSON.
    """
    named = facts.get("system")
    if isinstance(named, str) and named:
        return named
    return dims.get("system") or source.split("/", 1)[0]


def event_key_hash(tenant: str, source: str, event_id: str) -> int:
    """64-bit fingerprint of the idempotency key (tenant, source, id), as stored in `events.key_hash`."""
    digest = hashlib.blake2b(f"{tenant}\x1f{source}\x1f{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def parse_time(value: Any, field: str) -> tuple[datetime | None, Problem | None]:
    """RFC 3339 date-time with an offset → aware UTC datetime, or the problem with it."""
    if not isinstance(value, str):
        return None, Problem(field, f"must be an RFC 3339 date-time string, got {_kind(value)}")
    text = value.strip()
    if len(text) < 19 or text[10] not in "Tt ":
        return None, Problem(field, f"{_clip(value)!r} is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ssZ)")
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        return None, Problem(field, f"{_clip(value)!r} is not a valid RFC 3339 date-time: {exc}")
    if parsed.tzinfo is None:
        return None, Problem(field, f"{_clip(value)!r} has no UTC offset; add Z or ±hh:mm")
    return parsed.astimezone(UTC), None


def validate_event(
    value: Any, default_tenant: str = "", raw: bytes | None = None
) -> tuple[Event | None, list[Problem]]:
    """Check one decoded event against the contract; return the event or every problem found.

    `raw`, the bytes `value` was decoded from, is stored as the payload when the event is kept as
    sent (it names its tenant or none was filled in), which saves re-serialising it.
    """
    if not isinstance(value, dict):
        return None, [Problem("", f"an event must be a JSON object, got {_kind(value)}")]
    problems: list[Problem] = []

    spec = value.get("specversion")
    if spec != "1.0":
        problems.append(
            Problem("specversion", "is required" if spec is None else f'must be "1.0", got {_clip(spec)!r}')
        )
    event_id = _required_string(value, "id", MAX_ID_LENGTH, problems)
    source = _required_string(value, "source", MAX_ID_LENGTH, problems)

    etype = value.get("type")
    if not isinstance(etype, str) or not etype:
        problems.append(Problem("type", "is required" if etype is None else f"must be a string, got {_kind(etype)}"))
    elif not TYPE_NAME.match(etype):
        problems.append(
            Problem("type", f"{_clip(etype)!r} is not a lowercase domain.action name such as order.received")
        )

    time, time_problem = (
        (None, Problem("time", "is required")) if "time" not in value else parse_time(value["time"], "time")
    )
    if time_problem:
        problems.append(time_problem)

    traceparent = value.get("traceparent", "")
    if traceparent is None:
        traceparent = ""
    if not isinstance(traceparent, str):
        problems.append(Problem("traceparent", f"must be a string, got {_kind(traceparent)}"))
        traceparent = ""
    elif traceparent:
        match = TRACEPARENT.match(traceparent)
        if not match or match.group(1) == "ff" or set(match.group(2)) == {"0"} or set(match.group(3)) == {"0"}:
            problems.append(
                Problem(
                    "traceparent", f"{_clip(traceparent)!r} is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)"
                )
            )

    tenant = value.get("tenant", default_tenant)
    if tenant is None:
        tenant = default_tenant
    if not isinstance(tenant, str):
        problems.append(Problem("tenant", f"must be a string, got {_kind(tenant)}"))
        tenant = default_tenant
    elif tenant and not TENANT.match(tenant):
        problems.append(Problem("tenant", f"{_clip(tenant)!r} must be 1-128 letters, digits, '.', '_' or '-'"))

    ctype = value.get("datacontenttype")
    if ctype is not None and (not isinstance(ctype, str) or not ctype.startswith("application/json")):
        problems.append(Problem("datacontenttype", "must be application/json when given (structured JSON mode)"))

    objects: list[ObjectRef] = []
    relations: list[tuple[int, int, str]] | None = None
    dims: dict[str, str] = {}
    facts: dict[str, Any] = {}
    data = value.get("data")
    if data is None:
        problems.append(Problem("data", "is required: an object with objects, relations, dims and facts"))
    elif not isinstance(data, dict):
        problems.append(Problem("data", f"must be a JSON object, got {_kind(data)}"))
    else:
        objects = _objects(data.get("objects"), problems)
        relations = _relations(data, len(objects), problems)
        dims = _dims(data.get("dims"), problems)
        raw_facts = data.get("facts", {})
        if raw_facts is None:
            raw_facts = {}
        if not isinstance(raw_facts, dict):
            problems.append(Problem("data.facts", f"must be a JSON object, got {_kind(raw_facts)}"))
        else:
            facts = raw_facts

    if problems:
        return None, problems
    assert time is not None and isinstance(etype, str)
    if value.get("tenant") != tenant and (tenant or "tenant" in value):
        value = {**value, "tenant": tenant}  # the stored payload names the tenant it was accepted for
        raw = None
    if raw is None:
        try:
            raw = orjson.dumps(value)
        except TypeError as exc:  # values decoded by a laxer parser than orjson (an adapter's json.loads)
            return None, [Problem(_unstorable(value), f"cannot be stored as JSON: {exc}")]
    return (
        Event(
            tenant=tenant,
            source=source,
            id=event_id,
            type=etype,
            time=time,
            traceparent=traceparent,
            objects=objects,
            relations=relations,
            dims=dims,
            facts=facts,
            payload=raw,
        ),
        [],
    )


def _objects(raw: Any, problems: list[Problem]) -> list[ObjectRef]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem("data.objects", f"must be a list of objects, got {_kind(raw)}"))
        return []
    objects = []
    for i, item in enumerate(raw):
        where = f"data.objects[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(where, f"must be an object with type and ids, got {_kind(item)}"))
            continue
        otype = item.get("type")
        if not isinstance(otype, str) or not OBJECT_TYPE.match(otype):
            problems.append(
                Problem(
                    f"{where}.type",
                    "is required"
                    if otype is None
                    else f"{_clip(otype)!r} is not a lowercase object type such as order or shipment",
                )
            )
            continue
        ids = item.get("ids")
        if not isinstance(ids, dict) or not ids:
            problems.append(Problem(f"{where}.ids", "must be a non-empty object of namespace → identifier"))
            continue
        clean: dict[str, str] = {}
        for ns, ident in ids.items():
            if not ns or len(ns) > MAX_IDENTIFIER_LENGTH:
                problems.append(Problem(f"{where}.ids", f"namespace {_clip(ns)!r} must be 1-512 characters"))
            elif not isinstance(ident, str):
                problems.append(Problem(f"{where}.ids.{ns}", f"must be a string, got {_kind(ident)}"))
            elif not ident.strip() or len(ident) > MAX_IDENTIFIER_LENGTH:
                problems.append(Problem(f"{where}.ids.{ns}", "must be a non-blank string of at most 512 characters"))
            else:
                clean[ns] = ident
        objects.append(ObjectRef(otype, clean))
    return objects


def _relations(data: dict[str, Any], count: int, problems: list[Problem]) -> list[tuple[int, int, str]] | None:
    if "relations" not in data or data["relations"] is None:
        return None
    raw = data["relations"]
    if not isinstance(raw, list):
        problems.append(Problem("data.relations", f"must be a list of [i, j] or [i, j, qualifier], got {_kind(raw)}"))
        return None
    pairs: list[tuple[int, int, str]] = []
    for k, pair in enumerate(raw):
        where = f"data.relations[{k}]"
        if not isinstance(pair, list) or len(pair) not in (2, 3):
            problems.append(Problem(where, "must be [i, j] or [i, j, qualifier]"))
            continue
        i, j = pair[0], pair[1]
        if type(i) is not int or type(j) is not int:
            problems.append(Problem(where, "indexes must be whole numbers"))
            continue
        if not (0 <= i < count and 0 <= j < count):
            problems.append(Problem(where, f"index out of range: data.objects has {count} object(s)"))
            continue
        if i == j:
            problems.append(Problem(where, "relates an object to itself"))
            continue
        qualifier = pair[2] if len(pair) == 3 else ""
        if not isinstance(qualifier, str):
            problems.append(Problem(where, f"qualifier must be a string, got {_kind(qualifier)}"))
            continue
        pairs.append((i, j, qualifier))
    return pairs


def _dims(raw: Any, problems: list[Problem]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem("data.dims", f"must be a JSON object, got {_kind(raw)}"))
        return {}
    dims: dict[str, str] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(Problem(f"data.dims.{name}", f"must be a string, got {_kind(value)}"))
        else:
            dims[name] = value
    return dims


def _required_string(value: dict[str, Any], name: str, limit: int, problems: list[Problem]) -> str:
    raw = value.get(name)
    if raw is None:
        problems.append(Problem(name, "is required"))
        return ""
    if not isinstance(raw, str):
        problems.append(Problem(name, f"must be a string, got {_kind(raw)}"))
        return ""
    if not raw.strip():
        problems.append(Problem(name, "must not be blank"))
        return ""
    if len(raw) > limit:
        problems.append(Problem(name, f"is {len(raw)} characters; at most {limit} are allowed"))
        return ""
    return raw


def _unstorable(value: Any, path: str = "") -> str:
    """The dotted path of the first value orjson cannot write (an integer beyond 64 bits, a key that
    is not a string); the whole event ("") when there is none to point at."""
    return find_unstorable(value, path) or ""


def find_unstorable(value: Any, path: str = "") -> str | None:
    """The dotted path (under `path`) of the first value in `value` that orjson cannot write, or None."""
    if type(value) is int and not -(2**63) <= value < 2**64:
        return path
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                return path
            found = find_unstorable(child, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found = find_unstorable(child, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _clip(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# The contract as JSON Schema, for /openapi.json and for clients; `validate_event` is what enforces it.
EVENT_JSON_SCHEMA: dict[str, Any] = {
    "title": "CanonicalEvent",
    "description": "A CloudEvents 1.0 envelope in structured JSON mode (DESIGN.md, 'The canonical event').",
    "type": "object",
    "required": ["specversion", "id", "source", "type", "time", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ID_LENGTH,
            "description": "unique within source; (source, id) is the idempotency key",
        },
        "source": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "examples": ["shopify/acme-eu"]},
        "type": {"type": "string", "pattern": TYPE_NAME.pattern, "examples": ["order.received"]},
        "time": {"type": "string", "format": "date-time", "description": "event time in the source system"},
        "traceparent": {"type": "string", "pattern": TRACEPARENT.pattern},
        "tenant": {"type": "string", "pattern": TENANT.pattern},
        "datacontenttype": {"const": "application/json"},
        "data": {
            "type": "object",
            "properties": {
                "objects": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "ids"],
                        "properties": {
                            "type": {"type": "string", "pattern": OBJECT_TYPE.pattern, "examples": ["order"]},
                            "ids": {
                                "type": "object",
                                "minProperties": 1,
                                "additionalProperties": {"type": "string", "minLength": 1},
                            },
                        },
                    },
                },
                "relations": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 3,
                        "prefixItems": [{"type": "integer"}, {"type": "integer"}, {"type": "string"}],
                    },
                },
                "dims": {"type": "object", "additionalProperties": {"type": "string"}},
                "facts": {"type": "object"},
            },
        },
    },
}
