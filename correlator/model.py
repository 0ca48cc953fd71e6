"""The correlator's working state: objects, journeys and what each event touched."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Obj:
    """One business object, after merges. `key` = (earliest event time µs, minted id) decides its id."""

    id: str
    tenant: str
    type: str
    level: int | None  # None: reference / context, never a path
    ids: dict[str, str]
    provenance: dict[str, tuple[str, str, int]]  # namespace → (source, event id, event time µs) that linked it
    key: tuple[int, str]
    neighbours: dict[str, str] = field(default_factory=dict)  # object id → relation qualifier
    reach: set[str] = field(default_factory=set)  # journeys (order ids) reaching this object
    events: array[int] = field(default_factory=lambda: array("q"))  # seqs where this is a lowest-level object
    conflicts: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class Journey:
    """One order and what flows downstream of it."""

    id: str
    tenant: str
    objects: set[str]
    events: set[int] = field(default_factory=set)


@dataclass(slots=True)
class EventRecord:
    """What the journey state needs of one event. Object ids may be stale: resolve them with `find`."""

    seq: int
    tenant: str
    source: str
    id: str
    type: str
    time_us: int
    lowest: tuple[str, ...]
    shipments: tuple[str, ...]
    dims: dict[str, str]
    facts: dict[str, Any]
