"""The object graph and the journeys over it, updated one event at a time.

Rules (DESIGN.md, "Objects, not just keys"):

- Objects of one type sharing any (namespace, identifier) are one object; an object holds at most
  one identifier per namespace, so an event that would merge objects with different identifiers
  in one namespace merges nothing: it relates them and records an identity conflict.
- Objects named on one event are related pairwise, unless the event lists `data.relations`.
- A journey is an order and every object reachable from it by relations that step to a strictly
  higher level. `Obj.reach` holds the journeys reaching an object; it only grows, and growth is
  pushed to higher-level neighbours, so a late relation brings earlier events along.
- An event belongs to the journey of every order reaching one of its lowest-level business objects.

Every change is also recorded in `Changes`, which the engine turns into rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from sys import intern
from typing import Any

from correlator.identity import clashes, compatible, identifier_hash, mint_id
from correlator.model import EventRecord, Journey, Obj, reached
from tower.events import Event, ObjectRef
from tower.fingerprints import KeyIndex
from tower.milestones import OUTSIDE_JOURNEYS

JOURNEY_ROOT = "order"
NO_FACTS: dict[str, Any] = {}  # shared and never written to: most events keep no facts
# The facts journey state reads (`correlator.state`); the rest stay in the stored payload. Records of
# equal facts share one dict, as they share one dims dict.
FACTS_KEPT = ("promised_ship_date", "promised_delivery_date")


@dataclass
class Changes:
    """What changed since the last flush, for the engine to write."""

    members: list[tuple[str, int]] = field(default_factory=list)  # (journey, seq) new memberships
    journeys: set[str] = field(default_factory=set)  # journeys whose state must be rewritten
    rekeyed_journeys: set[str] = field(default_factory=set)  # journeys whose every membership is re-emitted
    dead_journeys: dict[str, str] = field(default_factory=dict)  # journey merged away → into
    objects: set[str] = field(default_factory=set)
    dead_objects: dict[str, str] = field(default_factory=dict)
    merges: list[dict[str, Any]] = field(default_factory=list)
    relations: list[tuple[str, str, str, str, str, str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.members or self.journeys or self.objects or self.dead_objects or self.merges)


class JourneyGraph:
    def __init__(self, levels: dict[str, int | None]) -> None:
        self.levels = levels
        self.shipment_level = levels.get("shipment")
        self.objects: dict[str, Obj] = {}
        self.journeys: dict[str, Journey] = {}
        self.records: dict[int, EventRecord] = {}
        self.identifiers: dict[tuple[str, str, str, str], str] = {}  # (tenant, type, ns, value) → object id
        self._dims: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}  # one shared dict per distinct dims
        self._facts: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}  # likewise for the facts kept
        self.parent: dict[str, str] = {}  # merged-away or re-keyed id → the id it became
        self.changes = Changes()
        self.watermark_us = 0  # the latest event time applied: "now" for keeping journeys in memory
        self.evicted = KeyIndex()  # fingerprints of the identifiers of evicted objects

    # --- lookups ---------------------------------------------------------------------------------

    def find(self, object_id: str) -> str:
        root = object_id
        while root in self.parent:
            root = self.parent[root]
        while object_id != root:  # path compression
            nxt = self.parent[object_id]
            self.parent[object_id] = root
            object_id = nxt
        return root

    def level(self, otype: str) -> int | None:
        return self.levels.get(otype)

    # --- applying one event ----------------------------------------------------------------------

    def apply(self, event: Event, seq: int) -> None:
        """Fold one event into the graph. Events of outside-journey types only get stored, not linked."""
        if event.type in OUTSIDE_JOURNEYS or not event.objects:
            return
        time_us = int(event.time.timestamp() * 1_000_000)
        if time_us > self.watermark_us:
            self.watermark_us = time_us
        named: list[list[str]] = [self._resolve(event, ref, time_us) for ref in event.objects]
        if event.relations is None:
            pairs = [(i, j, "") for i in range(len(named)) for j in range(i + 1, len(named))]
        else:
            pairs = list(event.relations)
        for i, j, qualifier in pairs:
            self._relate(self.find(named[i][0]), self.find(named[j][0]), qualifier, event, time_us)
        touched = {self.find(x) for ids in named for x in ids}
        business = [o for o in touched if self.objects[o].level is not None]
        lowest: tuple[str, ...] = ()
        if business:
            low = min(self.objects[o].level for o in business)  # type: ignore[type-var]
            lowest = tuple(sorted(o for o in business if self.objects[o].level == low))
        shipments = tuple(
            sorted(
                o for o in touched if self.shipment_level is not None and self.objects[o].level == self.shipment_level
            )
        )
        facts = self._kept_facts(event.facts)
        dims = self._dims.setdefault(tuple(event.dims.items()), event.dims) if event.dims else NO_FACTS
        self.records[seq] = EventRecord(
            seq,
            intern(event.tenant),
            intern(event.source),
            event.id,
            intern(event.type),
            time_us,
            lowest,
            shipments,
            dims,
            facts,
        )
        for o in lowest:
            obj = self.objects[o]
            obj.events.append(seq)
            for journey in obj.reach:
                self._add_member(journey, seq)

    def _kept_facts(self, facts: dict[str, Any]) -> dict[str, Any]:
        kept = tuple((k, facts[k]) for k in FACTS_KEPT if k in facts)
        if not kept:
            return NO_FACTS
        try:
            return self._facts.setdefault(kept, dict(kept))
        except TypeError:  # an unhashable value (a list where a date belongs): kept, not shared
            return dict(kept)

    # --- identity ------------------------------------------------------------------------------------

    def _resolve(self, event: Event, ref: ObjectRef, time_us: int) -> list[str]:
        """The object an event's object reference names, then any it conflicts with."""
        tenant, otype = event.tenant, ref.type
        roots: list[str] = []
        unknown = False
        for ns, value in ref.ids.items():
            known = self.identifiers.get((tenant, otype, ns, value))
            if known is None:
                unknown = True
                continue
            root = known if known not in self.parent else self.find(known)
            if root not in roots:
                roots.append(root)
        if not roots:
            return [self._create(event, otype, {intern(ns): value for ns, value in ref.ids.items()}, time_us)]
        if not unknown and len(roots) == 1:  # the common case: an object seen before, by known identifiers
            return [self._sighted(roots[0], event, ref, time_us)]

        roots.sort(key=lambda r: self.objects[r].key)
        fresh = {ns: value for ns, value in ref.ids.items() if (tenant, otype, ns, value) not in self.identifiers}
        union: dict[str, str] = {}
        consistent = True
        for ids in [*(self.objects[r].ids for r in roots), fresh]:
            if not compatible(union, ids):
                consistent = False
                break
            union.update(ids)
        survivor = roots[0]
        if not consistent:
            # One identifier per namespace: merge nothing, relate what the event named, record why.
            roots = [self._sighted(r, event, ref, time_us) for r in roots]
            if fresh:
                roots.append(self._create(event, otype, fresh, time_us))
            for other in roots[1:]:
                self._conflict(roots[0], other, event, time_us)
            return roots
        for other in roots[1:]:
            self._merge(survivor, other, event, time_us)
        target = self.objects[survivor]
        for ns, value in fresh.items():
            ns = intern(ns)
            target.ids[ns] = value
            target.provenance += ((ns, intern(event.source), event.id, time_us),)
            self.identifiers[(intern(tenant), intern(otype), intern(ns), value)] = survivor
            self.changes.objects.add(survivor)
        return [self._sighted(survivor, event, ref, time_us)]

    def _sighted(self, object_id: str, event: Event, ref: ObjectRef, time_us: int) -> str:
        """The event saw this object by some of its identifiers: the earliest sighting decides its id."""
        target = self.objects[object_id]
        if time_us > target.key[0]:
            return object_id
        best = min(
            (time_us, mint_id(event.tenant, ref.type, ns, value))
            for ns, value in ref.ids.items()
            if target.ids.get(ns) == value
        )
        if best < target.key:
            target.key = best
            if best[1] != object_id:
                return self._rekey(object_id, best[1])
        return object_id

    def _create(self, event: Event, otype: str, ids: dict[str, str], time_us: int) -> str:
        tenant = event.tenant
        object_id = min(mint_id(tenant, otype, ns, value) for ns, value in ids.items())
        self.parent.pop(object_id, None)  # an id that was merged away can come back only as itself
        obj = Obj(
            id=object_id,
            tenant=tenant,
            type=otype,
            level=self.level(otype),
            ids=ids,
            provenance=tuple((ns, intern(event.source), event.id, time_us) for ns in ids),
            key=(time_us, object_id),
            audited=False,
        )
        self.objects[object_id] = obj
        for ns, value in ids.items():
            self.identifiers[(intern(tenant), intern(otype), intern(ns), value)] = object_id
        if otype == JOURNEY_ROOT:
            obj.reach = (object_id,)
            self.journeys[object_id] = Journey(object_id, obj.tenant, {object_id})
            self.changes.journeys.add(object_id)
            self.changes.dead_journeys.pop(object_id, None)
        self.changes.objects.add(object_id)
        self.changes.dead_objects.pop(object_id, None)
        return object_id

    def _merge(self, keep: str, gone: str, event: Event, time_us: int) -> None:
        """Fold object `gone` into `keep` (same type, compatible identifiers, `keep` is earlier)."""
        x, y = self.objects[keep], self.objects.pop(gone)
        for ns, value in y.ids.items():
            x.ids[ns] = value
            self.identifiers[(x.tenant, x.type, ns, value)] = keep
        # y's link of each of its identifiers, x's of the others
        x.provenance = tuple({**{p[0]: p for p in x.provenance}, **{p[0]: p for p in y.provenance}}.values())
        x.key = min(x.key, y.key)
        for n, qualifier in y.neighbours.items():
            if n == keep:
                continue
            other = self.objects[n]
            other.neighbours.pop(gone, None)
            other.neighbours.setdefault(keep, qualifier)
            x.neighbours.setdefault(n, qualifier)
        x.neighbours.pop(gone, None)
        x.events.extend(y.events)
        x.conflicts += y.conflicts
        self.parent[gone] = keep
        self.changes.dead_objects[gone] = keep
        self.changes.objects.add(keep)
        x.audited = True
        self.changes.merges.append(
            {
                "tenant": x.tenant,
                "object_id": keep,
                "merged_id": gone,
                "type": x.type,
                "reason": "merge",
                "source": event.source,
                "event_id": event.id,
                "event_time_us": time_us,
                "detail": "",
            }
        )
        if x.type == JOURNEY_ROOT:
            self._merge_journeys(keep, gone)
        else:
            for j in y.reach:
                self.journeys[j].objects.discard(gone)
            self._gain(keep, {*y.reach, *x.reach}, force_events=True)
        for n in list(x.neighbours):
            if self._is_higher(n, keep):
                self._gain(n, x.reach)

    def _merge_journeys(self, keep: str, gone: str) -> None:
        jx, jy = self.journeys[keep], self.journeys.pop(gone)
        for o in jy.objects:
            if o == gone:
                continue
            obj = self.objects[o]
            obj.reach = reached(obj.reach, (keep,), less=gone)
            jx.objects.add(o)
            self.changes.objects.add(o)
        for seq in jy.events:
            self._add_member(keep, seq)
        self.objects[keep].reach = (keep,)
        self.changes.dead_journeys[gone] = keep
        self.changes.journeys.discard(gone)
        self.changes.journeys.add(keep)

    def _rekey(self, old: str, new: str) -> str:
        """Give object `old` the id `new` (an earlier sighting decided it); `old` becomes an alias."""
        obj = self.objects.pop(old)
        obj.id = new
        self.parent.pop(new, None)
        self.parent[old] = new
        self.objects[new] = obj
        for ns, value in obj.ids.items():
            self.identifiers[(obj.tenant, obj.type, ns, value)] = new
        for n in obj.neighbours:
            other = self.objects[n]
            other.neighbours[new] = other.neighbours.pop(old)
        self.changes.dead_objects[old] = new
        self.changes.dead_objects.pop(new, None)
        self.changes.objects.add(new)
        obj.audited = True
        self.changes.merges.append(
            {
                "tenant": obj.tenant,
                "object_id": new,
                "merged_id": old,
                "type": obj.type,
                "reason": "rekey",
                "source": "",
                "event_id": "",
                "event_time_us": obj.key[0],
                "detail": "an earlier sighting of another identifier decided the id",
            }
        )
        if obj.type == JOURNEY_ROOT:
            journey = self.journeys.pop(old)
            journey.id = new
            journey.objects.discard(old)
            journey.objects.add(new)
            self.journeys[new] = journey
            obj.reach = (new,)
            for o in journey.objects:
                if o != new:
                    member = self.objects[o]
                    member.reach = reached(member.reach, (new,), less=old)
                    self.changes.objects.add(o)
            self.changes.dead_journeys[old] = new
            self.changes.dead_journeys.pop(new, None)
            self.changes.journeys.discard(old)
            self.changes.journeys.add(new)
            self.changes.rekeyed_journeys.add(new)
        else:
            for j in obj.reach:
                objects = self.journeys[j].objects
                objects.discard(old)
                objects.add(new)
        return new

    def _conflict(self, a: str, b: str, event: Event, time_us: int) -> None:
        x, y = self.objects[a], self.objects[b]
        namespaces = clashes(x.ids, y.ids)
        record = {
            "kind": "identity_conflict",
            "object_type": x.type,
            "objects": [a, b],
            "namespaces": namespaces,
            "source": event.source,
            "event_id": event.id,
            "time_us": time_us,
            "reason": (
                f"event {event.source}/{event.id} names one {x.type} by identifiers that belong to two "
                f"{x.type}s with different identifiers in {', '.join(namespaces) or 'one namespace'}"
            ),
        }
        x.conflicts += (record,)
        y.conflicts += (record,)
        x.audited = True  # the record is under `a`; `b` shows it among its conflicts
        self.changes.merges.append(
            {
                "tenant": x.tenant,
                "object_id": a,
                "merged_id": b,
                "type": x.type,
                "reason": "conflict",
                "source": event.source,
                "event_id": event.id,
                "event_time_us": time_us,
                "detail": record["reason"],
            }
        )
        self.changes.journeys.update(x.reach, y.reach)
        self._relate(a, b, "identity_conflict", event, time_us)

    # --- relations and reach -----------------------------------------------------------------------

    def _is_higher(self, o: str, than: str) -> bool:
        a, b = self.objects[o].level, self.objects[than].level
        return a is not None and b is not None and a > b

    def _relate(self, a: str, b: str, qualifier: str, event: Event, time_us: int) -> None:
        if a == b:
            return
        x, y = self.objects[a], self.objects[b]
        if b in x.neighbours:
            return
        x.neighbours[b] = qualifier
        y.neighbours[a] = qualifier
        self.changes.relations.append((x.tenant, a, b, qualifier, event.source, event.id, time_us))
        self.changes.journeys.update(x.reach, y.reach)
        if x.level is None or y.level is None or x.level == y.level:
            return
        low, high = (a, b) if x.level < y.level else (b, a)
        self._gain(high, self.objects[low].reach)

    def _gain(self, start: str, journeys: Iterable[str], force_events: bool = False) -> None:
        """Journeys now reach `start`: bring its events into them and push them to higher neighbours."""
        stack: list[tuple[str, set[str]]] = [(start, set(journeys))]
        first = True
        while stack:
            o, incoming = stack.pop()
            obj = self.objects[o]
            if obj.type == JOURNEY_ROOT:
                continue
            new = incoming if (first and force_events) else incoming.difference(obj.reach)
            first = False
            if not new:
                continue
            obj.reach = reached(obj.reach, new)
            self.changes.objects.add(o)
            for j in new:
                self.journeys[j].objects.add(o)
                for seq in obj.events:
                    self._add_member(j, seq)
                self.changes.journeys.add(j)
            for n in obj.neighbours:
                if self._is_higher(n, o):
                    stack.append((n, new))

    def _add_member(self, journey: str, seq: int) -> None:
        j = self.journeys[journey]
        if not j.has(seq):
            j.add(seq)
            self.changes.members.append((journey, seq))
            self.changes.journeys.add(journey)

    # --- memory: cold journeys leave, and come back when an event names them ------------------------

    def evicted_identifiers(self, events: list[Event]) -> set[tuple[str, str, str, str]]:
        """(tenant, type, namespace, value) the events name that the graph does not hold and that
        may belong to an evicted journey (new identifiers, the common case, are left out)."""
        unknown = []
        for event in events:
            if event.type in OUTSIDE_JOURNEYS:
                continue
            for ref in event.objects:
                for ns, value in ref.ids.items():
                    key = (event.tenant, ref.type, ns, value)
                    if key not in self.identifiers:
                        unknown.append(key)
        if not unknown or not len(self.evicted):
            return set()
        maybe = self.evicted.candidates([identifier_hash(*key) for key in unknown])
        return {key for key, hit in zip(unknown, maybe, strict=True) if hit}

    def evict(self, candidates: set[str]) -> set[str]:
        """Forget the journeys among `candidates` whose every object only they reach; return those.

        Their rows are all written, so nothing is lost: an event that later names one of their
        identifiers brings them back by re-applying their events from the log (the engine does).
        """
        cold = {j for j in candidates if j in self.journeys}
        changed = True
        while changed:
            # A journey stays when one of its objects is shared with a journey that stays, or is
            # related to a business object that stays (an item not yet tied to its order, say):
            # forgetting the object would forget the relation that will carry a journey later.
            changed = False
            leaving = {o for j in cold for o in self.journeys[j].objects}
            for j in list(cold):
                for o in self.journeys[j].objects:
                    obj = self.objects.get(o)
                    if obj is not None and (
                        not cold.issuperset(obj.reach)
                        or any(n not in leaving and self.objects[n].level is not None for n in obj.neighbours)
                    ):
                        cold.discard(j)
                        changed = True
                        break
        gone_objects: set[str] = set()
        seqs: set[int] = set()
        evicted_keys: list[int] = []
        for j in cold:
            journey = self.journeys.pop(j)
            gone_objects |= journey.objects
            seqs.update(journey.events)
        for o in gone_objects:
            obj = self.objects.pop(o, None)
            if obj is None:
                continue
            for ns, value in obj.ids.items():
                self.identifiers.pop((obj.tenant, obj.type, ns, value), None)
                evicted_keys.append(identifier_hash(obj.tenant, obj.type, ns, value))
            for n in obj.neighbours:
                if n not in gone_objects and n in self.objects:
                    self.objects[n].neighbours.pop(o, None)
        for seq in seqs:
            record = self.records.get(seq)
            if record is not None and not any(self.find(x) in self.objects for x in record.lowest):
                del self.records[seq]
        self.evicted.add(evicted_keys)
        return cold

    def take_changes(self) -> Changes:
        changes, self.changes = self.changes, Changes()
        return changes
