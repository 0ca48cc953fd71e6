"""Shopify webhook adapter on the Shopify SDK's fixtures: exact mapping, HMAC, malformed payloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from adapters.base import AdapterError, AdapterResult
from adapters.registry import ADAPTERS
from adapters.shopify import webhooks
from tests.support.ocel import FIXTURES
from tower.events import validate_event

SHOP = "acme-eu.myshopify.com"
SOURCE = f"shopify/{SHOP}"
DIR = FIXTURES / "shopify" / "shopify_python_api"
SECRET = "made-up-shopify-secret"


def fixture(name: str) -> bytes:
    return (DIR / name).read_bytes()


def parse(body: bytes, topic: str, secrets: dict[str, str] | None = None, **extra: str) -> AdapterResult:
    headers = {"x-shopify-topic": topic, "x-shopify-shop-domain": SHOP, **extra}
    result = ADAPTERS["shopify"].parse(body, headers, secrets or {})
    for produced in result.events:
        ok, problems = validate_event(produced)
        assert ok is not None and problems == [], problems
    return result


def only(result: AdapterResult) -> dict[str, Any]:
    assert len(result.events) == 1
    return result.events[0]


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


ORDER_IDS = {f"shopify_id/{SHOP}": "450789469", f"shopify/{SHOP}": "#1001"}
ORDER_LINES = [
    {"line": "466157049", "sku": "IPOD2008GREEN", "quantity": 1, "uom": "EA"},
    {"line": "518995019", "sku": "IPOD2008RED", "quantity": 1, "uom": "EA"},
    {"line": "703073504", "sku": "IPOD2008BLACK", "quantity": 1, "uom": "EA"},
]


def test_orders_create_is_order_received() -> None:
    ev = only(parse(fixture("order.json"), "orders/create", **{"x-shopify-webhook-id": "wh-1"}))
    assert ev["id"] == "wh-1"
    assert ev["source"] == SOURCE
    assert ev["type"] == "order.received"
    assert ev["time"] == "2008-01-10T16:00:00Z"  # 11:00 at -05:00
    assert ev["data"]["objects"] == [{"type": "order", "ids": ORDER_IDS}]
    assert ev["data"]["dims"] == {"channel": "shopify", "customer": "207119551"}
    facts = ev["data"]["facts"]
    assert facts["lines"] == ORDER_LINES
    assert facts["financial_status"] == "authorized"
    assert facts["total_price"] == "409.94"
    assert "promised_ship_date" not in facts


def test_webhook_id_absent_falls_back_to_topic_id_updated_at() -> None:
    ev = only(parse(fixture("order.json"), "orders/create"))
    assert ev["id"] == "orders/create:450789469:2008-01-10T11:00:00-05:00"


def test_bare_webhook_body_reads_like_the_rest_wrapper() -> None:
    bare = json.dumps(json.loads(fixture("order.json"))["order"]).encode()
    assert only(parse(bare, "orders/create"))["data"] == only(parse(fixture("order.json"), "orders/create"))["data"]


def test_promised_dates_from_note_attributes() -> None:
    order = json.loads(fixture("order.json"))["order"]
    order["note_attributes"].append({"name": "promised_delivery_date", "value": "2008-01-15"})
    facts = only(parse(json.dumps(order).encode(), "orders/create"))["data"]["facts"]
    assert facts["promised_delivery_date"] == "2008-01-15"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, "order.updated"),  # authorized: nothing the catalogue names
        ({"financial_status": "paid"}, "order.paid"),
        ({"financial_status": "paid", "cancelled_at": "2008-01-11T09:00:00-05:00"}, "order.cancelled"),
    ],
)
def test_orders_updated(change: dict[str, Any], expected: str) -> None:
    order = json.loads(fixture("order.json"))["order"]
    order.update(change)
    ev = only(parse(json.dumps(order).encode(), "orders/updated"))
    assert ev["type"] == expected
    assert ev["data"]["objects"] == [{"type": "order", "ids": ORDER_IDS}]
    if expected == "order.cancelled":
        assert ev["time"] == "2008-01-11T14:00:00Z"


def test_orders_updated_on_the_orders_fixture() -> None:
    order = json.loads(fixture("orders.json"))["orders"][0]
    ev = only(parse(json.dumps(order).encode(), "orders/updated"))
    assert ev["type"] == "order.updated"
    assert ev["data"]["facts"]["financial_status"] == "partially_refunded"
    assert ev["data"]["objects"][0]["ids"][f"shopify/{SHOP}"] == "#1001"
    assert "lines" not in ev["data"]["facts"]  # this order carries no line_items


def test_orders_cancelled() -> None:
    ev = only(parse(fixture("order.json"), "orders/cancelled"))
    assert ev["type"] == "order.cancelled"
    assert ev["time"] == "2008-01-10T16:00:00Z"


def test_fulfillments_create_is_shipment_manifested() -> None:
    ev = only(parse(fixture("fulfillment.json"), "fulfillments/create", **{"x-shopify-webhook-id": "wh-2"}))
    assert ev["id"] == "wh-2"
    assert ev["type"] == "shipment.manifested"
    assert ev["time"] == "2013-11-01T20:06:08Z"
    assert ev["data"]["objects"] == [
        {"type": "order", "ids": {f"shopify_id/{SHOP}": "450789469"}},
        {"type": "shipment", "ids": {"tracking:null-company": "1Z2345", f"shopify_fulfillment/{SHOP}": "255858046"}},
    ]
    assert ev["data"]["relations"] == [[0, 1]]
    assert ev["data"]["dims"] == {"channel": "shopify", "carrier": "null-company"}
    facts = ev["data"]["facts"]
    assert facts["lines"] == [{"line": "466157049", "sku": "IPOD2008GREEN", "quantity": 1, "uom": "EA"}]
    assert facts["tracking_numbers"] == ["1Z2345"]
    assert facts["fulfillment_id"] == "255858046"


def test_fulfillment_in_order_fixture_several_numbers_and_order_name() -> None:
    fulfillment = json.loads(fixture("order.json"))["order"]["fulfillments"][0]
    fulfillment.update(name="#1001.1", tracking_company="UPS", tracking_numbers=["1Z2345", "1Z6789"])
    ev = only(parse(json.dumps(fulfillment).encode(), "fulfillments/create"))
    assert ev["data"]["objects"] == [
        {"type": "order", "ids": {f"shopify_id/{SHOP}": "450789469", f"shopify/{SHOP}": "#1001"}},
        {"type": "shipment", "ids": {"tracking:ups": "1Z2345"}},
        {"type": "shipment", "ids": {"tracking:ups": "1Z6789"}},
    ]
    assert ev["data"]["relations"] == [[0, 1], [0, 2]]


@pytest.mark.parametrize(
    ("shipment_status", "status", "expected"),
    [
        ("label_printed", "success", "shipment.manifested"),
        ("in_transit", "success", "shipment.in_transit"),
        ("out_for_delivery", "success", "shipment.out_for_delivery"),
        ("delivered", "success", "shipment.delivered"),
        ("attempted_delivery", "success", "shipment.exception"),
        ("failure", "success", "shipment.exception"),
        ("in_transit", "cancelled", "shipment.exception"),
        (None, "success", "shipment.updated"),
        ("something_new", "success", "shipment.updated"),
    ],
)
def test_fulfillments_update_by_shipment_status(shipment_status: str | None, status: str, expected: str) -> None:
    fulfillment = json.loads(fixture("fulfillment.json"))["fulfillment"]
    fulfillment.update(shipment_status=shipment_status, status=status, updated_at="2013-11-02T10:00:00-04:00")
    result = parse(json.dumps(fulfillment).encode(), "fulfillments/update")
    ev = only(result)
    assert ev["type"] == expected
    assert ev["time"] == "2013-11-02T14:00:00Z"
    assert ev["data"]["objects"][1]["ids"]["tracking:null-company"] == "1Z2345"
    assert bool(result.notes) == (shipment_status == "something_new")


def test_fulfillment_events_create() -> None:
    ev = only(parse(fixture("fulfillment_event.json"), "fulfillment_events/create"))
    assert ev["id"] == "fulfillment_events/create:12584341209251"
    assert ev["type"] == "shipment.manifested"  # label_printed
    assert ev["time"] == "2021-01-25T21:32:23Z"
    assert ev["data"]["objects"] == [
        {"type": "order", "ids": {f"shopify_id/{SHOP}": "2776493818019"}},
        {"type": "shipment", "ids": {f"shopify_fulfillment/{SHOP}": "2608403447971"}},
    ]


# --- HMAC -----------------------------------------------------------------------------------


def test_hmac_good() -> None:
    body = fixture("order.json")
    ev = only(parse(body, "orders/create", {"shopify": SECRET}, **{"x-shopify-hmac-sha256": sign(body)}))
    assert ev["type"] == "order.received"


@pytest.mark.parametrize(
    "signature",
    [None, "", sign(b"another body"), sign(b"x", "other-secret"), "not base64 at all"],
)
def test_hmac_bad_or_missing(signature: str | None) -> None:
    body = fixture("order.json")
    extra = {} if signature is None else {"x-shopify-hmac-sha256": signature}
    with pytest.raises(AdapterError) as caught:
        parse(body, "orders/create", {"shopify": SECRET}, **extra)
    assert caught.value.where == "X-Shopify-Hmac-SHA256"
    assert caught.value.status == 401


def test_hmac_checked_before_anything_else() -> None:
    with pytest.raises(AdapterError) as caught:
        parse(b"{not json", "orders/create", {"shopify": SECRET}, **{"x-shopify-hmac-sha256": sign(b"other")})
    assert caught.value.status == 401


def test_no_secret_no_check() -> None:
    assert only(parse(fixture("order.json"), "orders/create", {"easypost": "x"}))["type"] == "order.received"


# --- malformed --------------------------------------------------------------------------------


def _order(**change: Any) -> bytes:
    order = json.loads(fixture("order.json"))["order"]
    order.update(change)
    return json.dumps(order).encode()


def _fulfillment(**change: Any) -> bytes:
    fulfillment = json.loads(fixture("fulfillment.json"))["fulfillment"]
    fulfillment.update(change)
    return json.dumps(fulfillment).encode()


def _line(**change: Any) -> bytes:
    order = json.loads(fixture("order.json"))["order"]
    order["line_items"][1].update(change)
    return json.dumps(order).encode()


@pytest.mark.parametrize(
    ("body", "topic", "where"),
    [
        (b"{not json", "orders/create", "body"),
        (b"\xff\xfe\x00", "orders/create", "body"),
        (b"[1, 2]", "orders/create", "body"),
        (_order(id=None), "orders/create", "order.id"),
        (_order(id={"x": 1}), "orders/create", "order.id"),
        (_order(created_at=None), "orders/create", "order.created_at"),
        (_order(created_at="yesterday"), "orders/create", "order.created_at"),
        (_order(created_at="2008-01-10T11:00:00"), "orders/create", "order.created_at"),
        (_order(line_items=None), "orders/create", "order.line_items"),
        (_order(line_items={"a": 1}), "orders/create", "order.line_items"),
        (_line(quantity="1"), "orders/create", "order.line_items[1].quantity"),
        (_line(id=None), "orders/create", "order.line_items[1].id"),
        (_order(updated_at=None, created_at=None), "orders/updated", "order.updated_at"),
        (_fulfillment(order_id=None), "fulfillments/create", "fulfillment.order_id"),
        (_fulfillment(id=""), "fulfillments/create", "fulfillment.id"),
        (_fulfillment(tracking_numbers="1Z2345"), "fulfillments/create", "fulfillment.tracking_numbers"),
        (_fulfillment(tracking_numbers=["1Z2345", None]), "fulfillments/create", "fulfillment.tracking_numbers[1]"),
        (_fulfillment(created_at=None), "fulfillments/create", "fulfillment.created_at"),
        (
            b'{"fulfillment_event": {"id": 1, "order_id": 2, "fulfillment_id": 3}}',
            "fulfillment_events/create",
            "fulfillment_event.status",
        ),
        (fixture("order.json"), "products/create", "X-Shopify-Topic"),
        (fixture("order.json"), "", "X-Shopify-Topic"),
    ],
)
def test_malformed(body: bytes, topic: str, where: str) -> None:
    with pytest.raises(AdapterError) as caught:
        parse(body, topic)
    assert caught.value.where == where
    assert caught.value.status == 400
    assert caught.value.reason


def test_missing_shop_domain() -> None:
    with pytest.raises(AdapterError) as caught:
        webhooks.parse(fixture("order.json"), {"x-shopify-topic": "orders/create"}, {})
    assert caught.value.where == "X-Shopify-Shop-Domain"


def test_mutated_payloads_fail_only_with_adapter_errors() -> None:
    from tests.adapters.test_carriers import mutations

    for topic, name in [
        ("orders/create", "order.json"),
        ("orders/cancelled", "order.json"),
        ("fulfillments/update", "fulfillment.json"),
        ("fulfillment_events/create", "fulfillment_event.json"),
    ]:
        for where, body in mutations(json.loads(fixture(name))):
            try:
                parse(json.dumps(body).encode(), topic)
            except AdapterError as error:
                assert error.status == 400 and error.where, (topic, where)
