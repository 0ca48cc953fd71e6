"""The adapter interface shared by every format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tower.events import MAX_ID_LENGTH, MAX_IDENTIFIER_LENGTH


class AdapterError(Exception):
    """The payload cannot be read: `where` names the place (a segment, a JSON path), `reason` why."""

    def __init__(self, where: str, reason: str, status: int = 400) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason
        self.status = status


@dataclass(slots=True)
class AdapterResult:
    """Canonical events (dicts, validated downstream like any posted event) and an optional reply
    the sender expects back in its own format (an X12 997, say)."""

    events: list[dict[str, Any]]
    reply: bytes | None = None
    reply_content_type: str = "application/octet-stream"
    notes: list[str] = field(default_factory=list)
    # A signed delivery's id, for providers that sign the body but no timestamp (Shopify's
    # X-Shopify-Webhook-Id): the collector refuses the same signed body under another id (a replay).
    delivery: str | None = None


class Adapter(Protocol):
    """`parse(body, headers, secrets)`: headers are lower-cased; `secrets` maps an adapter's name to
    the shared secret it verifies signatures with (TOWER_SHOPIFY_WEBHOOK_SECRET, TOWER_EASYPOST_WEBHOOK_SECRET).

    The server adds headers of its own (any sent by the client are overwritten):
    `x-tower-received-at`, its clock's now (RFC 3339), and `x-tower-signature-tolerance-s`
    (TOWER_WEBHOOK_TOLERANCE_S), for providers that sign a timestamp; `x-tower-edi-partner-zones`
    (TOWER_EDI_PARTNER_ZONES), the zone of each EDI sender's times (adapters/partner_zones.py)."""

    @property
    def name(self) -> str: ...

    @property
    def content_types(self) -> tuple[str, ...]: ...

    def parse(self, body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult: ...


@dataclass(frozen=True, slots=True)
class FunctionAdapter:
    """An adapter made of a parse function, for formats that need no state."""

    name: str
    content_types: tuple[str, ...]
    function: Callable[[bytes, Mapping[str, str], Mapping[str, str]], AdapterResult]

    def parse(self, body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult:
        return self.function(body, headers, secrets)


def event(
    event_id: str,
    source: str,
    etype: str,
    time: str,
    objects: list[dict[str, Any]],
    *,
    relations: list[list[Any]] | None = None,
    dims: dict[str, str] | None = None,
    facts: dict[str, Any] | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """A canonical event dict as DESIGN.md defines it.

    An id or identifier the payload made blank or longer than the contract allows raises
    `AdapterError` naming it, rather than an event every ingest would refuse."""
    if len(event_id) > MAX_ID_LENGTH:
        raise AdapterError(
            "id",
            f"the event id made from the payload is {len(event_id)} characters; at most "
            f"{MAX_ID_LENGTH} are allowed: {event_id[:40]!r}…",
        )
    for obj in objects:
        for namespace, identifier in obj.get("ids", {}).items():
            if isinstance(identifier, str) and (not identifier.strip() or len(identifier) > MAX_IDENTIFIER_LENGTH):
                raise AdapterError(
                    f"{obj.get('type')} {namespace}",
                    f"identifier {identifier[:40]!r} must be non-blank and at most {MAX_IDENTIFIER_LENGTH} characters",
                )
    data: dict[str, Any] = {"objects": objects}
    if relations is not None:
        data["relations"] = relations
    if dims:
        data["dims"] = dims
    if facts:
        data["facts"] = facts
    out: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": etype,
        "time": time,
        "data": data,
    }
    if traceparent:
        out["traceparent"] = traceparent
    return out
