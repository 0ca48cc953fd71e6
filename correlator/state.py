"""A journey's state from its events: stage, milestones per shipment, durations and anomalies.

A pure function of the set of events in the journey (sorted by event time, then source and id),
so the same events give the same state whatever order they arrived in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from correlator.model import EventRecord, Obj
from tower.milestones import BY_TYPE, DEPARTURE, PATH, REQUIRED

RANK_STAGE = {m.rank: m.stage for m in PATH}
EVENT_ORDER = attrgetter("time_us", "source", "id")  # a journey's events: by event time, then source and id
RANK: dict[str, int] = {m.type: m.rank for m in PATH if m.rank is not None}
# Milestones a system rightly reports more than once: a parcel scanned in transit at every hub,
# delivery re-attempted, exceptions and status syncs as they come.
DUPLICATE_EXEMPT = frozenset(
    {"shipment.in_transit", "shipment.out_for_delivery", "shipment.exception", "order.status_synced"}
)


def iso(time_us: int | None) -> str | None:
    if time_us is None:
        return None
    return datetime.fromtimestamp(time_us / 1_000_000, UTC).isoformat().replace("+00:00", "Z")


def promised_us(value: Any) -> int | None:
    """A promised date (RFC 3339 date or date-time) → µs; a bare date means the end of that day, UTC."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return int((day + timedelta(days=1)).timestamp() * 1_000_000) - 1
        text = value[:-1] + "+00:00" if value[-1] in "zZ" else value
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1_000_000)
    except ValueError:
        return None


def journey_state(
    journey_id: str,
    records: Iterable[EventRecord],
    objects: dict[str, Obj],
    find: Callable[[str], str],
) -> dict[str, Any]:
    events = sorted(records, key=EVENT_ORDER)
    members = set(objects)
    # (type, scope) → [first µs, last µs, count, source, event id]
    seen: dict[tuple[str, str], list[Any]] = {}
    first_of: dict[str, int] = {}
    last_of: dict[str, int] = {}
    dims: dict[str, str] = {}
    promised: dict[str, int] = {}
    for r in events:
        for name, value in r.dims.items():
            dims.setdefault(name, value)
        if r.type in ("order.received", "order.accepted"):
            for fact in ("promised_ship_date", "promised_delivery_date"):
                if fact not in promised:
                    when = promised_us(r.facts.get(fact))
                    if when is not None:
                        promised[fact] = when
        milestone = BY_TYPE.get(r.type)
        if milestone is None:
            continue
        first_of.setdefault(r.type, r.time_us)
        last_of[r.type] = r.time_us
        if milestone.per_shipment:
            scopes = [s for s in (find(x) for x in r.shipments) if s in members] or [""]
        else:
            scopes = [s for s in (find(x) for x in r.lowest) if s in members] or [journey_id]
        for scope in dict.fromkeys(scopes):
            entry = seen.get((r.type, scope))
            if entry is None:
                seen[(r.type, scope)] = [r.time_us, r.time_us, 1, r.source, r.id, {r.source: 1}]
            else:
                entry[1] = r.time_us
                entry[2] += 1
                entry[5][r.source] = entry[5].get(r.source, 0) + 1

    # Stage: furthest order-level milestone, and for shipments the least advanced shipment.
    order_rank = max((RANK[t] for t in first_of if t in RANK and not BY_TYPE[t].per_shipment), default=None)
    per_shipment: dict[str, dict[str, int]] = {}
    for (mtype, scope), entry in seen.items():
        if BY_TYPE[mtype].per_shipment:
            per_shipment.setdefault(scope, {})[mtype] = entry[0]
    shipment_ranks = {
        scope: max((RANK[t] for t in ms if t in RANK), default=None) for scope, ms in per_shipment.items()
    }
    ranked = [r for r in shipment_ranks.values() if r is not None]
    ship_rank = min(ranked) if ranked else None
    rank = max((x for x in (order_rank, ship_rank) if x is not None), default=None)
    stage = RANK_STAGE[rank] if rank is not None else "unknown"
    stage_at = None
    if rank is not None:
        stage_type = next(m.type for m in PATH if m.rank == rank)
        if BY_TYPE[stage_type].per_shipment and ship_rank == rank:
            stage_at = max(ms[stage_type] for ms in per_shipment.values() if stage_type in ms)
        else:
            stage_at = first_of.get(stage_type)

    status = "open"
    if "order.cancelled" in first_of:
        status, stage, stage_at = "cancelled", "cancelled", first_of["order.cancelled"]
    elif "order.rejected" in first_of and "order.accepted" not in first_of:
        status, stage, stage_at = "rejected", "rejected", first_of["order.rejected"]
    elif stage == "delivered":
        status = "delivered"
    elif any(
        ms["shipment.exception"] >= max((v for k, v in ms.items() if k != "shipment.exception"), default=0)
        for ms in per_shipment.values()
        if "shipment.exception" in ms
    ):
        status = "exception"  # a shipment's latest word is an exception

    received_at = first_of.get("order.received")
    departed_at = next((first_of[t] for t in DEPARTURE if t in first_of), None)
    delivered_at = last_of.get("shipment.delivered") if status == "delivered" else None
    # A later stage reported before an earlier one has no duration to tell: the out_of_sequence
    # anomaly names the pair and both times, a negative number would read as a measurement.
    durations: dict[str, float] = {}
    reached = [m for m in PATH if m.type in first_of]
    spans = [(f"{a.stage}->{b.stage}", first_of[a.type], first_of[b.type]) for a, b in itertools.pairwise(reached)]
    if received_at is not None and departed_at is not None:
        spans.append(("internal_cycle", received_at, departed_at))
    if received_at is not None and delivered_at is not None:
        spans.append(("cycle", received_at, delivered_at))
    for name, start, end in spans:
        if end >= start:
            durations[name] = (end - start) / 1e6
    on_time_ship = on_time_delivery = None
    if "promised_ship_date" in promised and departed_at is not None:
        on_time_ship = departed_at <= promised["promised_ship_date"]
    if "promised_delivery_date" in promised and delivered_at is not None:
        on_time_delivery = delivered_at <= promised["promised_delivery_date"]

    anomalies = _anomalies(seen, first_of, per_shipment, objects)
    milestones = [
        {
            "type": mtype,
            "stage": BY_TYPE[mtype].stage,
            "scope": scope or None,
            "first": entry[0],  # µs; the query API formats times, the hot path does not
            "last": entry[1],
            "count": entry[2],
            "source": entry[3],
            "event_id": entry[4],
        }
        for (mtype, scope), entry in sorted(seen.items(), key=lambda kv: (kv[1][0], kv[0]))
    ]
    shipments = [
        {
            "id": scope or None,
            "stage": RANK_STAGE.get(shipment_ranks[scope]) if shipment_ranks[scope] is not None else None,
            "milestones": dict(sorted(ms.items(), key=lambda kv: kv[1])),
        }
        for scope, ms in sorted(per_shipment.items())
    ]
    return {
        "id": journey_id,
        "stage": stage,
        "stage_at": stage_at,
        "status": status,
        "started_at": events[0].time_us if events else None,
        "last_event_at": events[-1].time_us if events else None,
        "received_at": received_at,
        "departed_at": departed_at,
        "delivered_at": delivered_at,
        "dims": dims,
        "promised": {k: iso(v) for k, v in promised.items()},
        "on_time_ship": on_time_ship,
        "on_time_delivery": on_time_delivery,
        "milestones": milestones,
        "shipments": shipments,
        "durations": durations,
        "anomalies": anomalies,
        "event_count": len(events),
    }


def _anomalies(
    seen: dict[tuple[str, str], list[Any]],
    first_of: dict[str, int],
    per_shipment: dict[str, dict[str, int]],
    objects: dict[str, Obj],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Only a milestone seen more than once can have been said twice by one system.
    repeated = [kv for kv in seen.items() if kv[1][2] > 1 and kv[0][0] not in DUPLICATE_EXEMPT]
    for (mtype, scope), entry in sorted(repeated, key=lambda kv: kv[0]):
        # Several systems confirming one milestone (the ERP's acceptance and the 855 that tells the
        # partner, a label and the carrier's pre-transit scan) is how the traffic is meant to look; one
        # system saying it twice (a resend under a new id, a double-processed message) is the anomaly.
        for source, count in sorted(entry[5].items()):
            if count > 1:
                out.append(
                    {
                        "kind": "duplicate_milestone",
                        "milestone": mtype,
                        "scope": scope or None,
                        "source": source,
                        "count": count,
                        "reason": f"{mtype} reported {count} times by {source} for {scope or 'this journey'}",
                    }
                )
    # Out of sequence: along the path, a later milestone that happened before an earlier one.
    order_level = {t: v for t, v in first_of.items() if BY_TYPE[t].rank is not None and not BY_TYPE[t].per_shipment}
    chains: list[tuple[str | None, dict[str, int]]] = [(None, order_level)]
    for shipment, ms in sorted(per_shipment.items()):
        chains.append((shipment or None, {**order_level, **{t: v for t, v in ms.items() if t in RANK}}))
    flagged: set[tuple[str | None, str]] = set()
    for chain_scope, chain in chains:
        ordered = sorted(chain, key=lambda t: BY_TYPE[t].rank or 0)
        if all(chain[a] <= chain[b] for a, b in itertools.pairwise(ordered)):
            continue  # in path order all along (the usual journey): no pair to compare
        for i, earlier in enumerate(ordered):
            for later in ordered[i + 1 :]:
                if chain[later] < chain[earlier] and (chain_scope, later) not in flagged:
                    if chain_scope is not None and not BY_TYPE[later].per_shipment:
                        continue  # order-level pairs are checked once, in the order's own chain
                    flagged.add((chain_scope, later))
                    out.append(
                        {
                            "kind": "out_of_sequence",
                            "milestone": later,
                            "before": earlier,
                            "scope": chain_scope,
                            "at": iso(chain[later]),
                            "reason": f"{later} at {iso(chain[later])} came before {earlier} at {iso(chain[earlier])}",
                        }
                    )
    # Missing predecessor: a required milestone earlier on the path never reported.
    present_ranks = [BY_TYPE[t].rank for t in first_of if BY_TYPE[t].rank is not None]
    top = max(present_ranks) if present_ranks else None  # type: ignore[type-var]
    if top is not None:
        for required in sorted(REQUIRED, key=lambda t: BY_TYPE[t].rank or 0):
            rank = BY_TYPE[required].rank
            if rank is not None and rank < top and required not in first_of:
                later = next(m.type for m in PATH if m.type in first_of and (m.rank or 0) > rank)
                out.append(
                    {
                        "kind": "missing_predecessor",
                        "milestone": later,
                        "missing": required,
                        "reason": f"{later} was reported but {required} never was",
                    }
                )
    conflicts: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects.values():
        for c in obj.conflicts:
            conflicts[(c["source"], c["event_id"])] = c
    for (_, _), c in sorted(conflicts.items()):
        out.append({k: v for k, v in c.items() if k != "time_us"} | {"at": iso(c["time_us"])})
    return out
