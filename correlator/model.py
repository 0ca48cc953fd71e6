"""The correlator's working state: objects, journeys and what each event touched."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from sys import intern
from typing import Any


def reached(reach: Iterable[str], more: Iterable[str] = (), less: str | None = None) -> tuple[str, ...]:
    """An object's reach with `more` journeys and without `less`, as `Obj.reach` holds it."""
    grown = {*reach, *more}
    if less is not None:
        grown.discard(less)
    return tuple(sorted(grown))


@dataclass(slots=True)
class Obj:
    """One business object, after merges. `key` = (earliest event time µs, minted id) decides its id."""

    id: str
    tenant: str
    type: str
    level: int | None  # None: reference / context, never a path
    ids: dict[str, str]
    # (namespace, source, event id, event time µs) of the event that linked each identifier: a tuple
    # of tuples takes 120 bytes for one identifier, a dict of tuples 248.
    provenance: tuple[tuple[str, str, str, int], ...]
    key: tuple[int, str]
    neighbours: dict[str, str] = field(default_factory=dict)  # object id → relation qualifier
    # Journeys (order ids) reaching this object, sorted: nearly always one, and a tuple of one takes
    # 56 bytes where a set takes 216 (`reached` makes a grown one).
    reach: tuple[str, ...] = ()
    events: array[int] = field(default_factory=lambda: array("q"))  # seqs where this is a lowest-level object
    conflicts: tuple[dict[str, Any], ...] = ()
    # Whether `merges` holds a record under this id (a merge into it, its re-key, a conflict): the
    # journey page reads the audit of these objects only. None: not known (a snapshot from before).
    audited: bool | None = None

    def __post_init__(self) -> None:
        # One string per tenant and per type, not one per object (an object's type came from its
        # event's JSON, and a snapshot restores what it was given): 57 bytes an object otherwise.
        self.tenant = intern(self.tenant)
        self.type = intern(self.type)


# A journey's events are an array of seqs (8 bytes each, against ~80 in a set: a set of a typical
# journey's 9 events takes 728 bytes), searched in place up to this many; past it, a set beside it.
JOURNEY_INDEXED_FROM = 64


@dataclass(slots=True)
class Journey:
    """One order and what flows downstream of it."""

    id: str
    tenant: str
    objects: set[str]
    events: array[int] = field(default_factory=lambda: array("q"))  # seqs, each once, as they joined
    # The same seqs, once there are more than JOURNEY_INDEXED_FROM (made again from `events` on load).
    index: set[int] | None = field(default=None, metadata={"snapshot": False})

    def __post_init__(self) -> None:
        if self.index is None and len(self.events) > JOURNEY_INDEXED_FROM:
            self.index = set(self.events)

    def has(self, seq: int) -> bool:
        return seq in (self.events if self.index is None else self.index)

    def add(self, seq: int) -> None:
        """Add a seq not yet among its events (`has`)."""
        self.events.append(seq)
        if self.index is not None:
            self.index.add(seq)
        elif len(self.events) > JOURNEY_INDEXED_FROM:
            self.index = set(self.events)


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
