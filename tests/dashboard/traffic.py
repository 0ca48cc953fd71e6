"""A small, realistic day of distributor traffic as canonical events, timed relative to now.

Orders from a web store and an EDI partner go through the ERP, two warehouses and two carriers;
some are delivered on time, one ships late, some wait past their stage's threshold (stuck), and one
bad event goes to dead letters. The dashboard tests and the browser test post it to a real server.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

TRACKING_LATE = "1Z999AA10000000007"


def traceparent(source: str, eid: str) -> str:
    """The W3C traceparent of the sync step that emitted an event: stable, so spans can be made for it."""
    return f"00-{hashlib.md5(f'{source}/{eid}'.encode()).hexdigest()}-{eid.encode().hex()[:16]:0>16}-01"


def step_spans(source: str, eid: str, at: datetime, service: str) -> dict[str, Any]:
    """OTLP/JSON of the sync step behind an event: its span (the traceparent's) and an HTTP call beneath."""
    _, trace_id, span_id, _ = traceparent(source, eid).split("-")
    start = int(at.timestamp() * 1e9)

    def span(sid: str, parent: str, name: str, offset_ms: int, ms: int, error: bool = False) -> dict[str, Any]:
        return {
            "traceId": trace_id,
            "spanId": sid,
            "parentSpanId": parent,
            "name": name,
            "kind": 3 if parent else 1,
            "startTimeUnixNano": str(start + offset_ms * 1_000_000),
            "endTimeUnixNano": str(start + (offset_ms + ms) * 1_000_000),
            "status": {"code": 2 if error else 1},
        }

    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "tower.sync"},
                        "spans": [
                            span(span_id, "", "sync sales order", 0, 900),
                            span("00000000000000a1", span_id, "POST /record/v1/salesOrder", 50, 400, error=True),
                            span("00000000000000a2", span_id, "POST /record/v1/salesOrder (retry)", 500, 350),
                        ],
                    }
                ],
            }
        ]
    }


def _event(
    source: str, eid: str, type_: str, at: datetime, objects: list[dict[str, Any]], **data: Any
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": eid,
        "source": source,
        "type": type_,
        "time": at.isoformat().replace("+00:00", "Z"),
        "traceparent": traceparent(source, eid),
        "data": {"objects": objects, **data},
    }


def tracking_number(n: int) -> str:
    return f"1Z999AA1{n:010d}"


def orders(now: datetime | None = None, count: int = 12) -> list[dict[str, Any]]:
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    events: list[dict[str, Any]] = []
    for n in range(count):
        web = n % 3 != 0
        warehouse = "dc-east" if n % 2 else "dc-west"
        carrier = "ups" if n % 4 < 2 else "fedex"
        channel_ids = {"shopify/acme": f"#{1000 + n}"} if web else {"po:bigbox": f"450{n:05d}"}
        order = {"type": "order", "ids": channel_ids}
        erp_order = {"type": "order", "ids": {**channel_ids, "erp": f"SO-{5000 + n}"}}
        tracking = TRACKING_LATE if n == 7 else tracking_number(n)
        shipment = {"type": "shipment", "ids": {f"tracking:{carrier}": tracking}}
        start = now - timedelta(days=3, hours=n * 3)
        channel = "web" if web else "edi"
        source = "shopify/acme" if web else "edi/bigbox"
        dims = {"channel": channel, "warehouse": warehouse}
        facts = {
            "promised_ship_date": (start + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            "promised_delivery_date": (start + timedelta(days=4)).isoformat().replace("+00:00", "Z"),
            "lines": [{"line": 1, "sku": f"SKU-{n % 5}", "quantity": 2, "uom": "EA"}],
        }
        events.append(_event(source, f"o{n}", "order.received", start, [order], dims=dims, facts=facts))
        if n in (10, 11):
            continue  # never accepted: stuck at received
        events.append(_event("erp/netsuite", f"a{n}", "order.accepted", start + timedelta(minutes=20), [erp_order]))
        events.append(
            _event("erp/netsuite", f"al{n}", "inventory.allocated", start + timedelta(hours=1), [erp_order], dims=dims)
        )
        if n == 9:
            continue  # allocated, never released: stuck at allocated
        wms = f"wms/{warehouse}"
        pick = {"type": "fulfillment", "ids": {f"{wms}": f"PK-{n}"}}
        events.append(_event(wms, f"p{n}", "fulfillment.picked", start + timedelta(hours=3), [erp_order, pick]))
        ship_at = start + timedelta(hours=30 if n == 7 else 5)  # order 7 waits a day past its packing
        events.append(
            _event(
                "shipping/shipstation",
                f"m{n}",
                "shipment.manifested",
                ship_at,
                [erp_order, shipment],
                dims={"carrier": carrier},
            )
        )
        if n == 8:
            continue  # manifested, never scanned
        events.append(
            _event(f"carrier/{carrier}", f"t{n}", "shipment.in_transit", ship_at + timedelta(hours=4), [shipment])
        )
        if n % 5 == 4:
            events.append(
                _event(
                    f"carrier/{carrier}",
                    f"x{n}",
                    "shipment.exception",
                    ship_at + timedelta(hours=20),
                    [shipment],
                    facts={"status": "address not found"},
                )
            )
            continue
        events.append(
            _event(f"carrier/{carrier}", f"d{n}", "shipment.delivered", ship_at + timedelta(hours=40), [shipment])
        )
    return events


BAD_EVENT = b'{"specversion":"1.0","id":"bad-1","source":"erp/netsuite","type":"order.received","data":{}}'


def acceptance_outage(now: datetime | None = None, count: int = 40) -> list[dict[str, Any]]:
    """EDI orders received over the last hour that the ERP never accepted: an order-acceptance outage
    that burns its error budget fast enough to raise alerts on a server with the SLO engine."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    return [
        _event(
            "edi/bigbox",
            f"outage-{n}",
            "order.received",
            now - timedelta(minutes=55 - n),
            [{"type": "order", "ids": {"po:bigbox": f"OUT-{n:04d}"}}],
            dims={"channel": "edi", "warehouse": "dc-east"},
        )
        for n in range(count)
    ]


def operations_faults(now: datetime | None = None) -> list[dict[str, Any]]:
    """What operations reconciles outside journeys: ERP and WMS stock snapshots that disagree on three
    SKUs (two in dc-east, one in dc-west), and sync failures, retries and dead letters of three systems."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    as_of = (now - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    events = []
    stock = {("dc-east", "SKU-1"): (40, 36), ("dc-east", "SKU-2"): (12, 0), ("dc-east", "SKU-3"): (8, 8)}
    stock |= {("dc-west", "SKU-1"): (25, 27), ("dc-west", "SKU-4"): (3, 3)}
    for (warehouse, sku), (erp, wms) in stock.items():
        for system, on_hand in (("erp", erp), ("wms", wms)):
            facts = {"system": system, "warehouse": warehouse, "sku": sku, "on_hand": on_hand, "available": on_hand}
            events.append(
                _event(
                    f"{system}/{warehouse}",
                    f"snap-{system}-{warehouse}-{sku}",
                    "inventory.snapshot",
                    now - timedelta(hours=2),
                    [],
                    facts={**facts, "as_of": as_of},
                )
            )
    faults = [
        ("erp", "post sales order", "HTTP 503 from NetSuite", ("sync.failed", "sync.retried", "sync.failed")),
        ("wms", "release pick wave", "timeout after 30 s", ("sync.failed", "sync.retried")),
        ("shipstation", "create label", "address validation failed", ("sync.failed", "sync.dead_lettered")),
    ]
    for system, operation, error, types in faults:
        for i, type_ in enumerate(types):
            events.append(
                _event(
                    f"{system}/sync",
                    f"fault-{system}-{i}",
                    type_,
                    now - timedelta(minutes=30 - i),
                    [],
                    facts={"system": system, "operation": operation, "error": error, "attempt": i + 1},
                )
            )
    return events
