"""How well a tower's journeys agree with a simulation's ground truth."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx

from simulator.truth import Truth


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
