"""OCEL 2.0 fixtures turned into canonical events, and the journeys they should produce.

The order-management log (``shared/fixtures/ocel/flowvault``) is the one public object-centric
log whose shape matches a control tower's: orders split into items, items packed into packages
that mix several orders. This module reads it, maps it onto the canonical CloudEvents event of
DESIGN.md, and computes each order's journey twice — once from the raw log by the plain rule,
once from the canonical events by the DESIGN rule — so tests can hold the correlator to both.

Pure functions, no I/O beyond reading the fixture.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ACTIVITY_TYPES",
    "FIXTURES",
    "JOURNEY_LEVELS",
    "OBJECT_TYPES",
    "OCEL_ORDER_MANAGEMENT",
    "design_rule_journey_events",
    "expected_journey_events",
    "load_ocel",
    "ocel_to_canonical",
]

_REPO_ROOT = Path(__file__).resolve().parents[2]

FIXTURES: Path = Path(os.environ.get("TOWER_FIXTURES") or _REPO_ROOT.parent / "shared" / "fixtures")
"""Shared fixtures: ``$TOWER_FIXTURES``, else ``<repo>/../shared/fixtures``."""

OCEL_ORDER_MANAGEMENT: Path = FIXTURES / "ocel" / "flowvault" / "order-management.json.gz"

ACTIVITY_TYPES: Mapping[str, str] = {
    "place order": "order.received",
    "confirm order": "order.accepted",
    "item out of stock": "inventory.backordered",
    "reorder item": "inventory.reordered",
    "pick item": "fulfillment.picked",
    "create package": "fulfillment.packed",
    "send package": "shipment.in_transit",
    "failed delivery": "shipment.exception",
    "package delivered": "shipment.delivered",
    "pay order": "order.paid",
    "payment reminder": "order.payment_reminder",
}
"""OCEL activity → canonical event type."""

OBJECT_TYPES: Mapping[str, str] = {
    "orders": "order",
    "items": "order_line",
    "packages": "shipment",
    "products": "product",
    "customers": "customer",
    "employees": "employee",
}
"""OCEL object type → canonical object type."""

JOURNEY_LEVELS: Mapping[str, int] = {
    "order": 0,
    "order_line": 1,
    "fulfillment": 2,
    "shipment": 3,
    "load": 4,
    "invoice": 5,
}
"""DESIGN's default levels; every other type is a reference type and never a path."""

_NAMESPACE = "ocel"
_NOT_NAME_CHAR = re.compile(r"[^a-z0-9]")


def load_ocel(path: Path) -> dict[str, Any]:
    """Read an OCEL 2.0 JSON log, gzipped (``.gz``) or plain."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as stream:
            log = json.load(stream)
    else:
        with path.open("rb") as stream:
            log = json.load(stream)
    if not isinstance(log, dict) or "events" not in log or "objects" not in log:
        raise ValueError(f"{path}: not an OCEL 2.0 JSON log (expected an object with 'events' and 'objects')")
    return log


def _name(text: str) -> str:
    """``text`` lowercased with every character outside ``[a-z0-9]`` replaced by ``_``."""
    return _NOT_NAME_CHAR.sub("_", text.lower())


def _event_type(activity: str) -> str:
    return ACTIVITY_TYPES.get(activity) or f"ocel.{_name(activity)}"


def _object_type(ocel_type: str) -> str:
    return OBJECT_TYPES.get(ocel_type) or _name(ocel_type)


def _attributes(attributes: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None) -> dict[str, Any]:
    """OCEL attributes (a list of ``{name, value}``, or already a mapping) as ``{name: value}``."""
    if attributes is None:
        return {}
    if isinstance(attributes, Mapping):
        return dict(attributes)
    return {attribute["name"]: attribute["value"] for attribute in attributes}


def _o2o(log: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Object id → its object-to-object relations as ``(target id, qualifier)``, in log order."""
    return {
        obj["id"]: [(rel["objectId"], rel["qualifier"]) for rel in obj.get("relationships") or ()]
        for obj in log["objects"]
    }


def ocel_to_canonical(
    log: Mapping[str, Any],
    source: str = "ocel/order-management",
    tenant: str | None = None,
) -> list[dict[str, Any]]:
    """One canonical CloudEvents event per OCEL event, in log order.

    ``data.objects`` lists the event's objects in relationship order, each once (the first
    qualifier wins). ``data.relations`` carries every O2O relation of the log whose source and
    target are both on the event, as ``[i, j, qualifier]`` from source to target; an empty list
    deliberately relates nothing, so an event never relates objects the log does not.
    """
    object_types = {obj["id"]: obj["type"] for obj in log["objects"]}
    o2o = _o2o(log)
    events: list[dict[str, Any]] = []
    for ocel_event in log["events"]:
        index: dict[str, int] = {}
        objects: list[dict[str, Any]] = []
        for rel in ocel_event.get("relationships") or ():
            object_id = rel["objectId"]
            if object_id in index:
                continue
            if object_id not in object_types:
                raise ValueError(
                    f"OCEL event {ocel_event['id']!r} names object {object_id!r}, which the log's "
                    "'objects' does not define; fix the log or drop the relationship"
                )
            index[object_id] = len(objects)
            objects.append({"type": _object_type(object_types[object_id]), "ids": {_NAMESPACE: object_id}})
        relations: list[list[int | str]] = [
            [i, index[target], qualifier]
            for object_id, i in index.items()
            for target, qualifier in o2o.get(object_id, ())
            if target in index
        ]
        facts = _attributes(ocel_event.get("attributes"))
        facts["activity"] = ocel_event["type"]
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": ocel_event["id"],
            "source": source,
            "type": _event_type(ocel_event["type"]),
            "time": ocel_event["time"],
        }
        if tenant is not None:
            event["tenant"] = tenant
        event["data"] = {
            "objects": objects,
            "relations": relations,
            "dims": {"system": "ocel"},
            "facts": facts,
        }
        events.append(event)
    return events


def expected_journey_events(log: Mapping[str, Any]) -> dict[str, set[str]]:
    """Each order's journey by the plain rule, straight from the raw log.

    Keyed by every order's OCEL id: the ids of the events that touch the order, one of the items
    it ``comprises``, or a package that ``contains`` one of those items (O2O relations of the
    order and package objects).
    """
    orders = [obj for obj in log["objects"] if obj["type"] == "orders"]
    packages_of_item: dict[str, set[str]] = defaultdict(set)
    for obj in log["objects"]:
        if obj["type"] == "packages":
            for rel in obj.get("relationships") or ():
                if rel["qualifier"] == "contains":
                    packages_of_item[rel["objectId"]].add(obj["id"])

    orders_of_object: dict[str, set[str]] = defaultdict(set)
    for order in orders:
        orders_of_object[order["id"]].add(order["id"])
        for rel in order.get("relationships") or ():
            if rel["qualifier"] != "comprises":
                continue
            orders_of_object[rel["objectId"]].add(order["id"])
            for package in packages_of_item[rel["objectId"]]:
                orders_of_object[package].add(order["id"])

    journeys: dict[str, set[str]] = {order["id"]: set() for order in orders}
    for event in log["events"]:
        for rel in event.get("relationships") or ():
            for order_id in orders_of_object.get(rel["objectId"], ()):
                journeys[order_id].add(event["id"])
    return journeys


def design_rule_journey_events(
    events: list[dict[str, Any]],
    levels: Mapping[str, int] = JOURNEY_LEVELS,
) -> dict[str, set[str]]:
    """Each order's journey by DESIGN's rule, from canonical events alone: a reference oracle.

    Objects are the same when they share a type and any ``(namespace, id)``. Relations come from
    ``data.relations`` (every pair when it is absent) across all events, and are walked in either
    direction but only to a strictly higher level; reference types are never walked. An event
    belongs to every order that reaches one of its lowest-level leveled objects. Keyed by the
    order's ``ocel`` id (else its first id); every order named on any event is a key. Identifier
    conflicts (two ids in one namespace) are not modelled: the fixtures have none.
    """
    parent: dict[tuple[str, str, str], tuple[str, str, str]] = {}

    def find(key: tuple[str, str, str]) -> tuple[str, str, str]:
        root = parent.setdefault(key, key)
        while root != parent[root]:
            root = parent[root]
        while key != root:
            parent[key], key = root, parent[key]
        return root

    def node(obj: Mapping[str, Any]) -> tuple[str, str, str]:
        keys = [(obj["type"], namespace, value) for namespace, value in obj["ids"].items()]
        root = find(keys[0])
        for key in keys[1:]:
            other = find(key)
            if other != root:
                parent[other] = root
        return root

    for event in events:
        for obj in event["data"]["objects"]:
            node(obj)

    neighbours: dict[tuple[str, str, str], set[tuple[str, str, str]]] = defaultdict(set)
    order_names: dict[tuple[str, str, str], str] = {}
    event_nodes: list[tuple[str, list[tuple[str, str, str]]]] = []
    for event in events:
        objects = event["data"]["objects"]
        nodes = [find(node(obj)) for obj in objects]
        for obj, key in zip(objects, nodes, strict=True):
            if obj["type"] == "order":
                order_names.setdefault(key, obj["ids"].get(_NAMESPACE) or next(iter(obj["ids"].values())))
        relations = event["data"].get("relations")
        pairs: Iterable[tuple[int, int]] = (
            ((i, j) for i in range(len(nodes)) for j in range(i + 1, len(nodes)))
            if relations is None
            else ((int(rel[0]), int(rel[1])) for rel in relations)
        )
        for i, j in pairs:
            if nodes[i] != nodes[j]:
                neighbours[nodes[i]].add(nodes[j])
                neighbours[nodes[j]].add(nodes[i])
        leveled = [key for key in nodes if key[0] in levels]
        if leveled:
            lowest = min(levels[key[0]] for key in leveled)
            event_nodes.append((event["id"], [key for key in leveled if levels[key[0]] == lowest]))

    # Roots may have moved while later events merged identifiers: re-find everything once.
    order_names = {find(key): name for key, name in order_names.items()}
    graph: dict[tuple[str, str, str], set[tuple[str, str, str]]] = defaultdict(set)
    for key, adjacent in neighbours.items():
        graph[find(key)].update(find(other) for other in adjacent)

    orders_reaching: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for order, name in order_names.items():
        seen = {order}
        queue = deque([order])
        while queue:
            current = queue.popleft()
            orders_reaching[current].add(name)
            for other in graph[current]:
                if other not in seen and other[0] in levels and levels[other[0]] > levels[current[0]]:
                    seen.add(other)
                    queue.append(other)

    journeys: dict[str, set[str]] = {name: set() for name in order_names.values()}
    for event_id, lowest_nodes in event_nodes:
        for key in lowest_nodes:
            for name in orders_reaching.get(find(key), ()):
                journeys[name].add(event_id)
    return journeys
