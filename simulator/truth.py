"""What really happened in a simulation: the yardstick the tower's journeys, detections and alerts are scored by."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tower.milestones import BY_TYPE


def _iso(at: datetime | None) -> str | None:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else None


@dataclass(slots=True)
class ShipmentTruth:
    tracking: str
    carrier: str
    warehouse: str
    lines: list[tuple[str, str, int]]
    manifested_at: datetime | None = None
    milestones: dict[str, datetime] = field(default_factory=dict)  # shipment.* type → first time
    never_scanned: bool = False
    exception: bool = False

    def stage_rank(self) -> tuple[int, str]:
        reached = [(BY_TYPE[t].rank or 0, BY_TYPE[t].stage) for t in self.milestones if BY_TYPE[t].rank is not None]
        return max(reached) if reached else (-1, "")


@dataclass(slots=True)
class OrderTruth:
    key: str  # the channel's own order number
    channel: str
    ids: dict[str, str]  # namespace → identifier, every system's name for it
    warehouse: str
    received_at: datetime
    promised_ship_date: str
    promised_delivery_date: str
    lines: list[tuple[str, str, int]]
    milestones: dict[str, datetime] = field(default_factory=dict)  # order-level type → first time
    shipments: list[ShipmentTruth] = field(default_factory=list)
    incidents: set[str] = field(default_factory=set)
    oversold: bool = False

    def at(self, etype: str) -> datetime | None:
        return self.milestones.get(etype)

    def stage(self) -> str:
        """The stage as DESIGN defines it and a correct tower computes it from what it was told: the
        furthest order-level milestone, or the least advanced shipment it knows of, whichever is
        further on the path; cancelled and rejected end it."""
        if "order.cancelled" in self.milestones:
            return "cancelled"
        if "order.rejected" in self.milestones and "order.accepted" not in self.milestones:
            return "rejected"
        order_rank = [(BY_TYPE[t].rank or 0, BY_TYPE[t].stage) for t in self.milestones if BY_TYPE[t].rank is not None]
        ranks = [s.stage_rank() for s in self.shipments if s.manifested_at]
        candidates = ([max(order_rank)] if order_rank else []) + ([min(ranks)] if ranks else [])
        return max(candidates)[1] if candidates else "unknown"

    def status(self) -> str:
        stage = self.stage()
        if stage in ("cancelled", "rejected", "delivered"):
            return stage
        for s in self.shipments:
            if "shipment.exception" in s.milestones and s.milestones["shipment.exception"] >= max(
                (at for t, at in s.milestones.items() if t != "shipment.exception"),
                default=s.milestones["shipment.exception"],
            ):
                return "exception"
        return "open"

    @property
    def delivered(self) -> bool:
        return self.stage() == "delivered"

    @property
    def cancelled(self) -> bool:
        return "order.cancelled" in self.milestones

    @property
    def split(self) -> bool:
        """Shipped in more than one parcel (as far as labels were printed)."""
        return sum(1 for s in self.shipments if s.manifested_at) > 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "channel": self.channel,
            "ids": self.ids,
            "warehouse": self.warehouse,
            "stage": self.stage(),
            "status": self.status(),
            "delivered": self.delivered,
            "cancelled": self.cancelled,
            "split": self.split,
            "oversold": self.oversold,
            "promised_ship_date": self.promised_ship_date,
            "promised_delivery_date": self.promised_delivery_date,
            "milestones": {t: _iso(at) for t, at in sorted(self.milestones.items(), key=lambda kv: kv[1])},
            "shipments": [
                {
                    "tracking": s.tracking,
                    "carrier": s.carrier,
                    "warehouse": s.warehouse,
                    "never_scanned": s.never_scanned,
                    "milestones": {t: _iso(at) for t, at in sorted(s.milestones.items(), key=lambda kv: kv[1])},
                }
                for s in self.shipments
            ],
            "incidents": sorted(self.incidents),
        }


@dataclass(slots=True)
class Incident:
    scenario: dict[str, Any]
    orders: set[str] = field(default_factory=set)
    shipments: set[str] = field(default_factory=set)
    messages: int = 0  # messages it added or changed (duplicates sent, malformed payloads…)
    events: int = 0  # canonical events those messages carry, where that is known
    details: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.scenario,
            "orders": sorted(self.orders),
            "shipments": sorted(self.shipments),
            "messages": self.messages,
            "events": self.events,
            "details": self.details,
        }


@dataclass(slots=True)
class Truth:
    start: datetime
    end: datetime
    seed: int
    orders: dict[str, OrderTruth] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)  # inventory ERP vs WMS, with open windows
    # at the end: warehouse → sku → on hand as the WMS ("wms") and the ERP ("erp") would report it
    stock: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    messages: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        by_stage: Counter[str] = Counter()
        by_channel: dict[str, Counter[str]] = {}
        for order in self.orders.values():
            stage = order.stage()
            by_stage[stage] += 1
            c = by_channel.setdefault(order.channel, Counter())
            c["orders"] += 1
            c["delivered"] += order.delivered
            c["cancelled"] += order.cancelled
            c["split"] += order.split
        return {
            "orders": len(self.orders),
            "by_stage": dict(sorted(by_stage.items())),
            "delivered": sum(o.delivered for o in self.orders.values()),
            "cancelled": sum(o.cancelled for o in self.orders.values()),
            "split": sum(o.split for o in self.orders.values()),
            "by_channel": {k: dict(v) for k, v in sorted(by_channel.items())},
            "messages": dict(sorted(self.messages.items())),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "seed": self.seed,
            "summary": self.summary(),
            "incidents": [i.as_dict() for i in self.incidents],
            "inventory_mismatches": self.mismatches,
            "inventory_at_end": self.stock,
            "orders": [o.as_dict() for o in self.orders.values()],
        }
