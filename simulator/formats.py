"""Each system's native payloads, as the real systems write them.

Pure functions: records in, bytes out. Nothing here knows the simulation; `simulator.engine`
decides what is said and when, these only say it the way a Shopify store, an X12 trading
partner, a Mirakl marketplace, a WMS export, EasyPost or the USPS tracking API would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import orjson

JsonObj = dict[str, Any]


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# ---------------------------------------------------------------- Shopify webhooks


def shopify_headers(body: bytes, topic: str, shop: str, webhook_id: str, secret: str, at: datetime) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Triggered-At": iso(at),
        "X-Shopify-API-Version": "2025-07",
    }


def shopify_order(
    order_id: int,
    number: int,
    at: datetime,
    customer_id: int,
    lines: Sequence[tuple[str, str, int, float]],
    promised_ship: str,
    promised_delivery: str,
    cancelled_at: datetime | None = None,
) -> bytes:
    total = sum(q * p for _, _, q, p in lines)
    order: JsonObj = {
        "id": order_id,
        "name": f"#{number}",
        "order_number": number,
        "created_at": iso(at),
        "updated_at": iso(cancelled_at or at),
        "currency": "USD",
        "financial_status": "paid" if cancelled_at is None else "refunded",
        "fulfillment_status": None,
        "total_price": f"{total:.2f}",
        "customer": {"id": customer_id},
        "line_items": [
            {"id": int(line_id), "sku": sku, "quantity": qty, "price": f"{price:.2f}", "variant_id": None}
            for line_id, sku, qty, price in lines
        ],
        "note_attributes": [
            {"name": "promised_ship_date", "value": promised_ship},
            {"name": "promised_delivery_date", "value": promised_delivery},
        ],
    }
    if cancelled_at is not None:
        order["cancelled_at"] = iso(cancelled_at)
        order["cancel_reason"] = "customer"
    return dumps(order)


def shopify_fulfillment(
    fulfillment_id: int,
    order_id: int,
    number: int,
    at: datetime,
    company: str,
    tracking: str,
    lines: Sequence[tuple[str, str, int]],
) -> bytes:
    return dumps(
        {
            "id": fulfillment_id,
            "order_id": order_id,
            "name": f"#{number}.{fulfillment_id % 10 or 1}",
            "status": "success",
            "created_at": iso(at),
            "updated_at": iso(at),
            "tracking_company": company,
            "tracking_number": tracking,
            "tracking_numbers": [tracking],
            "line_items": [{"id": int(line_id), "sku": sku, "quantity": qty} for line_id, sku, qty in lines],
        }
    )


# ---------------------------------------------------------------- X12


def x12_interchange(
    sender: str, receiver: str, functional_id: str, control: int, at: datetime, sets: Sequence[tuple[str, list[str]]]
) -> bytes:
    """One interchange with one functional group: `sets` are (set id, segments without ST/SE)."""
    isa = (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*{at:%y%m%d}*{at:%H%M}*U*00401*{control:09d}*0*P*>"
    )
    out = [isa, f"GS*{functional_id}*{sender}*{receiver}*{at:%Y%m%d}*{at:%H%M}*{control}*X*004010"]
    for n, (set_id, segments) in enumerate(sets, 1):
        st = f"{n:04d}"
        out.append(f"ST*{set_id}*{st}")
        out.extend(segments)
        out.append(f"SE*{len(segments) + 2}*{st}")
    out.append(f"GE*{len(sets)}*{control}")
    out.append(f"IEA*1*{control:09d}")
    return ("~\n".join(out) + "~\n").encode("ascii")


FUNCTIONAL_IDS = {
    "850": "PO",
    "855": "PR",
    "856": "SH",
    "810": "IN",
    "997": "FA",
    "214": "QM",
    "940": "OW",
    "945": "SW",
    "846": "IB",
}


def x12_850(
    po: str, at: datetime, ship_date: str, delivery_date: str, store: str, lines: Sequence[tuple[str, str, int, float]]
) -> list[str]:
    segs = [
        f"BEG*00*SA*{po}**{at:%Y%m%d}",
        f"DTM*010*{ship_date.replace('-', '')}",
        f"DTM*002*{delivery_date.replace('-', '')}",
        f"N1*ST*Store {store}*92*{store}",
    ]
    segs += [f"PO1*{line}*{qty}*EA*{price:.2f}**VP*{sku}" for line, sku, qty, price in lines]
    segs.append(f"CTT*{len(lines)}")
    return segs


def x12_855(po: str, so: str, at: datetime, lines: Sequence[tuple[str, str, int, float]]) -> list[str]:
    segs = [f"BAK*00*AC*{po}*{at:%Y%m%d}****{so}*{at:%Y%m%d}"]
    for line, sku, qty, price in lines:
        segs += [f"PO1*{line}*{qty}*EA*{price:.2f}**VP*{sku}", f"ACK*IA*{qty}*EA"]
    segs.append(f"CTT*{len(lines)}")
    return segs


def x12_856(
    shipment_id: str,
    at: datetime,
    scac: str,
    bol: str,
    orders: Sequence[tuple[str, Sequence[tuple[str, Sequence[tuple[str, str, int]]]]]],
) -> list[str]:
    """A consolidated ASN: the load (BOL), then per order (PO) its packs, each with its tracking and items."""
    segs = [f"BSN*00*{shipment_id}*{at:%Y%m%d}*{at:%H%M}", "HL*1**S", f"TD5**2*{scac}", f"REF*BM*{bol}"]
    hl = 1
    for po, packs in orders:
        hl += 1
        order_hl = hl
        segs += [f"HL*{order_hl}*1*O", f"PRF*{po}"]
        for tracking, items in packs:
            hl += 1
            pack_hl = hl
            segs += [f"HL*{pack_hl}*{order_hl}*P", f"REF*CN*{tracking}"]
            for line, sku, qty in items:
                hl += 1
                segs += [f"HL*{hl}*{pack_hl}*I", f"LIN*{line}*VP*{sku}", f"SN1**{qty}*EA"]
    segs.append(f"CTT*{hl}")
    return segs


def x12_810(invoice: str, po: str, at: datetime, lines: Sequence[tuple[str, str, int, float]]) -> list[str]:
    segs = [f"BIG*{at:%Y%m%d}*{invoice}*{at:%Y%m%d}*{po}"]
    segs += [f"IT1*{line}*{qty}*EA*{price:.2f}**VP*{sku}" for line, sku, qty, price in lines]
    total = round(sum(q * p for _, _, q, p in lines) * 100)
    segs += [f"TDS*{total}", f"CTT*{len(lines)}"]
    return segs


def x12_997(functional_id: str, group_control: int, set_ids: Sequence[tuple[str, str]]) -> list[str]:
    segs = [f"AK1*{functional_id}*{group_control}"]
    for set_id, control in set_ids:
        segs += [f"AK2*{set_id}*{control}", "AK5*A"]
    segs.append(f"AK9*A*{len(set_ids)}*{len(set_ids)}*{len(set_ids)}")
    return segs


def x12_214(tracking: str, reference: str, scac: str, po: str, code: str, at: datetime, city: str) -> list[str]:
    return [
        f"B10*{tracking}*{reference}*{scac}",
        f"L11*{po}*PO",
        f"AT7*{code}*NS***{at:%Y%m%d}*{at:%H%M}*UT",
        f"MS1*{city}*US",
    ]


def x12_940(so: str, po: str, ship_date: str, lines: Sequence[tuple[str, str, int]]) -> list[str]:
    segs = [f"W05*N*{so}*{po}", f"G62*10*{ship_date.replace('-', '')}"]
    segs += [f"W01*{qty}*EA**VN*{sku}" for _, sku, qty in lines]
    segs.append(f"W76*{sum(q for _, _, q in lines)}")
    return segs


def x12_945(so: str, shipment: str, at: datetime, lines: Sequence[tuple[str, str, int]]) -> list[str]:
    segs = [f"W06*N*{so}*{at:%Y%m%d}*{shipment}", f"G62*11*{at:%Y%m%d}*8*{at:%H%M%S}"]
    segs += [f"W12*CC*{qty}*{qty}**EA**VN*{sku}" for _, sku, qty in lines]
    segs.append(f"W03*{sum(q for _, _, q in lines)}")
    return segs


def x12_846(reference: str, at: datetime, warehouse: str, stock: Sequence[tuple[str, int, int]]) -> list[str]:
    segs = [f"BIA*00*SI*{reference}*{at:%Y%m%d}*{at:%H%M}", f"N1*WH*{warehouse}*92*{warehouse}"]
    for sku, on_hand, available in stock:
        segs += [f"LIN**VN*{sku}", f"QTY*17*{on_hand}", f"QTY*33*{available}"]
    return segs


# ---------------------------------------------------------------- Mirakl-style marketplace orders (OR11)


def mirakl_orders(orders: Sequence[JsonObj]) -> bytes:
    return dumps({"orders": list(orders), "total_count": len(orders)})


def mirakl_order(
    order_id: str,
    commercial_id: str,
    state: str,
    at: datetime,
    updated: datetime,
    lines: Sequence[tuple[str, str, int, float]],
    deadline: str,
    delivery: str,
) -> JsonObj:
    return {
        "order_id": order_id,
        "commercial_id": commercial_id,
        "order_state": state,
        "created_date": iso(at),
        "last_updated_date": iso(updated),
        "shipping_deadline": deadline,
        "delivery_date": {"latest": delivery},
        "currency_iso_code": "USD",
        "order_lines": [
            {"order_line_id": f"{order_id}-{line}", "offer_sku": sku, "quantity": qty, "price": price}
            for line, sku, qty, price in lines
        ],
    }


# ---------------------------------------------------------------- WMS confirmation file (CSV)

WMS_CSV_HEADER = "order_no,pick_ticket,status,sku,qty,warehouse,tracking,carrier,confirmed_at"


def wms_csv(rows: Sequence[tuple[str, str, str, str, int, str, str, str, datetime]]) -> bytes:
    lines = [WMS_CSV_HEADER]
    for order_no, ticket, status, sku, qty, warehouse, tracking, carrier, at in rows:
        lines.append(f"{order_no},{ticket},{status},{sku},{qty},{warehouse},{tracking},{carrier},{iso(at)}")
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- EasyPost tracker webhooks

EASYPOST_STATUS_DETAIL = {
    "pre_transit": "label_created",
    "in_transit": "arrived_at_facility",
    "out_for_delivery": "out_for_delivery",
    "delivered": "arrived_at_destination",
    "failure": "address_not_found",
}


def easypost_event(
    event_id: str,
    tracker_id: str,
    tracking: str,
    carrier: str,
    status: str,
    at: datetime,
    history: Sequence[tuple[str, datetime, str]],
    previous: str | None,
) -> bytes:
    details = [
        {
            "object": "TrackingDetail",
            "status": s,
            "message": m,
            "datetime": iso(t),
            "source": carrier,
            "tracking_location": {"object": "TrackingLocation", "city": "MEMPHIS", "state": "TN", "country": "US"},
        }
        for s, t, m in history
    ]
    body: JsonObj = {
        "object": "Event",
        "id": event_id,
        "mode": "production",
        "description": "tracker.updated",
        "created_at": iso(at),
        "updated_at": iso(at),
        "status": "pending",
        "result": {
            "object": "Tracker",
            "id": tracker_id,
            "mode": "production",
            "tracking_code": tracking,
            "status": status,
            "status_detail": EASYPOST_STATUS_DETAIL.get(status, "unknown"),
            "carrier": carrier,
            "created_at": iso(history[0][1]) if history else iso(at),
            "updated_at": iso(at),
            "tracking_details": details,
        },
    }
    if previous:
        body["previous_attributes"] = {"status": previous}
    return dumps(body)


def easypost_headers(body: bytes, secret: str, at: datetime, path: str = "/v1/adapters/easypost") -> dict[str, str]:
    """Both of EasyPost's signatures: the body's, and V2 over X-Timestamp (the send time) + POST + X-Path + body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    stamp = format_datetime(at.astimezone(UTC)).replace("+0000", "-0000")
    signed = stamp.encode() + b"POST" + path.encode() + body
    v2 = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Hmac-Signature": f"hmac-sha256-hex={digest}",
        "X-Hmac-Signature-V2": f"hmac-sha256-hex={v2}",
        "X-Timestamp": stamp,
        "X-Path": path,
    }


# ---------------------------------------------------------------- USPS tracking API (v3 responses)

USPS_CATEGORY = {
    "in_transit": ("10", "In Transit"),
    "out_for_delivery": ("OF", "Out for Delivery"),
    "delivered": ("01", "Delivered"),
    "exception": ("02", "Alert"),
}


def usps_tracking(items: Sequence[tuple[str, str, datetime, str]]) -> bytes:
    """A batch of tracking responses: (tracking number, status, time, city)."""
    out = []
    for tracking, status, at, city in items:
        code, category = USPS_CATEGORY[status]
        out.append(
            {
                "trackingNumber": tracking,
                "statusCategory": category,
                "status": category,
                "statusSummary": f"{category} at {city}",
                "trackingEvents": [
                    {
                        "eventCode": code,
                        "eventType": category,
                        "GMTTimestamp": iso(at),
                        "eventCity": city,
                        "eventState": "IL",
                        "eventZIP": "60601",
                    }
                ],
            }
        )
    return dumps(out)


# ---------------------------------------------------------------- canonical events (the SDK's NDJSON)


def canonical(
    event_id: str,
    source: str,
    etype: str,
    at: datetime,
    objects: list[JsonObj],
    *,
    dims: JsonObj | None = None,
    facts: JsonObj | None = None,
    traceparent: str | None = None,
    relations: list[list[Any]] | None = None,
) -> JsonObj:
    data: JsonObj = {"objects": objects}
    if relations is not None:
        data["relations"] = relations
    if dims:
        data["dims"] = dims
    if facts:
        data["facts"] = facts
    out: JsonObj = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": etype,
        "time": iso(at),
        "data": data,
    }
    if traceparent:
        out["traceparent"] = traceparent
    return out


def ndjson(events: Sequence[JsonObj]) -> bytes:
    return b"\n".join(dumps(e) for e in events) + b"\n"
