"""How OCEL activities and object types become canonical event and object types.

The defaults are the order-management mapping of ``tests/support/ocel.py``. A TOML document adds to
or overrides them (sent as the ``mapping`` query parameter, which reaches the adapter as the
``x-tower-param-mapping`` header)::

    namespace = "ocel"          # optional: the identifier namespace of OCEL object ids
    replace_defaults = false    # optional: true drops the built-in tables below

    [activities]                # OCEL event type → canonical event type (domain.action)
    "Create Purchase Order" = "order.received"

    [object_types]              # OCEL object type → canonical object type (lowercase)
    "Purchase Order" = "order"

An activity nobody mapped becomes ``ocel.<snake_case>`` — unless it already is a ``domain.action``
name (as in logs written by ``journeys_to_ocel``), which is kept; an object type nobody mapped
becomes its snake-cased name, a context type until it is given a level.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.base import AdapterError

DEFAULT_ACTIVITIES: dict[str, str] = {
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

DEFAULT_OBJECT_TYPES: dict[str, str] = {
    "orders": "order",
    "items": "order_line",
    "packages": "shipment",
    "products": "product",
    "customers": "customer",
    "employees": "employee",
}

TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
OBJECT_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")
_NOT_NAME_CHAR = re.compile(r"[^a-z0-9]")


def snake(text: str) -> str:
    """Lowercase, every character outside ``[a-z0-9]`` → ``_`` (as tests/support/ocel.py); a name
    that would not start with a letter gets an ``x`` in front."""
    name = _NOT_NAME_CHAR.sub("_", text.lower())
    return name if name[:1].isalpha() else f"x{name}"


@dataclass(frozen=True, slots=True)
class OcelMapping:
    activities: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIVITIES))
    object_types: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_OBJECT_TYPES))
    namespace: str = "ocel"

    def event_type(self, activity: str) -> str:
        mapped = self.activities.get(activity)
        if mapped:
            return mapped
        if TYPE_NAME.match(activity):
            return activity
        return f"ocel.{snake(activity)}"

    def object_type(self, ocel_type: str) -> str:
        return self.object_types.get(ocel_type) or snake(ocel_type)

    @classmethod
    def from_toml(cls, text: str) -> OcelMapping:
        """The defaults with `text`'s tables laid over them; errors name the key (``mapping.…``)."""
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AdapterError("mapping", f"is not valid TOML: {exc}") from None
        unknown = sorted(set(document) - {"activities", "object_types", "namespace", "replace_defaults"})
        if unknown:
            raise AdapterError(f"mapping.{unknown[0]}", "is not a mapping key (activities, object_types, namespace)")
        replace = document.get("replace_defaults", False)
        if not isinstance(replace, bool):
            raise AdapterError("mapping.replace_defaults", "must be true or false")
        activities = {} if replace else dict(DEFAULT_ACTIVITIES)
        activities.update(_table(document, "activities", TYPE_NAME, "a lowercase domain.action event type"))
        object_types = {} if replace else dict(DEFAULT_OBJECT_TYPES)
        object_types.update(_table(document, "object_types", OBJECT_TYPE, "a lowercase object type such as order"))
        namespace = document.get("namespace", "ocel")
        if not isinstance(namespace, str) or not namespace.strip():
            raise AdapterError("mapping.namespace", "must be a non-blank string")
        return cls(activities=activities, object_types=object_types, namespace=namespace.strip())


def _table(document: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str) -> dict[str, str]:
    table = document.get(key, {})
    if not isinstance(table, dict):
        raise AdapterError(f"mapping.{key}", "must be a table")
    out: dict[str, str] = {}
    for name, value in table.items():
        if not isinstance(value, str) or not pattern.match(value):
            raise AdapterError(f"mapping.{key}.{name}", f"{value!r} is not {what}")
        out[name] = value
    return out
