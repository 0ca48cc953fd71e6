"""UBL 2.x documents → canonical events (DESIGN.md "The canonical event").

Every event: source ``ubl/<sender party id lowercased>`` (the party that issues the document: the
buyer of an Order, the seller of an OrderResponse, the despatching supplier of a DespatchAdvice…),
id ``<document type>:<cbc:ID>`` with ``:<cbc:UUID>`` appended when the document has one (the type
keeps an OrderChange 7 and an OrderCancellation 7 of the same buyer apart), time from
cbc:IssueDate + cbc:IssueTime (UTC when the time names no zone).

Orders live in the buyer's namespace ``po:<buyer party id lowercased>``; a seller's order number
(cbc:SalesOrderID) goes in ``so:<seller id>`` on the same object. A party's id is its first
cac:PartyIdentification/cbc:ID, else cbc:EndpointID, else the account id its partner assigned it,
else its company id, else its name (lowercased, runs of other characters as '-').
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterError, event
from adapters.ubl.xml import day, find, findall, instant, number, text

REJECTED_CODES = {"RE", "27", "REJECTED"}  # UN/ECE 4343 "rejected", "not accepted"
ACKNOWLEDGED_ONLY = {"AB"}  # message acknowledged, no decision yet

# Transport execution / condition status codes → milestone. UBL leaves the code list to the
# partners; these are the codes of the OASIS examples plus plain-word codes.
STATUS_MILESTONES = {
    "35": "shipment.exception",  # the OASIS example: "damage in the course of transportation"
    "damaged": "shipment.exception",
    "damage": "shipment.exception",
    "delayed": "shipment.exception",
    "lost": "shipment.exception",
    "exception": "shipment.exception",
    "departed": "shipment.in_transit",
    "in transit": "shipment.in_transit",
    "intransit": "shipment.in_transit",
    "picked up": "shipment.in_transit",
    "out for delivery": "shipment.out_for_delivery",
    "arrived": "shipment.delivered",
    "delivered": "shipment.delivered",
}
DAMAGE_CONDITION = {"4"}  # cac:Status/cbc:ConditionCode 4: damage (OASIS example)


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.strip().lower()).strip("-")


def party_id(wrapper: ET.Element | None) -> str:
    """The id of a party element (a cac:*Party holding cac:Party, or a cac:Party-like element itself)."""
    if wrapper is None:
        return ""
    party = find(wrapper, "cac:Party")
    if party is None:
        party = wrapper
    for value in (
        text(party, "cac:PartyIdentification/cbc:ID"),
        text(party, "cbc:EndpointID"),
        text(wrapper, "cbc:CustomerAssignedAccountID"),
        text(wrapper, "cbc:SupplierAssignedAccountID"),
        text(party, "cac:PartyLegalEntity/cbc:CompanyID"),
        text(party, "cac:PartyTaxScheme/cbc:CompanyID"),
    ):
        if value:
            return value.lower()
    return slug(text(party, "cac:PartyName/cbc:Name"))


def party_facts(wrapper: ET.Element | None) -> dict[str, str]:
    if wrapper is None:
        return {}
    party = find(wrapper, "cac:Party")
    if party is None:
        party = wrapper
    out = {"id": party_id(wrapper), "name": text(party, "cac:PartyName/cbc:Name")}
    return {k: v for k, v in out.items() if v}


# The issuing party per document type (the event's source).
SENDERS: dict[str, tuple[str, ...]] = {
    "Order": ("cac:BuyerCustomerParty",),
    "OrderChange": ("cac:BuyerCustomerParty",),
    "OrderCancellation": ("cac:BuyerCustomerParty",),
    "OrderResponse": ("cac:SellerSupplierParty",),
    "DespatchAdvice": ("cac:DespatchSupplierParty", "cac:SellerSupplierParty"),
    "ReceiptAdvice": ("cac:DeliveryCustomerParty", "cac:BuyerCustomerParty"),
    "InventoryReport": ("cac:InventoryReportingParty", "cac:SellerSupplierParty"),
    "TransportationStatus": ("cac:SenderParty", "cac:TransportServiceProviderParty", "cac:TransportUserParty"),
    "TransportProgressStatus": ("cac:SenderParty", "cac:SourceIssuerParty"),
}


@dataclass(slots=True)
class Doc:
    root: ET.Element
    kind: str
    notes: list[str]
    _sender: str = ""

    def where(self, path: str) -> str:
        return f"/{self.kind}/{path}"

    def need(self, path: str) -> str:
        value = text(self.root, path)
        if not value:
            raise AdapterError(self.where(path), "is required")
        return value

    @property
    def doc_id(self) -> str:
        return self.need("cbc:ID")

    @property
    def event_id(self) -> str:
        uuid = text(self.root, "cbc:UUID")
        return f"{self.kind}:{self.doc_id}" + (f":{uuid}" if uuid else "")

    @property
    def sender(self) -> str:
        if self._sender:
            return self._sender
        for path in SENDERS.get(self.kind, ()):
            found = party_id(find(self.root, path))
            if found:
                self._sender = found
                return found
        self._sender = "unknown"
        self.notes.append(f"{self.kind} {self.doc_id}: no sender party names an id or a name; source ubl/unknown")
        return "unknown"

    @property
    def source(self) -> str:
        return f"ubl/{self.sender}"

    def time(self) -> str:
        return instant(self.need("cbc:IssueDate"), text(self.root, "cbc:IssueTime"), self.where("cbc:IssueDate"))

    def buyer(self) -> str:
        for path in ("cac:BuyerCustomerParty", "cac:DeliveryCustomerParty", "cac:OriginatorCustomerParty"):
            found = party_id(find(self.root, path))
            if found:
                return found
        return "unknown"

    def seller(self) -> str:
        for path in ("cac:SellerSupplierParty", "cac:DespatchSupplierParty"):
            found = party_id(find(self.root, path))
            if found:
                return found
        return ""

    def facts(self) -> dict[str, Any]:
        ubl: dict[str, str] = {"document": self.kind, "id": self.doc_id}
        for key, path in (("uuid", "cbc:UUID"), ("version", "cbc:UBLVersionID"), ("profile", "cbc:ProfileID")):
            if text(self.root, path):
                ubl[key] = text(self.root, path)
        return {"ubl": ubl}

    def order(self, ref: ET.Element | None, po: str = "") -> dict[str, Any]:
        """An order object from a cac:OrderReference (or a bare PO number)."""
        ids = {f"po:{self.buyer()}": po or text(ref, "cbc:ID")}
        sales = text(ref, "cbc:SalesOrderID")
        seller = self.seller()
        if sales and seller:
            ids[f"so:{seller}"] = sales
        return {"type": "order", "ids": ids}


def item_sku(item: ET.Element | None) -> tuple[str | None, dict[str, str]]:
    ids: dict[str, str] = {}
    for key, path in (
        ("seller", "cac:SellersItemIdentification/cbc:ID"),
        ("buyer", "cac:BuyersItemIdentification/cbc:ID"),
        ("standard", "cac:StandardItemIdentification/cbc:ID"),
        ("manufacturer", "cac:ManufacturersItemIdentification/cbc:ID"),
    ):
        if text(item, path):
            ids[key] = text(item, path)
    return next(iter(ids.values()), None), ids


def line_facts(line: ET.Element, qty_path: str, n: int) -> dict[str, Any]:
    item = find(line, "cac:Item")
    sku, ids = item_sku(item)
    qty = find(line, qty_path)
    out: dict[str, Any] = {
        "line": text(line, "cbc:ID") or str(n),
        "sku": sku,
        "quantity": number(text(qty)) if qty is not None else None,
        "uom": qty.get("unitCode") if qty is not None else None,
    }
    if ids:
        out["product_ids"] = ids
    name = text(item, "cbc:Name") or text(item, "cbc:Description")
    if name:
        out["description"] = name
    for key, path in (("price", "cac:Price/cbc:PriceAmount"), ("amount", "cbc:LineExtensionAmount")):
        value = number(text(line, path))
        if value is not None:
            out[key] = value
    status = text(line, "cbc:LineStatusCode")
    if status:
        out["status"] = status
    return out


def _periods(doc: Doc, facts: dict[str, Any], paths: list[str]) -> None:
    """Requested delivery period → promised_delivery_date (its end, else its start) and the period itself."""
    for path in paths:
        period = find(doc.root, path)
        if period is None:
            continue
        start, end = day(text(period, "cbc:StartDate")), day(text(period, "cbc:EndDate"))
        promised = end or start
        if promised:
            facts["promised_delivery_date"] = promised
            facts["requested_delivery_period"] = {k: v for k, v in (("start", start), ("end", end)) if v}
            return


def _order_lines(doc: Doc) -> list[dict[str, Any]]:
    return [
        line_facts(li, "cbc:Quantity", n) for n, li in enumerate(findall(doc.root, "cac:OrderLine/cac:LineItem"), 1)
    ]


# ---------------------------------------------------------------- orders


def map_order(doc: Doc) -> list[dict[str, Any]]:
    po = doc.doc_id
    facts = doc.facts()
    facts["po_number"] = po
    facts["lines"] = _order_lines(doc)
    _periods(doc, facts, ["cac:Delivery/cac:RequestedDeliveryPeriod"])
    if "promised_delivery_date" not in facts:
        ends = [
            d
            for d in (
                day(text(p, "cbc:EndDate") or text(p, "cbc:StartDate"))
                for p in findall(doc.root, "cac:OrderLine/cac:LineItem/cac:Delivery/cac:RequestedDeliveryPeriod")
            )
            if d
        ]
        if ends:
            facts["promised_delivery_date"] = min(ends)
    currency = text(doc.root, "cbc:DocumentCurrencyCode")
    if currency:
        facts["currency"] = currency
    amount = number(text(doc.root, "cac:AnticipatedMonetaryTotal/cbc:PayableAmount"))
    if amount is not None:
        facts["amount"] = amount
    facts["buyer"] = party_facts(find(doc.root, "cac:BuyerCustomerParty"))
    facts["seller"] = party_facts(find(doc.root, "cac:SellerSupplierParty"))
    order = {"type": "order", "ids": {f"po:{doc.buyer()}": po}}
    return [
        event(
            doc.event_id,
            doc.source,
            "order.received",
            doc.time(),
            [order],
            dims={"channel": "ubl", "customer": doc.buyer()},
            facts=facts,
        )
    ]


def _referenced_order(doc: Doc) -> tuple[ET.Element, str]:
    ref = find(doc.root, "cac:OrderReference")
    po = text(ref, "cbc:ID")
    if ref is None or not po:
        raise AdapterError(doc.where("cac:OrderReference/cbc:ID"), "is required: the document names no order")
    return ref, po


def map_order_response(doc: Doc) -> list[dict[str, Any]]:
    ref, po = _referenced_order(doc)
    code = text(doc.root, "cbc:OrderResponseCode")
    etype = "order.rejected" if code.upper() in REJECTED_CODES else "order.accepted"
    if code.upper() in ACKNOWLEDGED_ONLY:
        doc.notes.append(f"OrderResponse {doc.doc_id}: response code {code!r} only acknowledges; read as accepted")
    facts = doc.facts()
    facts["po_number"] = po
    facts["response_code"] = code or None
    facts["lines"] = _order_lines(doc)
    _periods(doc, facts, ["cac:Delivery/cac:PromisedDeliveryPeriod", "cac:Delivery/cac:RequestedDeliveryPeriod"])
    sales = text(doc.root, "cbc:SalesOrderID") or text(ref, "cbc:SalesOrderID")
    order = doc.order(ref, po)
    if sales and doc.seller():
        order["ids"][f"so:{doc.seller()}"] = sales
        facts["seller_order_number"] = sales
    return [event(doc.event_id, doc.source, etype, doc.time(), [order], facts=facts)]


def map_order_change(doc: Doc) -> list[dict[str, Any]]:
    ref, po = _referenced_order(doc)
    facts = doc.facts()
    facts["po_number"] = po
    facts["lines"] = _order_lines(doc)
    seq = text(doc.root, "cbc:SequenceNumberID")
    if seq:
        facts["sequence"] = seq
    _periods(doc, facts, ["cac:Delivery/cac:RequestedDeliveryPeriod"])
    return [event(doc.event_id, doc.source, "order.changed", doc.time(), [doc.order(ref, po)], facts=facts)]


def map_order_cancellation(doc: Doc) -> list[dict[str, Any]]:
    ref, po = _referenced_order(doc)
    facts = doc.facts()
    facts["po_number"] = po
    note = text(doc.root, "cbc:CancellationNote")
    if note:
        facts["reason"] = note
    return [event(doc.event_id, doc.source, "order.cancelled", doc.time(), [doc.order(ref, po)], facts=facts)]


# ---------------------------------------------------------------- despatch / receipt


def _thu_ids(thu: ET.Element, sender: str) -> dict[str, str]:
    ident = find(thu, "cbc:ID")
    value = text(ident)
    if not value:
        return {}
    scheme = f"{ident.get('schemeID', '')} {ident.get('schemeName', '')}".lower() if ident is not None else ""
    return {"sscc" if "sscc" in scheme else f"thu:{sender}": value}


def map_despatch(doc: Doc) -> list[dict[str, Any]]:
    despatch = doc.doc_id
    sender = doc.sender
    objects: list[dict[str, Any]] = []
    relations: list[list[Any]] = []
    unit_index: dict[tuple[str, str], int] = {}

    def unit(thu: ET.Element) -> int | None:
        ids = _thu_ids(thu, sender)
        if not ids:
            return None
        key = next(iter(ids.items()))
        if key not in unit_index:
            unit_index[key] = len(objects)
            objects.append({"type": "shipment", "ids": ids})
        return unit_index[key]

    header_units = [
        i for i in (unit(t) for t in findall(doc.root, "cac:Shipment//cac:TransportHandlingUnit")) if i is not None
    ]
    line_units: list[tuple[ET.Element, list[int]]] = []
    for line in findall(doc.root, "cac:DespatchLine"):
        idx = [i for i in (unit(t) for t in findall(line, "cac:Shipment//cac:TransportHandlingUnit")) if i is not None]
        line_units.append((line, idx))
    whole: int | None = None
    if not objects:  # no handling units: the despatch as a whole is the consignment
        whole = len(objects)
        objects.append({"type": "shipment", "ids": {f"despatch:{sender}": despatch}})
    every = [whole] if whole is not None else list(unit_index.values())

    order_index: dict[str, int] = {}

    def order_at(ref: ET.Element) -> int | None:
        po = text(ref, "cbc:ID")
        if not po:
            return None
        if po not in order_index:
            order_index[po] = len(objects)
            objects.append(doc.order(ref))
        return order_index[po]

    def relate(i: int, j: int) -> None:
        pair = [min(i, j), max(i, j)]
        if i != j and pair not in relations:
            relations.append(pair)

    lines: list[dict[str, Any]] = []
    for n, (line, idx) in enumerate(line_units, 1):
        facts_line = line_facts(line, "cbc:DeliveredQuantity", n)
        backorder = number(text(line, "cbc:BackorderQuantity"))
        if backorder is not None:
            facts_line["backorder_quantity"] = backorder
        ref = find(line, "cac:OrderLineReference/cac:OrderReference")
        oi = order_at(ref) if ref is not None else None
        if oi is not None:
            facts_line["order"] = text(ref, "cbc:ID")
            facts_line["order_line"] = text(line, "cac:OrderLineReference/cbc:LineID")
            for u in idx or header_units or every:
                relate(oi, u)
        lines.append(facts_line)
    for ref in findall(doc.root, "cac:OrderReference"):
        oi = order_at(ref)
        if oi is None:
            continue
        linked = any(p[0] == oi or p[1] == oi for p in relations)
        if not linked or len(order_index) == 1:
            for u in header_units or every:
                relate(oi, u)
    if not order_index:
        doc.notes.append(f"DespatchAdvice {despatch}: no order reference; the shipment relates to no order")
    facts = doc.facts()
    facts["shipment_id"] = despatch
    facts["orders"] = list(order_index)
    facts["lines"] = lines
    carrier = text(doc.root, "cac:Shipment/cac:Consignment/cac:CarrierParty/cac:PartyName/cbc:Name")
    if carrier:
        facts["carrier"] = carrier
    period = find(doc.root, "cac:Shipment/cac:Delivery/cac:RequestedDeliveryPeriod")
    if period is not None:
        facts["requested_delivery_period"] = {
            k: v
            for k, v in (("start", day(text(period, "cbc:StartDate"))), ("end", day(text(period, "cbc:EndDate"))))
            if v
        }
    return [
        event(
            doc.event_id,
            doc.source,
            "shipment.manifested",
            doc.time(),
            objects,
            relations=relations,
            dims={"carrier": carrier} if carrier else None,
            facts=facts,
        )
    ]


def map_receipt(doc: Doc) -> list[dict[str, Any]]:
    facts = doc.facts()
    objects: list[dict[str, Any]] = []
    despatch_ref = find(doc.root, "cac:DespatchDocumentReference")
    despatch = text(despatch_ref, "cbc:ID")
    supplier = party_id(find(doc.root, "cac:DespatchSupplierParty")) or doc.seller()
    if despatch:
        objects.append({"type": "shipment", "ids": {f"despatch:{supplier or doc.sender}": despatch}})
        facts["shipment_id"] = despatch
    for thu in findall(doc.root, "cac:Shipment//cac:TransportHandlingUnit"):
        ids = _thu_ids(thu, supplier or doc.sender)
        if ids:
            objects.append({"type": "shipment", "ids": ids})
    shipments = list(range(len(objects)))
    orders: list[str] = []
    relations: list[list[Any]] = []
    for ref in findall(doc.root, "cac:OrderReference"):
        po = text(ref, "cbc:ID")
        if po and po not in orders:
            orders.append(po)
            oi = len(objects)
            objects.append(doc.order(ref))
            relations.extend([s, oi] for s in shipments)
    if not objects:
        raise AdapterError(
            doc.where("cac:DespatchDocumentReference"), "is required: the receipt names no despatch and no order"
        )
    facts["orders"] = orders
    lines: list[dict[str, Any]] = []
    for n, line in enumerate(findall(doc.root, "cac:ReceiptLine"), 1):
        entry = line_facts(line, "cbc:ReceivedQuantity", n)
        for key, path in (("short_quantity", "cbc:ShortQuantity"), ("rejected_quantity", "cbc:RejectedQuantity")):
            value = number(text(line, path))
            if value is not None:
                entry[key] = value
        reason = text(line, "cbc:RejectReasonCode") or text(line, "cbc:RejectReason")
        if reason:
            entry["reject_reason"] = reason
        lines.append(entry)
    facts["lines"] = lines
    if any("damage" in str(line.get("reject_reason", "")).lower() for line in lines):
        facts["damaged"] = True
    delivery = find(doc.root, "cac:Shipment/cac:Delivery")
    actual = text(delivery, "cbc:ActualDeliveryDate")
    when = (
        instant(actual, text(delivery, "cbc:ActualDeliveryTime"), doc.where("cac:Shipment/cac:Delivery"))
        if actual
        else doc.time()
    )
    facts["received_at"] = doc.time()
    return [
        event(
            doc.event_id,
            doc.source,
            "shipment.delivered",
            when,
            objects,
            relations=relations if len(objects) > 1 else None,
            facts=facts,
        )
    ]


# ---------------------------------------------------------------- inventory


def map_inventory(doc: Doc) -> list[dict[str, Any]]:
    period = find(doc.root, "cac:InventoryPeriod")
    as_of = (
        instant(
            text(period, "cbc:EndDate") or text(period, "cbc:StartDate"),
            text(period, "cbc:EndTime") if text(period, "cbc:EndDate") else text(period, "cbc:StartTime"),
            doc.where("cac:InventoryPeriod"),
        )
        if period is not None and (text(period, "cbc:EndDate") or text(period, "cbc:StartDate"))
        else doc.time()
    )
    sender = doc.sender
    out: list[dict[str, Any]] = []
    lines = findall(doc.root, "cac:InventoryReportLine")
    for n, line in enumerate(lines, 1):
        qty = find(line, "cbc:Quantity")
        quantity = number(text(qty))
        sku, ids = item_sku(find(line, "cac:Item"))
        if quantity is None or not sku:
            doc.notes.append(f"InventoryReport {doc.doc_id}: line {text(line, 'cbc:ID') or n} has no quantity or item")
            continue
        warehouse = text(line, "cac:InventoryLocation/cbc:ID") or text(line, "cac:InventoryLocation/cbc:Name")
        facts = doc.facts()
        facts.update(
            {
                "system": doc.source,
                "as_of": as_of,
                "line": text(line, "cbc:ID") or str(n),
                "sku": sku,
                "product_ids": ids,
                "on_hand": quantity,
                "uom": qty.get("unitCode") if qty is not None else None,
            }
        )
        value = number(text(line, "cbc:InventoryValueAmount"))
        if value is not None:
            facts["value"] = value
        if warehouse:
            facts["warehouse"] = warehouse
        out.append(
            event(
                f"{doc.event_id}-{facts['line']}",
                doc.source,
                "inventory.snapshot",
                doc.time(),
                [{"type": "product", "ids": {f"sku:{sender}": sku}}],
                dims={"warehouse": warehouse} if warehouse else None,
                facts=facts,
            )
        )
    return out


# ---------------------------------------------------------------- transport status


def _milestone(codes: list[str]) -> str:
    for code in codes:
        found = STATUS_MILESTONES.get(code.strip().lower())
        if found:
            return found
    return "shipment.status_updated"


def map_transport_status(doc: Doc) -> list[dict[str, Any]]:
    sender = doc.sender
    objects: list[dict[str, Any]] = []
    relations: list[list[Any]] = []
    facts = doc.facts()
    for consignment in findall(doc.root, "cac:Consignment"):
        ci: int | None = None
        if text(consignment, "cbc:ID"):
            ci = len(objects)
            objects.append({"type": "shipment", "ids": {f"consignment:{sender}": text(consignment, "cbc:ID")}})
        for thu in findall(consignment, "cac:TransportHandlingUnit"):
            ids = _thu_ids(thu, sender)
            if not ids:
                continue
            ti = len(objects)
            objects.append({"type": "shipment", "ids": ids})
            if ci is not None:
                relations.append([ci, ti])
            for equipment in findall(thu, "cac:TransportEquipment"):
                if text(equipment, "cbc:ID"):
                    relations.append([ti, len(objects)])
                    objects.append({"type": "load", "ids": {f"equipment:{sender}": text(equipment, "cbc:ID")}})
    journey = text(doc.root, "cac:TransportMeans/cbc:JourneyID")
    if journey:
        objects.append({"type": "load", "ids": {f"journey:{sender}": journey}})
        facts["journey"] = journey
    for key, path in (
        ("status_request", "cac:TransportProgressStatusRequestDocumentReference/cbc:ID"),
        ("transport_execution_plan", "cac:TransportExecutionPlanDocumentReference/cbc:ID"),
    ):
        if text(doc.root, path):
            facts[key] = text(doc.root, path)
    if not objects:
        ref = facts.get("status_request") or facts.get("transport_execution_plan") or doc.doc_id
        objects.append({"type": "shipment", "ids": {f"transport:{sender}": ref}})
    code = text(doc.root, "cbc:TransportExecutionStatusCode")
    statuses = findall(doc.root, "cac:Consignment//cac:Status") + findall(doc.root, "cac:Status")
    conditions = [text(s, "cbc:ConditionCode") for s in statuses if text(s, "cbc:ConditionCode")]
    reasons = [text(s, "cbc:StatusReason") for s in statuses if text(s, "cbc:StatusReason")]
    reason_codes = [text(s, "cbc:StatusReasonCode") for s in statuses if text(s, "cbc:StatusReasonCode")]
    facts["status_code"] = code or None
    if text(doc.root, "cbc:TransportationStatusTypeCode"):
        facts["status_type"] = text(doc.root, "cbc:TransportationStatusTypeCode")
    if conditions:
        facts["condition_codes"] = conditions
    if reason_codes:
        facts["status_reason_codes"] = reason_codes
    if reasons:
        facts["status_text"] = "; ".join(reasons)
    etype = _milestone([code] if code else [])
    if any(c in DAMAGE_CONDITION for c in conditions):
        facts["damaged"] = True
        if etype == "shipment.status_updated":
            etype = "shipment.exception"
    for key, path in (
        ("estimated_arrival", "cac:TransportSchedule/cac:EstimatedArrivalTransportEvent/cac:Period"),
        ("actual_arrival", "cac:TransportSchedule/cac:ActualArrivalTransportEvent/cac:Period"),
        ("estimated_departure", "cac:TransportSchedule/cac:EstimatedDepartureTransportEvent/cac:Period"),
        ("actual_departure", "cac:TransportSchedule/cac:ActualDepartureTransportEvent/cac:Period"),
    ):
        period = find(doc.root, path)
        if period is not None and text(period, "cbc:StartDate"):
            facts[key] = instant(text(period, "cbc:StartDate"), text(period, "cbc:StartTime"), doc.where(path))
    location = text(doc.root, "cac:TransportSchedule/cac:StatusLocation/cac:Address/cbc:ID")
    if location:
        facts["location"] = location
    return [
        event(
            doc.event_id,
            doc.source,
            etype,
            doc.time(),
            objects,
            relations=relations if len(objects) > 1 else None,
            facts=facts,
        )
    ]


MAPPERS: dict[str, Callable[[Doc], list[dict[str, Any]]]] = {
    "Order": map_order,
    "OrderResponse": map_order_response,
    "OrderChange": map_order_change,
    "OrderCancellation": map_order_cancellation,
    "DespatchAdvice": map_despatch,
    "ReceiptAdvice": map_receipt,
    "InventoryReport": map_inventory,
    "TransportationStatus": map_transport_status,
    "TransportProgressStatus": map_transport_status,
}
