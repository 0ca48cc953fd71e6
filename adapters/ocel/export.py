"""Journeys (as ``GET /v1/journeys/{id}`` returns them) → an OCEL 2.0 JSON log.

- Events are deduplicated across journeys by ``(source, id)``; an OCEL event's id is the event's id,
  or ``source/id`` when two sources used the same id. Its type is the canonical type; its scalar
  facts become attributes (values as strings, as the OCEL 2.0 JSON schema asks, with their types
  declared in ``eventTypes``; lists and objects as JSON text) and ``tower.source`` names the source.
- Objects are the journeys' objects (the OCEL id is Control Tower's object id), typed by their
  canonical type; each identifier is kept as an attribute ``ids.<namespace>``, which the ``ocel``
  adapter reads back as the object's identifiers.
- Object-to-object relationships are the journeys' relations plus every ``data.relations`` pair of
  an event (qualifier ``related`` when it has none). Event-to-object qualifiers are object types.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

EPOCH = "1970-01-01T00:00:00Z"
RELATED = "related"


def _ocel_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _synthetic_id(otype: str, ids: dict[str, str]) -> str:
    namespace = sorted(ids)[0] if ids else ""
    return f"{otype}:{namespace}:{ids.get(namespace, '')}"


class _Objects:
    """OCEL objects by id, found again by any (type, namespace, identifier) they are known by."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_key: dict[tuple[str, str, str], str] = {}
        self.o2o: dict[str, dict[tuple[str, str], None]] = {}

    def add(self, otype: str, ids: dict[str, str], object_id: str | None = None) -> str:
        found = next((self.by_key[(otype, ns, v)] for ns, v in ids.items() if (otype, ns, v) in self.by_key), None)
        oid = object_id or found or _synthetic_id(otype, ids)
        entry = self.by_id.setdefault(oid, {"type": otype, "ids": {}})
        for ns, value in ids.items():
            entry["ids"].setdefault(ns, value)
            self.by_key.setdefault((otype, ns, value), oid)
        return oid

    def relate(self, a: str, b: str, qualifier: str) -> None:
        if a != b:
            self.o2o.setdefault(a, {})[(b, qualifier)] = None


def journeys_to_ocel(journeys: list[dict[str, Any]]) -> dict[str, Any]:
    objects = _Objects()
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for journey in journeys:
        journey_ids: dict[str, str] = {}
        for obj in journey.get("objects") or ():
            ids = {str(k): str(v) for k, v in (obj.get("ids") or {}).items()}
            oid = objects.add(str(obj.get("type") or "object"), ids, str(obj["id"]) if obj.get("id") else None)
            if obj.get("id"):
                journey_ids[str(obj["id"])] = oid
        for rel in journey.get("relations") or ():
            a, b = journey_ids.get(str(rel.get("a"))), journey_ids.get(str(rel.get("b")))
            if a and b:
                objects.relate(a, b, str(rel.get("qualifier") or RELATED))
        for ev in journey.get("events") or ():
            key = (str(ev.get("source") or ""), str(ev["id"]))
            if key in seen:
                continue
            data = ev.get("data") or {}
            oids = [
                objects.add(str(o.get("type") or "object"), {str(k): str(v) for k, v in (o.get("ids") or {}).items()})
                for o in data.get("objects") or ()
            ]
            for rel in data.get("relations") or ():
                if len(rel) >= 2 and 0 <= rel[0] < len(oids) and 0 <= rel[1] < len(oids):
                    qualifier = rel[2] if len(rel) > 2 and rel[2] else RELATED
                    objects.relate(oids[rel[0]], oids[rel[1]], str(qualifier))
            seen[key] = {"event": ev, "objects": oids}

    id_counts = Counter(event_id for _, event_id in seen)
    event_types: dict[str, dict[str, str]] = {}
    events: list[dict[str, Any]] = []
    for (source, event_id), entry in seen.items():
        ev = entry["event"]
        etype = str(ev.get("type") or "event")
        facts = dict((ev.get("data") or {}).get("facts") or {})
        if source:
            facts["tower.source"] = source
        declared = event_types.setdefault(etype, {})
        attributes = []
        for name, value in facts.items():
            if value is None:
                continue
            kind = _ocel_type(value)
            if declared.setdefault(name, kind) != kind:
                declared[name] = "string"
            attributes.append({"name": name, "value": _text(value)})
        relationships: list[dict[str, str]] = []
        for oid in dict.fromkeys(entry["objects"]):
            relationships.append({"objectId": oid, "qualifier": objects.by_id[oid]["type"]})
        events.append(
            {
                "id": event_id if id_counts[event_id] == 1 else f"{source}/{event_id}",
                "type": etype,
                "time": str(ev.get("time")),
                "attributes": attributes,
                "relationships": relationships,
            }
        )
    events.sort(key=lambda e: e["time"])

    object_types: dict[str, dict[str, str]] = {}
    ocel_objects = []
    for oid, entry in objects.by_id.items():
        declared = object_types.setdefault(entry["type"], {})
        for ns in entry["ids"]:
            declared[f"ids.{ns}"] = "string"
        ocel_objects.append(
            {
                "id": oid,
                "type": entry["type"],
                "attributes": [{"name": f"ids.{ns}", "value": v, "time": EPOCH} for ns, v in entry["ids"].items()],
                "relationships": [{"objectId": b, "qualifier": q} for b, q in objects.o2o.get(oid, {})],
            }
        )
    return {
        "objectTypes": [
            {"name": name, "attributes": [{"name": a, "type": t} for a, t in attrs.items()]}
            for name, attrs in object_types.items()
        ],
        "eventTypes": [
            {"name": name, "attributes": [{"name": a, "type": t} for a, t in attrs.items()]}
            for name, attrs in event_types.items()
        ],
        "objects": ocel_objects,
        "events": events,
    }
