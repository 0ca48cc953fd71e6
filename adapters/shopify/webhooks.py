"""Shopify webhooks (orders/*, fulfillments/*, fulfillment_events/create) → canonical events.

The topic comes from `X-Shopify-Topic`, the shop from `X-Shopify-Shop-Domain` (source
`shopify/<shop>`), the event id from `X-Shopify-Webhook-Id` — the same id on every retry of one
delivery, so retries dedupe. When a secret is configured, `X-Shopify-Hmac-SHA256` must be the
base64 HMAC-SHA256 of the raw body; as that signs no timestamp, the collector refuses a signed body
already accepted under another webhook id (a replay), and acknowledges the same id and body again
as a duplicate (Shopify's own retry). Bodies are the bare resource as webhooks send it; the Admin
REST wrapper (`{"order": {...}}`) is accepted too, so replayed API responses read the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

from adapters.base import AdapterError, AdapterResult, event
from adapters.payload import (
    carrier_key,
    header,
    load_json,
    need_dict,
    need_int,
    need_list,
    need_str,
    opt_list,
    opt_str,
    to_utc,
)

SECRET_NAME = "shopify"
HMAC_HEADER = "X-Shopify-Hmac-SHA256"

# fulfillment shipment_status (and fulfillment event status) → milestone
SHIPMENT_STATUS = {
    "label_printed": "shipment.manifested",
    "label_purchased": "shipment.manifested",
    "confirmed": "shipment.manifested",
    "ready_for_pickup": "shipment.out_for_delivery",
    "picked_up": "shipment.delivered",  # collected by the customer at a pickup point
    "in_transit": "shipment.in_transit",
    "out_for_delivery": "shipment.out_for_delivery",
    "delivered": "shipment.delivered",
    "attempted_delivery": "shipment.exception",
    "delayed": "shipment.exception",
    "failure": "shipment.exception",
}
FAILED_FULFILLMENT = {"cancelled", "error", "failure"}
PROMISE_KEYS = ("promised_ship_date", "promised_delivery_date")


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    given = header(headers, HMAC_HEADER)
    if given is None:
        raise AdapterError(HMAC_HEADER, "is required: a Shopify secret is configured", status=401)
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AdapterError(HMAC_HEADER, "does not match the body signed with the configured secret", status=401)


def _unwrap(data: Any, key: str) -> dict[str, Any]:
    root = need_dict(data, "body")
    if set(root) == {key}:
        return need_dict(root[key], key)
    return root


class _Ctx:
    def __init__(self, topic: str, shop: str, webhook_id: str | None) -> None:
        self.topic = topic
        self.shop = shop
        self.source = f"shopify/{shop}"
        self.webhook_id = webhook_id

    def event_id(self, resource: dict[str, Any], resource_id: str, stamp: str) -> str:
        return self.webhook_id or f"{self.topic}:{resource_id}:{resource.get('updated_at') or stamp}"

    def order(self, order_id: str, name: str | None) -> dict[str, Any]:
        ids = {f"shopify_id/{self.shop}": order_id}
        if name:
            ids[f"shopify/{self.shop}"] = name
        return {"type": "order", "ids": ids}


def _lines(items: Any, path: str) -> list[dict[str, Any]]:
    lines = []
    for i, item in enumerate(need_list(items, path)):
        ipath = f"{path}[{i}]"
        item = need_dict(item, ipath)
        lines.append(
            {
                "line": need_str(item.get("id"), f"{ipath}.id"),
                "sku": opt_str(item.get("sku")) or opt_str(item.get("variant_id")),
                "quantity": need_int(item.get("quantity"), f"{ipath}.quantity"),
                "uom": "EA",
            }
        )
    return lines


def _promises(order: dict[str, Any]) -> dict[str, str]:
    """Promised dates when the shop records them: top-level keys or note attributes so named."""
    found: dict[str, str] = {}
    for key in PROMISE_KEYS:
        if opt_str(order.get(key)):
            found[key] = str(order[key]).strip()
    for attribute in opt_list(order.get("note_attributes")):
        if isinstance(attribute, dict):
            name = str(attribute.get("name") or "").strip().lower().replace(" ", "_")
            if name in PROMISE_KEYS and opt_str(attribute.get("value")) and name not in found:
                found[name] = str(attribute["value"]).strip()
    return found


def _order_event(ctx: _Ctx, data: Any, etype: str | None) -> AdapterResult:
    order = _unwrap(data, "order")
    order_id = need_str(order.get("id"), "order.id")
    name = opt_str(order.get("name"))
    cancelled_at = opt_str(order.get("cancelled_at"))
    financial = opt_str(order.get("financial_status"))
    if etype is None:  # orders/updated: what did it become?
        if cancelled_at:
            etype = "order.cancelled"
        elif financial == "paid":
            etype = "order.paid"
        else:
            etype = "order.updated"
    if etype == "order.received":
        stamp = to_utc(order.get("created_at"), "order.created_at")
    elif etype == "order.cancelled" and cancelled_at:
        stamp = to_utc(cancelled_at, "order.cancelled_at")
    else:
        stamp = to_utc(order.get("updated_at") or order.get("created_at"), "order.updated_at")
    facts: dict[str, Any] = {}
    # lines are what order completeness is measured against: required on the order's arrival only
    if etype == "order.received" or order.get("line_items") is not None:
        facts["lines"] = _lines(order.get("line_items"), "order.line_items")
    for key in ("financial_status", "fulfillment_status", "currency", "total_price", "cancel_reason"):
        if opt_str(order.get(key)):
            facts[key] = order[key]
    if cancelled_at:
        facts["cancelled_at"] = to_utc(cancelled_at, "order.cancelled_at")
    if etype == "order.received":
        facts.update(_promises(order))
    dims = {"channel": "shopify"}
    customer = order.get("customer")
    if isinstance(customer, dict) and opt_str(customer.get("id")):
        dims["customer"] = str(customer["id"])
    return AdapterResult(
        events=[
            event(
                ctx.event_id(order, order_id, stamp),
                ctx.source,
                etype,
                stamp,
                [ctx.order(order_id, name)],
                dims=dims,
                facts=facts,
            )
        ]
    )


def _order_name_from_fulfillment(fulfillment: dict[str, Any]) -> str | None:
    # a fulfillment is named after its order: "#1001.1" is the first fulfillment of "#1001"
    match = re.fullmatch(r"(.+)\.\d+", opt_str(fulfillment.get("name")) or "")
    return match.group(1) if match else None


def _fulfillment_event(ctx: _Ctx, data: Any, created: bool) -> AdapterResult:
    fulfillment = _unwrap(data, "fulfillment")
    fulfillment_id = need_str(fulfillment.get("id"), "fulfillment.id")
    order_id = need_str(fulfillment.get("order_id"), "fulfillment.order_id")
    company = opt_str(fulfillment.get("tracking_company"))
    numbers_raw = fulfillment.get("tracking_numbers")
    if numbers_raw is None:
        numbers_raw = [fulfillment["tracking_number"]] if opt_str(fulfillment.get("tracking_number")) else []
    numbers = [
        need_str(n, f"fulfillment.tracking_numbers[{i}]")
        for i, n in enumerate(need_list(numbers_raw, "fulfillment.tracking_numbers"))
    ]
    numbers = list(dict.fromkeys(numbers))
    namespace = f"tracking:{carrier_key(company)}"
    fulfillment_ns = f"shopify_fulfillment/{ctx.shop}"
    if not numbers:
        shipments = [{"type": "shipment", "ids": {fulfillment_ns: fulfillment_id}}]
    elif len(numbers) == 1:  # the fulfillment id lets a later update without tracking find it
        shipments = [{"type": "shipment", "ids": {namespace: numbers[0], fulfillment_ns: fulfillment_id}}]
    else:
        shipments = [{"type": "shipment", "ids": {namespace: n}} for n in numbers]
    notes: list[str] = []
    status = opt_str(fulfillment.get("status"))
    shipment_status = opt_str(fulfillment.get("shipment_status"))
    if created:
        etype = "shipment.manifested"
        stamp = to_utc(fulfillment.get("created_at"), "fulfillment.created_at")
    else:
        stamp = to_utc(fulfillment.get("updated_at") or fulfillment.get("created_at"), "fulfillment.updated_at")
        if status in FAILED_FULFILLMENT:
            etype = "shipment.exception"
        elif shipment_status in SHIPMENT_STATUS:
            etype = SHIPMENT_STATUS[shipment_status]
        else:
            etype = "shipment.updated"
            if shipment_status:
                notes.append(f"fulfillment {fulfillment_id}: shipment_status {shipment_status!r} maps to no milestone")
    facts: dict[str, Any] = {"fulfillment_id": fulfillment_id}
    if "line_items" in fulfillment:
        facts["lines"] = _lines(fulfillment["line_items"], "fulfillment.line_items")
    for key, value in (
        ("fulfillment_status", status),
        ("shipment_status", shipment_status),
        ("tracking_company", company),
    ):
        if value:
            facts[key] = value
    if numbers:
        facts["tracking_numbers"] = numbers
    dims = {"channel": "shopify"}
    if company:
        dims["carrier"] = carrier_key(company)
    order = ctx.order(order_id, _order_name_from_fulfillment(fulfillment))
    return AdapterResult(
        events=[
            event(
                ctx.event_id(fulfillment, fulfillment_id, stamp),
                ctx.source,
                etype,
                stamp,
                [order, *shipments],
                relations=[[0, k] for k in range(1, len(shipments) + 1)],
                dims=dims,
                facts=facts,
            )
        ],
        notes=notes,
    )


def _fulfillment_event_event(ctx: _Ctx, data: Any, created: bool) -> AdapterResult:
    item = _unwrap(data, "fulfillment_event")
    item_id = need_str(item.get("id"), "fulfillment_event.id")
    order_id = need_str(item.get("order_id"), "fulfillment_event.order_id")
    fulfillment_id = need_str(item.get("fulfillment_id"), "fulfillment_event.fulfillment_id")
    status = need_str(item.get("status"), "fulfillment_event.status")
    stamp = to_utc(item.get("happened_at") or item.get("created_at"), "fulfillment_event.happened_at")
    notes: list[str] = []
    etype = SHIPMENT_STATUS.get(status)
    if etype is None:
        etype = "shipment.updated"
        notes.append(f"fulfillment event {item_id}: status {status!r} maps to no milestone")
    facts: dict[str, Any] = {"fulfillment_id": fulfillment_id, "shipment_status": status}
    if opt_str(item.get("message")):
        facts["message"] = item["message"]
    place = ", ".join(str(item[k]) for k in ("city", "province", "country") if opt_str(item.get(k)))
    if place:
        facts["location"] = place
    if opt_str(item.get("estimated_delivery_at")):
        facts["estimated_delivery_at"] = to_utc(
            item["estimated_delivery_at"], "fulfillment_event.estimated_delivery_at"
        )
    return AdapterResult(
        events=[
            event(
                ctx.webhook_id or f"{ctx.topic}:{item_id}",
                ctx.source,
                etype,
                stamp,
                [
                    ctx.order(order_id, None),
                    {"type": "shipment", "ids": {f"shopify_fulfillment/{ctx.shop}": fulfillment_id}},
                ],
                dims={"channel": "shopify"},
                facts=facts,
            )
        ],
        notes=notes,
    )


TOPICS: dict[str, Callable[[_Ctx, Any], AdapterResult]] = {
    "orders/create": lambda ctx, data: _order_event(ctx, data, "order.received"),
    "orders/updated": lambda ctx, data: _order_event(ctx, data, None),
    "orders/paid": lambda ctx, data: _order_event(ctx, data, "order.paid"),
    "orders/cancelled": lambda ctx, data: _order_event(ctx, data, "order.cancelled"),
    "fulfillments/create": lambda ctx, data: _fulfillment_event(ctx, data, True),
    "fulfillments/update": lambda ctx, data: _fulfillment_event(ctx, data, False),
    "fulfillment_events/create": lambda ctx, data: _fulfillment_event_event(ctx, data, True),
}


def parse(body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult:
    secret = secrets.get(SECRET_NAME)
    if secret:
        verify(body, headers, secret)
    topic = header(headers, "X-Shopify-Topic")
    if topic is None:
        raise AdapterError("X-Shopify-Topic", "is required")
    handler = TOPICS.get(topic.lower())
    if handler is None:
        raise AdapterError("X-Shopify-Topic", f"topic {topic!r} is not supported; expected one of {', '.join(TOPICS)}")
    shop = header(headers, "X-Shopify-Shop-Domain")
    if shop is None:
        raise AdapterError("X-Shopify-Shop-Domain", "is required")
    webhook_id = header(headers, "X-Shopify-Webhook-Id")
    result = handler(_Ctx(topic.lower(), shop.lower(), webhook_id), load_json(body))
    if secret and webhook_id:
        result.delivery = webhook_id  # Shopify signs the body only: the collector guards against replays
    return result
