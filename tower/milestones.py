"""The milestone catalogue of DESIGN.md: an order's expected path and where each milestone sits on it.

Stages are named by the milestone that reached them, without its domain (`in_transit` for
`shipment.in_transit`). `rank` orders the fulfilment path; milestones with no rank (invoiced, paid,
status_synced, exception) are recorded and shown but do not move the stage.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Milestone:
    type: str
    stage: str
    rank: int | None  # position on the fulfilment path; None: recorded, moves no stage
    per_shipment: bool  # tracked per shipment (an order is delivered when its last shipment is)
    terminal: str | None = None  # the status this milestone ends the journey with


CATALOGUE: tuple[Milestone, ...] = (
    Milestone("order.received", "received", 0, False),
    Milestone("order.accepted", "accepted", 1, False),
    Milestone("order.rejected", "rejected", None, False, terminal="rejected"),
    Milestone("inventory.allocated", "allocated", 2, False),
    Milestone("inventory.backordered", "backordered", None, False),
    Milestone("fulfillment.released", "released", 3, False),
    Milestone("fulfillment.picked", "picked", 4, False),
    Milestone("fulfillment.packed", "packed", 5, False),
    Milestone("shipment.manifested", "manifested", 6, True),
    Milestone("shipment.in_transit", "in_transit", 7, True),
    Milestone("shipment.out_for_delivery", "out_for_delivery", 8, True),
    Milestone("shipment.delivered", "delivered", 9, True),
    Milestone("shipment.exception", "exception", None, True),
    Milestone("order.status_synced", "status_synced", None, False),
    Milestone("order.invoiced", "invoiced", None, False),
    Milestone("order.paid", "paid", None, False),
    Milestone("order.cancelled", "cancelled", None, False, terminal="cancelled"),
)

BY_TYPE: dict[str, Milestone] = {m.type: m for m in CATALOGUE}
PATH: tuple[Milestone, ...] = tuple(sorted((m for m in CATALOGUE if m.rank is not None), key=lambda m: m.rank or 0))
STAGES: tuple[str, ...] = (*tuple(m.stage for m in PATH), "rejected", "cancelled")
STATUSES: tuple[str, ...] = ("open", "exception", "delivered", "cancelled", "rejected")

# Milestones whose absence is an anomaly once a later milestone on the path has been seen.
# The others (allocated, released, picked, packed, out_for_delivery) are often never reported by real systems.
REQUIRED: frozenset[str] = frozenset({"order.received", "order.accepted", "shipment.manifested"})

# Shipment milestones that mean a shipment has left the building, in order of preference.
DEPARTURE: tuple[str, ...] = ("shipment.in_transit", "shipment.manifested")

OUTSIDE_JOURNEYS: frozenset[str] = frozenset(
    {"inventory.snapshot", "sync.failed", "sync.retried", "sync.dead_lettered", "sync.acknowledged"}
)

# How long an open journey may wait in a stage before it counts as stuck, in hours (defaults; the
# SLO engine makes them configurable per channel and warehouse).
STUCK_AFTER_HOURS: dict[str, float] = {
    "received": 4,
    "accepted": 24,
    "allocated": 24,
    "released": 24,
    "picked": 12,
    "packed": 12,
    "manifested": 24,
    "in_transit": 120,
    "out_for_delivery": 24,
}
