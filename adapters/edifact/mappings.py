"""EDIFACT messages → canonical events (DESIGN.md "The canonical event").

Every event: source ``edifact/<UNB sender>``, id ``<UNB control ref>-<UNH message ref>``, time from
the message's document date (DTM 137, else the message's own date), falling back to the UNB
date/time. A DTM with a zone (format 303) says where; other dates and times (102, 203, 204, the UNB
date/time) are the sender's local time (`Context.local`, from TOWER_EDI_PARTNER_ZONES by UNB
sender; UTC by default), a bare date the start of that day there.

Orders live in the buyer's namespace ``po:<buyer id lowercased>``: the NAD+BY party id when the
message names one, else the UNB sender of an ORDERS or the UNB recipient of a DESADV / INVOIC (a
seller sends those back to the buyer).

Mapped: ORDERS order.received, DESADV shipment.manifested, INVOIC order.invoiced. Any other
message yields no event and a note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from adapters.base import AdapterError, event
from adapters.edifact.envelope import Interchange, Message, Segment

# DTM C507 format codes (code list 2379) → strptime pattern.
DATE_FORMATS = {
    "102": "%Y%m%d",
    "101": "%y%m%d",
    "203": "%Y%m%d%H%M",
    "204": "%Y%m%d%H%M%S",
    "201": "%y%m%d%H%M",
}
DELIVERY_DATES = {"2", "69", "63", "64"}  # requested, promised, latest, earliest delivery
SHIP_DATES = {"10", "200"}  # shipment requested, pick-up
INVOICE_TOTALS = ("77", "86", "39", "128", "79")  # invoice amount, message total, invoice total, total due, lines


@dataclass(slots=True)
class Context:
    interchange: Interchange
    message: Message
    notes: list[str]
    local: tzinfo = UTC  # the sender's zone: dates and times without one are its wall clock

    @property
    def source(self) -> str:
        return f"edifact/{self.interchange.sender}"

    @property
    def event_id(self) -> str:
        return f"{self.interchange.control}-{self.message.ref}"

    def where(self, element: str) -> str:
        return f"{self.message.type} {self.message.ref} {element}"

    def first(self, tag: str, qualifier: str | None = None) -> Segment | None:
        for seg in self.message.segments:
            if seg.tag == tag and (qualifier is None or seg.get(1) == qualifier):
                return seg
        return None

    def all(self, tag: str) -> list[Segment]:
        return [s for s in self.message.segments if s.tag == tag]

    def number(self, text: str) -> int | float | None:
        return number(text)

    def party(self, *qualifiers: str) -> str:
        """The party id (NAD C082) of the first NAD with one of `qualifiers`."""
        for qual in qualifiers:
            for seg in self.message.segments:
                if seg.tag == "NAD" and seg.get(1) == qual and seg.get(2):
                    return seg.get(2)
        return ""

    def time(self, *qualifiers: str) -> str:
        """The first DTM of `qualifiers` that reads as a date, else the UNB date/time."""
        for qual in qualifiers:
            for seg in self.message.segments:
                if seg.tag == "DTM" and seg.get(1, 1) == qual:
                    when = dtm_instant(seg, self.local)
                    if when:
                        return when
        when = unb_instant(self.interchange.date, self.interchange.time, self.local)
        if when is None:
            raise AdapterError("UNB04", f"no usable document date and UNB date {self.interchange.date!r} is unreadable")
        return when

    def facts(self) -> dict[str, Any]:
        ic, msg = self.interchange, self.message
        edifact = {
            "message": msg.type,
            "version": msg.version,
            "interchange": ic.control,
            "reference": msg.ref,
            "sender": ic.sender,
            "recipient": ic.recipient,
        }
        if msg.association:
            edifact["association"] = msg.association
        if msg.group:
            edifact["group"] = msg.group
        return {"edifact": edifact}


def number(text: str) -> int | float | None:
    """An EDIFACT numeric value; ',' and '.' are both read as the decimal mark (the syntax lets
    either appear, whatever UNA advises)."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def _parse(text: str, fmt: str) -> datetime | None:
    pattern = DATE_FORMATS.get(fmt)
    if pattern is None:
        return None
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        return None


def dtm_instant(seg: Segment, local: tzinfo = UTC) -> str | None:
    """DTM C507 (qualifier, value, format) → RFC 3339 UTC, or None when unreadable. A value without
    a zone (all but 303) is wall time in `local`, with the zone's rules for that date (fold=0)."""
    value, fmt = seg.get(1, 2), seg.get(1, 3) or "102"
    if fmt == "303" and len(value) >= 15:  # CCYYMMDDHHMM + zone (ZZZ: hours offset, e.g. +01, or UTC)
        moment = _parse(value[:12], "203")
        if moment is None:
            return None
        zone = value[12:]
        hours = int(zone) if zone.lstrip("+-").isdigit() else 0
        return (moment - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    moment = _parse(value, fmt)
    if moment is None:  # a format code that does not fit the value (DTM+137:199910060000:102): go by length
        moment = _parse(value, {8: "102", 12: "203", 14: "204"}.get(len(value), ""))
    if moment is None:
        return None
    return moment.replace(tzinfo=local).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dtm_date(seg: Segment) -> str | None:
    """The date as written (a promised date is a calendar day, in no zone)."""
    moment = dtm_instant(seg)
    return moment[:10] if moment else None


def unb_instant(date: str, hhmm: str, local: tzinfo = UTC) -> str | None:
    """UNB S004: YYMMDD (syntax 1-3) or CCYYMMDD (syntax 4), and HHMM, wall time in `local`."""
    fmt = "%Y%m%d" if len(date) == 8 else "%y%m%d"
    try:
        day = datetime.strptime(date, fmt)
    except ValueError:
        return None
    if len(hhmm) == 4 and hhmm.isdigit() and int(hhmm[:2]) < 24 and int(hhmm[2:]) < 60:
        day = day.replace(hour=int(hhmm[:2]), minute=int(hhmm[2:]))
    return day.replace(tzinfo=local).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _promised(segs: Iterable[Segment], facts: dict[str, Any]) -> None:
    for seg in segs:
        if seg.tag != "DTM":
            continue
        qual = seg.get(1, 1)
        key = (
            "promised_delivery_date" if qual in DELIVERY_DATES else "promised_ship_date" if qual in SHIP_DATES else None
        )
        when = dtm_date(seg)
        if key and when and (key not in facts or when < facts[key]):
            facts[key] = when


def _split(ctx: Context, first_detail: str = "LIN") -> tuple[list[Segment], list[list[Segment]], list[Segment]]:
    """Header segments, LIN groups (each starting at its LIN), summary segments (from UNS on)."""
    header: list[Segment] = []
    groups: list[list[Segment]] = []
    summary: list[Segment] = []
    for seg in ctx.message.segments:
        if seg.tag == "UNS" or summary:
            summary.append(seg)
        elif seg.tag == first_detail:
            groups.append([seg])
        elif groups:
            groups[-1].append(seg)
        else:
            header.append(seg)
    return header, groups, summary


def _line(ctx: Context, group: list[Segment], qty_qualifiers: tuple[str, ...], n: int) -> dict[str, Any]:
    lin = group[0]
    product_ids: dict[str, str] = {}
    if lin.get(3):
        product_ids[lin.get(3, 2) or "item"] = lin.get(3)
    for pia in (s for s in group if s.tag == "PIA"):
        for k in range(2, len(pia) + 1):
            if pia.get(k) and pia.get(k, 2) and pia.get(k, 2) not in product_ids:
                product_ids[pia.get(k, 2)] = pia.get(k)
    qtys = [s for s in group if s.tag == "QTY"]
    qty = next((q for qual in qty_qualifiers for q in qtys if q.get(1, 1) == qual), qtys[0] if qtys else None)
    line: dict[str, Any] = {
        "line": lin.get(1) or str(n),
        "sku": lin.get(3) or next(iter(product_ids.values()), None),
        "quantity": ctx.number(qty.get(1, 2)) if qty else None,
        "uom": (qty.get(1, 3) or None) if qty else None,
    }
    if product_ids:
        line["product_ids"] = product_ids
    description = next((s.get(3, 4) for s in group if s.tag == "IMD" and s.get(3, 4)), "")
    if description:
        line["description"] = description
    price = next((s for s in group if s.tag == "PRI"), None)
    if price and ctx.number(price.get(1, 2)) is not None:
        line["price"] = ctx.number(price.get(1, 2))
    amount = next((s for s in group if s.tag == "MOA" and s.get(1, 1) in ("203", "66", "38")), None)
    if amount and ctx.number(amount.get(1, 2)) is not None:
        line["amount"] = ctx.number(amount.get(1, 2))
    order = next((s.get(1, 2) for s in group if s.tag == "RFF" and s.get(1, 1) == "ON" and s.get(1, 2)), "")
    if order:
        line["order"] = order
    return line


def _parties(ctx: Context) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for seg in ctx.all("NAD"):
        qual = seg.get(1)
        if not qual or qual in out:
            continue
        entry = {"id": seg.get(2), "name": seg.get(4) or seg.get(3)}
        out[qual] = {k: v for k, v in entry.items() if v}
    return out


# ---------------------------------------------------------------- ORDERS


def map_orders(ctx: Context) -> list[dict[str, Any]]:
    bgm = ctx.first("BGM")
    if bgm is None or not bgm.get(2):
        raise AdapterError(ctx.where("BGM02"), "the order has no document number")
    buyer = ctx.party("BY") or ctx.interchange.sender
    header, groups, _ = _split(ctx)
    facts = ctx.facts()
    facts["po_number"] = bgm.get(2)
    facts["document_code"] = bgm.get(1)
    facts["lines"] = [_line(ctx, g, ("21",), n) for n, g in enumerate(groups, 1)]
    facts["parties"] = _parties(ctx)
    _promised(header, facts)
    if "promised_delivery_date" not in facts and "promised_ship_date" not in facts:
        _promised((s for g in groups for s in g), facts)
    order = {"type": "order", "ids": {f"po:{buyer.lower()}": bgm.get(2)}}
    return [
        event(
            ctx.event_id,
            ctx.source,
            "order.received",
            ctx.time("137", "4"),
            [order],
            dims={"channel": "edi", "customer": buyer},
            facts=facts,
        )
    ]


# ---------------------------------------------------------------- INVOIC


def map_invoic(ctx: Context) -> list[dict[str, Any]]:
    bgm = ctx.first("BGM")
    if bgm is None or not bgm.get(2):
        raise AdapterError(ctx.where("BGM02"), "the invoice has no document number")
    seller = ctx.party("SE", "SU", "II") or ctx.interchange.sender
    buyer = ctx.party("BY") or ctx.interchange.recipient
    header, groups, summary = _split(ctx)
    objects: list[dict[str, Any]] = [{"type": "invoice", "ids": {f"invoice:{seller.lower()}": bgm.get(2)}}]
    relations: list[list[Any]] = []
    orders: list[str] = []
    for seg in ctx.all("RFF"):
        if seg.get(1, 1) == "ON" and seg.get(1, 2) and seg.get(1, 2) not in orders:
            orders.append(seg.get(1, 2))
    for po in orders:
        relations.append([0, len(objects)])
        objects.append({"type": "order", "ids": {f"po:{buyer.lower()}": po}})
    facts = ctx.facts()
    facts["invoice_number"] = bgm.get(2)
    facts["document_code"] = bgm.get(1)
    if bgm.get(1) == "381":
        facts["credit_note"] = True
    facts["orders"] = orders
    facts["lines"] = [_line(ctx, g, ("47", "12"), n) for n, g in enumerate(groups, 1)]
    amounts: dict[str, int | float] = {}
    for seg in summary or header:
        if seg.tag == "MOA" and ctx.number(seg.get(1, 2)) is not None and seg.get(1, 1) not in amounts:
            value = ctx.number(seg.get(1, 2))
            assert value is not None
            amounts[seg.get(1, 1)] = value
    facts["amounts"] = amounts
    total = next((amounts[q] for q in INVOICE_TOTALS if q in amounts), None)
    if total is not None:
        facts["amount"] = total
    cux = ctx.first("CUX")
    if cux and cux.get(1, 2):
        facts["currency"] = cux.get(1, 2)
    facts["parties"] = _parties(ctx)
    if not orders:
        ctx.notes.append(f"INVOIC {ctx.message.ref}: no RFF+ON order reference; the invoice relates to no order")
    return [
        event(
            ctx.event_id,
            ctx.source,
            "order.invoiced",
            ctx.time("137", "3"),
            objects,
            relations=relations,
            dims={"channel": "edi", "customer": buyer},
            facts=facts,
        )
    ]


# ---------------------------------------------------------------- DESADV


@dataclass(slots=True)
class _Level:
    cps: str
    parent: str
    segments: list[Segment]


def map_desadv(ctx: Context) -> list[dict[str, Any]]:
    bgm = ctx.first("BGM")
    if bgm is None or not bgm.get(2):
        raise AdapterError(ctx.where("BGM02"), "the despatch advice has no document number")
    despatch = bgm.get(2)
    buyer = ctx.party("BY") or ctx.interchange.recipient
    sender = ctx.party("SU", "SE", "CZ") or ctx.interchange.sender
    header: list[Segment] = []
    levels: list[_Level] = []
    for seg in ctx.message.segments:
        if seg.tag == "CPS":
            levels.append(_Level(seg.get(1), seg.get(2), []))
        elif levels:
            levels[-1].segments.append(seg)
        else:
            header.append(seg)
    by_id = {lv.cps: lv for lv in levels}

    def ancestors(lv: _Level) -> list[_Level]:
        out: list[_Level] = []
        seen = {lv.cps}
        while lv.parent in by_id and lv.parent not in seen:
            lv = by_id[lv.parent]
            seen.add(lv.cps)
            out.append(lv)
        return out

    objects: list[dict[str, Any]] = []
    relations: list[list[Any]] = []
    packs_at: dict[str, list[int]] = {}

    def sscc_of(segs: Iterable[Segment]) -> list[str]:
        found: list[str] = []
        for seg in segs:
            if seg.tag == "GIN" and seg.get(1) in ("BJ", "AW"):
                for k in range(2, len(seg) + 1):
                    for c in (1, 2):
                        if seg.get(k, c) and seg.get(k, c) not in found:
                            found.append(seg.get(k, c))
        return found

    for lv in levels:
        for code in sscc_of(lv.segments):
            packs_at.setdefault(lv.cps, []).append(len(objects))
            objects.append({"type": "shipment", "ids": {"sscc": code}})
    for code in sscc_of(header):
        packs_at.setdefault("", []).append(len(objects))
        objects.append({"type": "shipment", "ids": {"sscc": code}})
    whole: int | None = None
    if not objects:  # no packs: the despatch as a whole is the consignment
        whole = 0
        objects.append({"type": "shipment", "ids": {f"desadv:{sender.lower()}": despatch}})
    all_packs = [i for idxs in packs_at.values() for i in idxs] if whole is None else [whole]

    order_index: dict[str, int] = {}

    def order_at(po: str) -> int:
        if po not in order_index:
            order_index[po] = len(objects)
            objects.append({"type": "order", "ids": {f"po:{buyer.lower()}": po}})
        return order_index[po]

    def relate(i: int, j: int) -> None:
        pair = [min(i, j), max(i, j)]
        if i != j and pair not in relations:
            relations.append(pair)

    for seg in header:
        if seg.tag == "RFF" and seg.get(1, 1) == "ON" and seg.get(1, 2):
            oi = order_at(seg.get(1, 2))
            for p in all_packs:
                relate(oi, p)
    lines: list[dict[str, Any]] = []
    for lv in levels:
        chain = [lv, *ancestors(lv)]
        below = [other for other in levels if lv in ancestors(other)]
        own_packs = [p for x in chain + below for p in packs_at.get(x.cps, [])] or all_packs
        # LIN groups in this level
        current: list[Segment] | None = None
        groups: list[list[Segment]] = []
        for seg in lv.segments:
            if seg.tag == "LIN":
                current = [seg]
                groups.append(current)
            elif current is not None:
                current.append(seg)
        for seg in lv.segments:
            if seg.tag == "RFF" and seg.get(1, 1) == "ON" and seg.get(1, 2):
                oi = order_at(seg.get(1, 2))
                for p in own_packs:
                    relate(oi, p)
        for group in groups:
            line = _line(ctx, group, ("12",), len(lines) + 1)
            line["package"] = lv.cps
            if "order" not in line and len(order_index) == 1:
                line["order"] = next(iter(order_index))
            lines.append(line)
    if not order_index:
        ctx.notes.append(f"DESADV {ctx.message.ref}: no RFF+ON order reference; the packs relate to no order")
    facts = ctx.facts()
    facts["shipment_id"] = despatch
    facts["document_code"] = bgm.get(1)
    facts["orders"] = list(order_index)
    facts["lines"] = lines
    facts["parties"] = _parties(ctx)
    carrier = next((s.get(5, 1) for s in ctx.all("TDT") if s.get(5, 1)), "")
    if carrier:
        facts["carrier"] = carrier
    _promised(header, facts)
    return [
        event(
            ctx.event_id,
            ctx.source,
            "shipment.manifested",
            ctx.time("137", "11"),
            objects,
            relations=relations,
            dims={"carrier": carrier} if carrier else None,
            facts=facts,
        )
    ]


MAPPERS: dict[str, Callable[[Context], list[dict[str, Any]]]] = {
    "ORDERS": map_orders,
    "INVOIC": map_invoic,
    "DESADV": map_desadv,
}


def map_interchange(ic: Interchange, notes: list[str], local: tzinfo = UTC) -> list[dict[str, Any]]:
    """Every event of the interchange's mapped messages; `local` is the sender's zone."""
    events: list[dict[str, Any]] = []
    for msg in ic.messages:
        mapper = MAPPERS.get(msg.type)
        if mapper is None:
            notes.append(
                f"{msg.type} message {msg.ref} ({msg.version}) of interchange {ic.control} is not mapped: no event"
            )
            continue
        events.extend(mapper(Context(ic, msg, notes, local)))
    return events
