"""How well a tower agrees with a simulation's ground truth: its journeys, its alerts per fault scenario,
and its detections (stuck orders, shipments missing tracking, inventory mismatches)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from simulator.engine import CONFIRMATION_IMPORT
from simulator.truth import Truth
from slo.detections import SCAN_TYPES, Calendars
from tower.milestones import BY_TYPE, PATH
from tower.settings import load_settings


def _total(client: httpx.Client, **params: str) -> int:
    response = client.get("/v1/journeys", params={**params, "limit": "1"})
    response.raise_for_status()
    return int(response.json()["total"])


def score(client: httpx.Client, truth: Truth, sample: int = 200, seed: int = 0) -> dict[str, Any]:
    """Counts per channel and stage and per channel and status, from the tower's search API, against
    the truth; and a sample of orders looked up by their channel number and compared one by one."""
    expected_stage: Counter[tuple[str, str]] = Counter()
    expected_status: Counter[tuple[str, str]] = Counter()
    for order in truth.orders.values():
        expected_stage[(order.channel, order.stage())] += 1
        expected_status[(order.channel, order.status())] += 1
    stages = sorted({stage for _, stage in expected_stage} | {"received", "delivered", "cancelled"})
    channels = sorted({channel for channel, _ in expected_stage})
    by_stage = {}
    for channel in channels:
        for stage in stages:
            got = _total(client, channel=channel, stage=stage)
            want = expected_stage[(channel, stage)]
            if got or want:
                by_stage[f"{channel}/{stage}"] = {"tower": got, "truth": want}
    by_status = {}
    for channel in channels:
        for status in ("open", "exception", "delivered", "cancelled"):
            got = _total(client, channel=channel, status=status)
            want = expected_status[(channel, status)]
            if got or want:
                by_status[f"{channel}/{status}"] = {"tower": got, "truth": want}
    journeys = _total(client)

    rng = random.Random(seed)
    keys = sorted(truth.orders)
    picked = rng.sample(keys, min(sample, len(keys)))
    disagreements: list[dict[str, Any]] = []
    for key in picked:
        order = truth.orders[key]
        matches = client.get("/v1/lookup", params={"q": key}).json()["matches"]
        journey_ids = sorted({j for m in matches if m["object"]["type"] == "order" for j in m["journeys"]})
        if len(journey_ids) != 1:
            disagreements.append({"order": key, "problem": f"{len(journey_ids)} journeys", "journeys": journey_ids})
            continue
        journey = client.get(f"/v1/journeys/{journey_ids[0]}").json()
        shipments = {o["id"] for o in journey.get("objects", []) if o.get("type") == "shipment"}
        tracking_known = {s.tracking for s in order.shipments if s.manifested_at}
        ids = {v for o in journey.get("objects", []) if o.get("type") == "shipment" for v in o.get("ids", {}).values()}
        problems = []
        if journey["stage"] != order.stage():
            problems.append(f"stage {journey['stage']} != {order.stage()}")
        if journey.get("status") and journey["status"] != order.status():
            problems.append(f"status {journey['status']} != {order.status()}")
        if not tracking_known <= ids:
            problems.append(f"parcels {sorted(tracking_known - ids)} not in the journey")
        if len(shipments) != len(tracking_known):
            problems.append(f"{len(shipments)} shipments != {len(tracking_known)} parcels")
        if problems:
            disagreements.append({"order": key, "journey": journey_ids[0], "problems": problems})
    counts_agree = sum(v["tower"] == v["truth"] for v in by_stage.values()) + sum(
        v["tower"] == v["truth"] for v in by_status.values()
    )
    return {
        "orders": len(truth.orders),
        "journeys": journeys,
        "by_stage": by_stage,
        "by_status": by_status,
        "counts_agreeing": f"{counts_agree}/{len(by_stage) + len(by_status)}",
        "sampled": len(picked),
        "sample_agreement": 1 - len(disagreements) / max(len(picked), 1),
        "disagreements": disagreements[:25],
    }


# --- the scorecard: alerts per fault scenario, detections against the ground truth -------------
#
# Which alert is the right one for each scenario, and why (what a distributor's operations team
# would want to be woken for, and what only needs a look in working hours):
#
# - carrier-outage: the carrier's tracking API fails every poll → page, integration-errors for
#   that carrier's system (`carrier/ups`). Parcels keep leaving; nobody hears where they are.
# - erp-maintenance: orders are not accepted → page, order-acceptance over all traffic.
# - wms-delay: the import carrying a warehouse's confirmations to the ERP fails → page,
#   integration-errors for that flow (`flow=wms/dc-west:fulfillment.confirmations`): the flow that
#   broke, on its own budget. The warehouse's system slice pages too, later: its stock reports keep
#   succeeding and dilute the failures. A latency SLO on the warehouse's own stages cannot see it
#   in minutes: release → pick has a tail of hours (shifts, waves), so its threshold is hours and it
#   burns only once orders are hours late.
# - stale-inventory: the ERP's stock feed of one warehouse stops → page, inventory-freshness for
#   that stream (`erp/netsuite@dc-east`): purchasing and allocation work on wrong numbers.
# - rate-limit: half the ERP's calls are refused with 429 → page, integration-errors for the ERP:
#   retries get the work through, but the ERP's throughput is halved and acceptance slips.
# - status-lag: tracking reaches the ERP hours late → page, tracking-propagation over all traffic.
# - missing-tracking: parcels never scanned → ticket, ShipmentsMissingTracking for the carrier,
#   once the parcels pass their scan deadline (cut-off plus grace): nothing is late before that.
#   It stays firing while those parcels stay unscanned: the incident is over, its parcels are not.
# - duplicate-orders: resent messages are deduplicated at intake ((source, id) is the idempotency
#   key) and change nothing downstream → no alert; a page would wake someone for a non-event.
# - malformed: broken payloads are refused to their sender (4xx) and kept in dead letters to
#   replay; the sender resends them fixed → no alert; the dead-letter list is where it shows.

NO_ALERT = {
    "duplicate-orders": "deduplicated at intake; changes nothing downstream",
    "malformed": "refused to the sender and kept in dead letters; resent fixed",
}
STALE_FEED_SYSTEM = "erp/netsuite"  # the simulated ERP's source, which names its snapshot stream


@dataclass(frozen=True, slots=True)
class Expected:
    alertname: str
    severity: str
    slo: str | None
    labels: dict[str, str]  # the slice; {} is all traffic
    observable: datetime  # the earliest instant the SLI can tell: start, plus a threshold where it has one
    carriers: frozenset[str] = frozenset()  # ShipmentsMissingTracking: any of these carriers

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.labels.items()) or "all traffic"
        if self.carriers:
            where = "carrier in " + "/".join(sorted(self.carriers))
        what = self.slo or self.alertname
        return f"{self.severity} {what} ({where})"

    def matches(self, alert: dict[str, Any]) -> bool:
        labels = alert["labels"]
        if labels.get("alertname") != self.alertname or alert["severity"] != self.severity:
            return False
        if self.slo is not None and labels.get("slo") != self.slo:
            return False
        if self.carriers:
            return labels.get("carrier") in self.carriers
        return {k: v for k, v in labels.items() if k not in ("alertname", "slo", "severity")} == self.labels


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def expected_alert(
    incident: dict[str, Any], truth: dict[str, Any], thresholds: dict[str, int], calendars: Calendars
) -> Expected | None:
    """The alert a scenario should raise, or None where none should (NO_ALERT says why)."""
    kind, target = incident["scenario"], incident.get("target")
    start = _at(incident["start"])
    assert start is not None

    def after(slo: str) -> datetime:
        return start + timedelta(seconds=thresholds.get(slo, 0))

    if kind == "carrier-outage":
        return Expected("SLOBurnRate", "page", "integration-errors", {"system": f"carrier/{target}"}, start)
    if kind == "erp-maintenance":
        return Expected("SLOBurnRate", "page", "order-acceptance", {}, after("order-acceptance"))
    if kind == "wms-delay":
        flow = f"wms/{target}:{CONFIRMATION_IMPORT}"
        return Expected("SLOBurnRate", "page", "integration-errors", {"flow": flow}, start)
    if kind == "stale-inventory":
        stream = f"{STALE_FEED_SYSTEM}@{target}"
        # the feed repeats its last picture: stale once that picture is older than the threshold
        frozen = min((t for d in incident.get("details", []) if (t := _at(d.get("frozen_as_of")))), default=start)
        threshold = timedelta(seconds=thresholds.get("inventory-freshness", 0))
        return Expected("SLOBurnRate", "page", "inventory-freshness", {"stream": stream}, frozen + threshold)
    if kind == "rate-limit":
        return Expected("SLOBurnRate", "page", "integration-errors", {"system": "erp"}, start)
    if kind == "status-lag":
        affected = set(incident.get("shipments", []))
        scans = [
            t
            for o in truth["orders"]
            for s in o["shipments"]
            if s["tracking"] in affected and (t := _at(s["milestones"].get("shipment.in_transit"))) and t >= start
        ]
        first = min(scans, default=start)
        return Expected(
            "SLOBurnRate",
            "page",
            "tracking-propagation",
            {},
            first + timedelta(seconds=thresholds.get("tracking-propagation", 0)),
        )
    if kind == "missing-tracking":
        lost = [
            (s["carrier"], _at(s["milestones"].get("shipment.manifested")))
            for o in truth["orders"]
            for s in o["shipments"]
            if s["never_scanned"] and s["milestones"].get("shipment.manifested")
        ]
        deadlines = [calendars.scan_deadline(c, m) for c, m in lost if m is not None]
        return Expected(
            "ShipmentsMissingTracking",
            "ticket",
            None,
            {},
            min(deadlines, default=start),
            frozenset(c for c, _ in lost),
        )
    return None


def score_alerts(
    alerts: list[dict[str, Any]],
    truth: dict[str, Any],
    thresholds: dict[str, int],
    calendars: Calendars,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Per incident: the expected alert, when it fired (from the start and from when it was
    observable), whether it resolved after the incident's end, and what else paged meanwhile; and
    the pages no incident explains."""
    rows = []
    windows = []
    for incident in truth["incidents"]:
        start, end = _at(incident["start"]), _at(incident["end"])
        assert start is not None and end is not None
        windows.append((start, end))
        expected = expected_alert(incident, truth, thresholds, calendars)
        pages = sorted(
            {
                _alert_name(a)
                for a in alerts
                if a["severity"] == "page" and start <= (_at(a["starts_at"]) or start) <= end + timedelta(hours=1)
            }
        )
        row: dict[str, Any] = {
            "scenario": incident["scenario"],
            "ongoing": at is not None and end > at,  # still on when the tower was scored: nothing to resolve yet
            "target": incident.get("target"),
            "start": incident["start"],
            "end": incident["end"],
            "expected": expected.describe() if expected else f"no alert: {NO_ALERT.get(incident['scenario'], '')}",
            "pages_in_window": pages,  # pages that started inside it (or in the hour after)
        }
        if expected is not None:
            # an alert can only fire once its SLI can tell: a parcel is not missing before its deadline
            until = max(end, expected.observable) + RESOLVE_GRACE
            found = sorted(
                (a for a in alerts if expected.matches(a) and start <= (_at(a["starts_at"]) or start) <= until),
                key=lambda a: a.get("fired_at") or a["starts_at"],
            )
            first = found[0] if found else None
            fired = _at(first.get("fired_at") or first["starts_at"]) if first else None
            ends = [_at(a.get("ends_at")) for a in found]
            active = [a for a in found if a["state"] != "resolved"]
            last_end = max((e for e in ends if e is not None), default=None)
            row |= {
                "fired_at": first and (first.get("fired_at") or first["starts_at"]),
                "minutes_from_start": _minutes(fired, start),
                "observable_at": expected.observable.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "minutes_from_observable": _minutes(fired, expected.observable),
                "episodes": len(found),  # more than one: it resolved and fired again during the incident
                "state": ("firing" if active else "resolved") if found else None,
                "resolved_at": None if active or last_end is None else last_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "resolved_after_end": bool(found and not active and last_end and last_end >= end),
            }
        rows.append(row)
    unexplained = [
        {"alert": _alert_name(a), "starts_at": a["starts_at"]}
        for a in alerts
        if a["severity"] == "page" and not any(s <= (_at(a["starts_at"]) or s) <= e + RESOLVE_GRACE for s, e in windows)
    ]
    return {"scenarios": rows, "unexplained_pages": unexplained}


RESOLVE_GRACE = timedelta(hours=6)  # a backlog drains after an incident; what starts then is still its doing


def _alert_name(a: dict[str, Any]) -> str:
    labels = a["labels"]
    where = ",".join(f"{k}={v}" for k, v in labels.items() if k not in ("alertname", "slo", "severity"))
    return f"{labels.get('slo') or labels.get('alertname')}[{where or 'all'}]"


def _minutes(at: datetime | None, since: datetime) -> float | None:
    return round((at - since).total_seconds() / 60, 1) if at else None


# --- detections against the truth ----------------------------------------------------------------
#
# Each truth is what really happened, judged by the rule the tower is meant to apply, at the
# instant the tower evaluated (its clock), from the milestones a correct tower was told by then:
#
# - stuck: an order still open (not delivered, cancelled or rejected; no shipment whose latest
#   word is an exception) whose stage — the furthest order-level milestone, or its least advanced
#   manifested parcel — was reached longer ago than that stage's calendar-aware threshold
#   (`slo.detections.Calendars`: shift time for warehouse stages, cut-off plus grace for a scan);
# - missing tracking: a parcel manifested, not scanned by the carrier since, past its scan deadline;
# - inventory mismatch: a warehouse × SKU whose on-hand differs between what the WMS and the ERP
#   hold at the end (each as it reports it: never below zero). A tower learns of both only from
#   their snapshots, so the run should end after a quiet spell of at least a snapshot rotation.


def _milestones(raw: dict[str, str], at: datetime) -> dict[str, datetime]:
    out = {}
    for etype, text in raw.items():
        when = _at(text)
        if when is not None and when <= at:
            out[etype] = when
    return out


def truth_stuck(truth: dict[str, Any], at: datetime, calendars: Calendars) -> dict[str, dict[str, Any]]:
    """Order key → stage, stage_at, deadline of every order truly stuck at `at`."""
    out: dict[str, dict[str, Any]] = {}
    for order in truth["orders"]:
        ms = _milestones(order["milestones"], at)
        if not ms or "order.cancelled" in ms or ("order.rejected" in ms and "order.accepted" not in ms):
            continue
        parcels = [
            (s, _milestones(s["milestones"], at))
            for s in order["shipments"]
            if "shipment.manifested" in _milestones(s["milestones"], at)
        ]
        if any(
            "shipment.exception" in p
            and p["shipment.exception"] >= max(v for k, v in p.items() if k != "shipment.exception")
            for _, p in parcels
            if len(p) > 1
        ) or any(set(p) == {"shipment.exception"} for _, p in parcels):
            continue  # its status is exception, not open
        order_rank = max(
            (BY_TYPE[t].rank or 0 for t in ms if t in BY_TYPE and BY_TYPE[t].rank is not None), default=None
        )
        ship_ranks = [max(BY_TYPE[t].rank or 0 for t in p if BY_TYPE[t].rank is not None) for _, p in parcels]
        ship_rank = min(ship_ranks) if ship_ranks else None
        rank = max((r for r in (order_rank, ship_rank) if r is not None), default=None)
        if rank is None:
            continue
        milestone = next(m for m in PATH if m.rank == rank)
        if milestone.stage == "delivered":
            continue
        if milestone.per_shipment:
            stage_at = max(p[milestone.type] for _, p in parcels if milestone.type in p)
        else:
            stage_at = ms[milestone.type]
        carrier = next((s["carrier"] for s, _ in parcels), "")
        deadline = calendars.deadline(milestone.stage, stage_at, order["warehouse"], carrier)
        if deadline < at:
            out[order["key"]] = {"stage": milestone.stage, "stage_at": stage_at, "deadline": deadline}
    return out


def truth_missing_tracking(truth: dict[str, Any], at: datetime, calendars: Calendars) -> dict[str, dict[str, Any]]:
    """Tracking number → carrier and order of every parcel past its scan deadline without a scan at `at`."""
    out = {}
    for order in truth["orders"]:
        for s in order["shipments"]:
            ms = _milestones(s["milestones"], at)
            manifested = ms.get("shipment.manifested")
            if manifested is None or any(t in ms for t in SCAN_TYPES):
                continue
            if calendars.scan_deadline(s["carrier"], manifested) < at:
                out[s["tracking"]] = {
                    "carrier": s["carrier"],
                    "order": order["key"],
                    "never_scanned": s["never_scanned"],
                }
    return out


def truth_mismatches(truth: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (wh, sku)
        for wh, skus in truth.get("inventory_at_end", {}).items()
        for sku, held in skus.items()
        if held["wms"] != held["erp"]
    }


def _all_pages(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = client.get(path, params={**(params or {}), "limit": 1000, **({"cursor": cursor} if cursor else {})})
        response.raise_for_status()
        body = response.json()
        items.extend(body["items"])
        cursor = body.get("next")
        if not cursor:
            return items


def _prf(tower: set[Any], truth: set[Any]) -> dict[str, Any]:
    hit = len(tower & truth)
    return {
        "precision": round(hit / len(tower), 4) if tower else 1.0,
        "recall": round(hit / len(truth), 4) if truth else 1.0,
        "tower": len(tower),
        "truth": len(truth),
        "agreeing": hit,
        "false_positives": sorted(map(str, tower - truth))[:10],
        "missed": sorted(map(str, truth - tower))[:10],
    }


DETECTIONS = ("stuck_orders", "missing_tracking", "inventory_mismatches")


def score_detections(
    client: httpx.Client,
    truth: dict[str, Any],
    at: datetime,
    calendars: Calendars,
    kinds: tuple[str, ...] = DETECTIONS,
) -> dict[str, Any]:
    """Precision and recall of the stuck-order, missing-tracking and inventory-mismatch lists at `at`
    (inventory only at the end of a run: its truth is what the systems hold at the end)."""
    out: dict[str, Any] = {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if "stuck_orders" in kinds:
        by_id = {value: order["key"] for order in truth["orders"] for value in order["ids"].values()}
        by_id.update({order["key"]: order["key"] for order in truth["orders"]})
        stuck_truth = truth_stuck(truth, at, calendars)
        stuck_tower: set[str] = set()
        for item in _all_pages(client, "/v1/reconciliation/stuck"):
            journey = client.get(f"/v1/journeys/{item['journey_id']}").json()
            keys = {
                by_id[v]
                for o in journey.get("objects", [])
                if o.get("type") == "order"
                for v in o.get("ids", {}).values()
                if v in by_id
            }
            stuck_tower |= keys or {f"journey:{item['journey_id']}"}
        out["stuck_orders"] = _prf(stuck_tower, set(stuck_truth))
        out["stuck_orders"]["by_stage"] = dict(sorted(Counter(v["stage"] for v in stuck_truth.values()).items()))
    if "missing_tracking" in kinds:
        tracking_tower = {
            i["tracking"] or f"shipment:{i['shipment_id']}" for i in _all_pages(client, "/v1/reconciliation/tracking")
        }
        out["missing_tracking"] = _prf(tracking_tower, set(truth_missing_tracking(truth, at, calendars)))
    if "inventory_mismatches" in kinds:
        mismatch_tower = {
            (i["warehouse"], i["sku"]) for i in _all_pages(client, "/v1/reconciliation/inventory", {"open": "true"})
        }
        out["inventory_mismatches"] = _prf(mismatch_tower, truth_mismatches(truth))
    return out


def scorecard(client: httpx.Client, truth: dict[str, Any], calendars: Calendars | None = None) -> dict[str, Any]:
    """The whole scorecard of a simulated run against the tower that received it."""
    if calendars is None:
        s = load_settings()
        calendars = Calendars.from_settings(s.warehouse_shifts, s.carrier_cutoffs, s.scan_grace_hours)
    client.post("/v1/slos/evaluate").raise_for_status()
    clock = client.get("/v1/admin/clock").json()
    at = _at(clock.get("evaluated_to") or clock["now"])
    assert at is not None
    thresholds = {s["name"]: int(s.get("threshold_seconds") or 0) for s in client.get("/v1/slos").json()["items"]}
    alerts = _all_pages(client, "/v1/alerts")
    return {
        "alerts": score_alerts(alerts, truth, thresholds, calendars, at),
        "detections": score_detections(client, truth, at, calendars),
    }


def score_tower(url: str, truth: dict[str, Any], api_key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        return scorecard(client, truth)


def render(card: dict[str, Any]) -> str:
    """The scorecard as a few plain-text tables."""
    lines = ["alerts per fault scenario", ""]
    head = f"{'scenario':<18} {'expected alert':<58} {'fired':>8} {'+obs':>7} {'resolved':>9} {'episodes':>8}"
    lines += [head, "-" * len(head)]
    for r in card["alerts"]["scenarios"]:
        if "fired_at" not in r:
            extra = f"pages: {', '.join(r['pages_in_window']) or 'none'}"
            lines.append(f"{r['scenario']:<18} {r['expected'][:58]:<58} {extra}")
            continue
        fired = "never" if r["fired_at"] is None else f"{r['minutes_from_start']:g}m"
        obs = "" if r["minutes_from_observable"] is None else f"{r['minutes_from_observable']:g}m"
        resolved = "yes" if r["resolved_after_end"] else ("ongoing" if r["ongoing"] else (r["state"] or "-"))
        lines.append(
            f"{r['scenario']:<18} {r['expected'][:58]:<58} {fired:>8} {obs:>7} {resolved:>9} {r['episodes']:>8}"
        )
    unexplained = card["alerts"]["unexplained_pages"]
    lines += ["", f"pages outside every incident: {len(unexplained)}"]
    lines += [f"  {u['starts_at']} {u['alert']}" for u in unexplained[:10]]
    d = card["detections"]
    lines += ["", f"detections at {d['at']}", ""]
    head = f"{'detection':<22} {'precision':>9} {'recall':>7} {'tower':>6} {'truth':>6} {'agree':>6}"
    lines += [head, "-" * len(head)]
    for name in DETECTIONS:
        if name not in d:
            continue
        x = d[name]
        lines.append(
            f"{name:<22} {x['precision']:>9.3f} {x['recall']:>7.3f} {x['tower']:>6} {x['truth']:>6} {x['agreeing']:>6}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m simulator.score --url URL [--truth FILE] [--api-key KEY] [--json]`: score a tower that
    received a simulation against the truth `tower simulate` wrote."""
    import argparse
    import json
    import os
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m simulator.score", description=main.__doc__)
    parser.add_argument("--url", required=True, help="the tower that received the simulation")
    parser.add_argument("--truth", type=Path, default=Path(".tower/simulation/truth.json"))
    parser.add_argument("--api-key", default=os.environ.get("TOWER_API_KEY"), help="a key with read and admin")
    parser.add_argument("--json", action="store_true", help="print the scorecard as JSON")
    args = parser.parse_args(argv)
    card = score_tower(args.url, json.loads(args.truth.read_text()), args.api_key)
    print(json.dumps(card, indent=1) if args.json else render(card))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
