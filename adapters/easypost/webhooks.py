"""EasyPost tracker webhooks (Event objects whose result is a Tracker) → one shipment milestone.

A tracker webhook is a snapshot: it repeats the parcel's whole scan history every time. It is
read as ONE event for the tracker's current status, with the Event id (`evt_…`) as its id and the
latest scan as its time and detail. Emitting every scan again on every webhook would restate old
milestones with each delivery; the history is the carrier's, the milestone is the news.

When a secret is configured, `X-Hmac-Signature` must be `hmac-sha256-hex=` + the hex HMAC-SHA256
of the raw body keyed with the NFKD-normalised secret (as EasyPost's client libraries check it).
EasyPost's second signature, `X-Hmac-Signature-V2`, signs `X-Timestamp` (RFC 2822) + method +
`X-Path` + body the same way, so a delivery can be dated: behind the server (which passes its
clock and TOWER_WEBHOOK_TOLERANCE_S as `x-tower-*` headers) a delivery must carry it and be within
the tolerance of the tower's clock, or it is refused as a possible replay (401).
Bare Tracker objects and tracker lists (API responses, for backfills) are read too; their event id
is `{tracker id}:{status}:{updated_at}`.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
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
HMAC_V2_HEADER = "X-Hmac-Signature-V2"
TIMESTAMP_HEADER = "X-Timestamp"
PATH_HEADER = "X-Path"
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


def signature_v2(timestamp: str, method: str, path: str, body: bytes, secret: str) -> str:
    """EasyPost's timestamped signature: HMAC-SHA256 of X-Timestamp + method + X-Path + body."""
    signed = timestamp.encode() + method.upper().encode() + path.encode() + body
    return signature(signed, secret)


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """The signature first (so an unsigned caller learns nothing), then, where the server passed its
    clock and a tolerance, the delivery's age."""
    tolerance = float(header(headers, "x-tower-signature-tolerance-s") or 0)
    received = header(headers, "x-tower-received-at")
    given_v2 = header(headers, HMAC_V2_HEADER)
    if given_v2 is None:
        if received and tolerance > 0:
            raise AdapterError(
                HMAC_V2_HEADER,
                "is required: X-Hmac-Signature alone signs no timestamp, so a replayed delivery cannot be told "
                "apart; EasyPost sends X-Hmac-Signature-V2 with X-Timestamp and X-Path "
                "(TOWER_WEBHOOK_TOLERANCE_S=0 accepts body-only signatures)",
                status=401,
            )
        given = header(headers, HMAC_HEADER)
        if given is None:
            raise AdapterError(HMAC_HEADER, "is required: an EasyPost webhook secret is configured", status=401)
        if not hmac.compare_digest(given.strip().lower().encode(), signature(body, secret).encode()):
            raise AdapterError(HMAC_HEADER, "does not match the body signed with the configured secret", status=401)
        return
    timestamp = header(headers, TIMESTAMP_HEADER)
    path = header(headers, PATH_HEADER)
    for name, value in ((TIMESTAMP_HEADER, timestamp), (PATH_HEADER, path)):
        if value is None:
            raise AdapterError(name, f"is required with {HMAC_V2_HEADER}: it is part of what is signed", status=401)
    assert timestamp is not None and path is not None
    given_v2 = given_v2.strip().lower()
    if not given_v2.startswith("hmac-sha256-hex="):
        given_v2 = "hmac-sha256-hex=" + given_v2
    expected = signature_v2(timestamp, "POST", path, body, secret)
    if not hmac.compare_digest(given_v2.encode(), expected.encode()):
        raise AdapterError(
            HMAC_V2_HEADER,
            "does not match X-Timestamp + POST + X-Path + body signed with the configured secret",
            status=401,
        )
    if not received or tolerance <= 0:
        return
    try:
        sent = parsedate_to_datetime(timestamp)
    except (TypeError, ValueError):
        raise AdapterError(
            TIMESTAMP_HEADER,
            f"{timestamp[:60]!r} is not an RFC 2822 date (Tue, 19 Aug 2025 20:37:09 -0000)",
            status=401,
        ) from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    now = datetime.fromisoformat(received.replace("Z", "+00:00"))
    skew = abs((now - sent).total_seconds())
    if skew > tolerance:
        raise AdapterError(
            TIMESTAMP_HEADER,
            f"{timestamp} is {skew:.0f} s from the tower's clock ({received}), beyond the "
            f"{tolerance:.0f} s tolerance (TOWER_WEBHOOK_TOLERANCE_S): refused as a possible replay",
            status=401,
        )


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
