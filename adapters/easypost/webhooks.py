"""EasyPost tracker webhooks (Event objects whose result is a Tracker) → one shipment milestone.

A tracker webhook is a snapshot: it repeats the parcel's whole scan history every time. It is
read as ONE event for the tracker's current status, with the Event id (`evt_…`) as its id and the
latest scan as its time and detail. Emitting every scan again on every webhook would restate old
milestones with each delivery; the history is the carrier's, the milestone is the news.

When a secret is configured, `X-Hmac-Signature` must be `hmac-sha256-hex=` + the hex HMAC-SHA256
of the raw body keyed with the NFKD-normalised secret (as EasyPost's client libraries check it).
Bare Tracker objects and tracker lists (API responses, for backfills) are read too; their event id
is `{tracker id}:{status}:{updated_at}`.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from typing import Any

from adapters.base import AdapterError, AdapterResult, event
from adapters.payload import (
    carrier_key,
    header,
    load_json,
    need_dict,
    need_list,
    need_str,
    opt_dict,
    opt_str,
    parse_instant,
    rfc3339,
    to_utc,
)

SECRET_NAME = "easypost"
HMAC_HEADER = "X-Hmac-Signature"
SOURCE = "easypost"

STATUS = {
    "pre_transit": "shipment.manifested",
    "in_transit": "shipment.in_transit",
    "out_for_delivery": "shipment.out_for_delivery",
    "available_for_pickup": "shipment.out_for_delivery",  # waiting at a pickup point: the last mile
    "delivered": "shipment.delivered",
    "return_to_sender": "shipment.exception",
    "failure": "shipment.exception",
    "error": "shipment.exception",
    "cancelled": "shipment.exception",
}


def signature(body: bytes, secret: str) -> str:
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    given = header(headers, HMAC_HEADER)
    if given is None:
        raise AdapterError(HMAC_HEADER, "is required: an EasyPost webhook secret is configured", status=401)
    if not hmac.compare_digest(given.lower().encode(), signature(body, secret).encode()):
        raise AdapterError(HMAC_HEADER, "does not match the body signed with the configured secret", status=401)


def _tracker_event(
    tracker: dict[str, Any], path: str, event_id: str | None, extra: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    tracking = need_str(tracker.get("tracking_code"), f"{path}.tracking_code")
    carrier = need_str(tracker.get("carrier"), f"{path}.carrier")
    status = need_str(tracker.get("status"), f"{path}.status")
    etype = STATUS.get(status)
    if etype is None:
        return None, f"{tracking}: EasyPost status {status!r} maps to no milestone; no event"
    details = []
    for i, detail in enumerate(need_list(tracker.get("tracking_details") or [], f"{path}.tracking_details")):
        dpath = f"{path}.tracking_details[{i}]"
        detail = need_dict(detail, dpath)
        if detail.get("datetime"):
            details.append((parse_instant(detail["datetime"], f"{dpath}.datetime"), -i, detail))
    # the scan that states the current status (the latest such); else the latest scan
    matching = [item for item in details if item[2].get("status") == status] or details
    if matching:
        at, _, latest = max(matching, key=lambda item: (item[0], item[1]))
        when = rfc3339(at)
    else:
        latest = {}
        when = to_utc(tracker.get("updated_at") or tracker.get("created_at"), f"{path}.updated_at")
    facts: dict[str, Any] = {"easypost_status": status}
    detail_status = opt_str(tracker.get("status_detail"))
    if detail_status:
        facts["carrier_status_detail"] = detail_status
    if opt_str(latest.get("carrier_code")):
        facts["carrier_status_code"] = latest["carrier_code"]
    message = opt_str(latest.get("message")) or opt_str(latest.get("description"))
    if message:
        facts["carrier_status_description"] = message
    location = opt_dict(latest.get("tracking_location"))
    if isinstance(location, dict):
        place = ", ".join(str(location[k]) for k in ("city", "state", "country", "zip") if opt_str(location.get(k)))
        if place:
            facts["location"] = place
    if opt_str(tracker.get("est_delivery_date")):
        facts["est_delivery_date"] = to_utc(tracker["est_delivery_date"], f"{path}.est_delivery_date")
    if opt_str(tracker.get("signed_by")):
        facts["signed_by"] = tracker["signed_by"]
    if opt_str(tracker.get("id")):
        facts["tracker_id"] = tracker["id"]
    facts.update(extra)
    key = carrier_key(carrier)
    eid = event_id or f"{opt_str(tracker.get('id')) or tracking}:{status}:{tracker.get('updated_at') or when}"
    return (
        event(
            eid,
            SOURCE,
            etype,
            when,
            [{"type": "shipment", "ids": {f"tracking:{key}": tracking}}],
            dims={"carrier": key},
            facts=facts,
        ),
        None,
    )


def parse(body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult:
    secret = secrets.get(SECRET_NAME)
    if secret:
        verify(body, headers, secret)
    root = need_dict(load_json(body), "body")
    events: list[dict[str, Any]] = []
    notes: list[str] = []

    def add(tracker: Any, path: str, event_id: str | None, extra: dict[str, Any]) -> None:
        produced, note = _tracker_event(need_dict(tracker, path), path, event_id, extra)
        if produced is not None:
            events.append(produced)
        if note:
            notes.append(note)

    kind = root.get("object")
    if kind == "Event":
        description = need_str(root.get("description"), "description")
        result = need_dict(root.get("result"), "result")
        if not description.startswith("tracker.") or result.get("object") != "Tracker":
            # one EasyPost webhook URL receives every event of the account: not an error, not ours
            notes.append(f"EasyPost event {description!r} ({result.get('object')}) is not a tracker update; no event")
            return AdapterResult(events=[], notes=notes)
        extra: dict[str, Any] = {}
        previous = root.get("previous_attributes")
        if isinstance(previous, dict) and opt_str(previous.get("status")):
            extra["previous_easypost_status"] = previous["status"]
        add(result, "result", need_str(root.get("id"), "id"), extra)
    elif kind == "Tracker":
        add(root, "body", None, {})
    elif "trackers" in root:
        for i, tracker in enumerate(need_list(root["trackers"], "trackers")):
            add(tracker, f"trackers[{i}]", None, {})
    elif kind is None:
        raise AdapterError("object", 'is required: an EasyPost "Event" (or "Tracker")')
    else:
        raise AdapterError("object", f'{kind!r} is not an EasyPost "Event" or "Tracker"')
    return AdapterResult(events=events, notes=notes)
