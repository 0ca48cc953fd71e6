"""An `OcelLog` → canonical events, exactly as tests/support/ocel.py maps the order-management log.

One event per OCEL event, in log order: ``data.objects`` lists the event's objects in relationship
order, each once; ``data.relations`` is every object-to-object relation of the log between two of
them (``[i, j, qualifier]``, source to target — an empty list relates nothing); ``data.facts`` the
event's attributes plus ``activity`` (its OCEL type); ``data.dims.system`` is ``ocel``.

An object's identifiers are ``{namespace: OCEL object id}`` — unless the object carries attributes
named ``ids.<namespace>`` (as `journeys_to_ocel` writes them), which then are its identifiers.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterError, event
from adapters.ocel.mapping import OcelMapping
from adapters.ocel.model import OcelLog, OcelObject

IDS_PREFIX = "ids."


def identifiers(obj: OcelObject, namespace: str) -> dict[str, str]:
    ids = {
        attr.name[len(IDS_PREFIX) :]: str(attr.value)
        for attr in obj.attributes
        if attr.name.startswith(IDS_PREFIX) and len(attr.name) > len(IDS_PREFIX) and str(attr.value).strip()
    }
    return ids or {namespace: obj.id}


def to_canonical(log: OcelLog, mapping: OcelMapping | None = None, source: str = "ocel/log") -> list[dict[str, Any]]:
    mapping = mapping or OcelMapping()
    by_id = {obj.id: obj for obj in log.objects}
    canonical_objects: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    for position, ocel_event in enumerate(log.events):
        index: dict[str, int] = {}
        objects: list[dict[str, Any]] = []
        for rel in ocel_event.relationships:
            if rel.object_id in index:
                continue
            obj = by_id.get(rel.object_id)
            if obj is None:
                raise AdapterError(
                    f"event {ocel_event.id!r} (#{position + 1})",
                    f"names object {rel.object_id!r}, which the log's objects do not define",
                )
            ref = canonical_objects.get(obj.id)
            if ref is None:
                ref = {"type": mapping.object_type(obj.type), "ids": identifiers(obj, mapping.namespace)}
                canonical_objects[obj.id] = ref
            index[obj.id] = len(objects)
            objects.append({"type": ref["type"], "ids": dict(ref["ids"])})
        relations: list[list[Any]] = [
            [i, index[rel.object_id], rel.qualifier]
            for object_id, i in index.items()
            for rel in by_id[object_id].relationships
            if rel.object_id in index and index[rel.object_id] != i
        ]
        facts = dict(ocel_event.attributes)
        facts["activity"] = ocel_event.type
        events.append(
            event(
                ocel_event.id,
                source,
                mapping.event_type(ocel_event.type),
                ocel_event.time,
                objects,
                relations=relations,
                dims={"system": "ocel"},
                facts=facts,
            )
        )
    return events
