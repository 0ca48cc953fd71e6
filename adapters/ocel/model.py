"""The in-memory OCEL 2.0 log every reader produces: events, objects, their relationships."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Relationship:
    """A qualified link to an object (event-to-object or object-to-object)."""

    object_id: str
    qualifier: str


@dataclass(frozen=True, slots=True)
class ObjectAttribute:
    """One value of an object attribute; `time` (RFC 3339 UTC) is when it took that value."""

    name: str
    value: Any
    time: str


@dataclass(slots=True)
class OcelEvent:
    id: str
    type: str
    time: str  # RFC 3339, UTC ("Z")
    attributes: dict[str, Any] = field(default_factory=dict)
    relationships: list[Relationship] = field(default_factory=list)


@dataclass(slots=True)
class OcelObject:
    id: str
    type: str
    attributes: list[ObjectAttribute] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)


@dataclass(slots=True)
class OcelLog:
    """`format` is how it was read ("json", "xml", "sqlite"); `notes` what the reader assumed."""

    events: list[OcelEvent]
    objects: list[OcelObject]
    event_types: dict[str, dict[str, str]] = field(default_factory=dict)  # name → attribute → OCEL type
    object_types: dict[str, dict[str, str]] = field(default_factory=dict)
    format: str = "json"
    notes: list[str] = field(default_factory=list)
