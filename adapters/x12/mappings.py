"""X12 transaction sets → canonical events (DESIGN.md "The canonical event").

Every event: source ``edi/<ISA06>``, id ``<ISA13>-<GS06>-<ST02>`` (``-<n>`` appended when a set
yields several events), time from the set's own date and time (BEG, BAK, BSN, BIG, BIA, AT7…),
falling back to GS04/GS05 and then ISA09/ISA10. A bare date is the envelope's time when the
envelope was made that day, the day's last second when it was sent later (`Context.time`). A time
code in the document (AT7-07, G62-05) says the zone; without one, dates and times are the sending
partner's local time (`Context.local`, from TOWER_EDI_PARTNER_ZONES by ISA06; UTC by default).

Order identifiers live in the buyer's namespace ``po:<buyer id>``: the sender (ISA06) of an
850/860, the receiver (ISA08) of the 855/856/810 a seller sends back. A seller's own order number
(BAK08) goes in ``so:<seller id>`` on the same object.

Mapped: 850 order.received, 855 order.accepted / order.rejected, 856 shipment.manifested,
810 order.invoiced, 997 sync.acknowledged (group accepted) / sync.failed (rejected or partly),
214 shipment milestones (one per AT7), 846 inventory.snapshot (one per LIN), 860 order.changed,
210 freight.invoiced, 940 fulfillment.released, 945 fulfillment.packed. Any other set yields no
event and a note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.base import AdapterError, event
from adapters.payload import carrier_key
from adapters.x12.tokenizer import FunctionalGroup, Interchange, Segment, TransactionSet

SKU_QUALIFIERS = ("VP", "BP", "SK", "IN", "VN", "VC", "UP", "UK", "EN", "UA", "MG", "CB", "PI", "MF")

ACCEPTED = {"AC", "AD", "AE", "AK", "AP"}
REJECTED = {"RD", "RJ"}

# X12 AT7-01 shipment status codes (code list 1650) → milestone.
AT7_MILESTONES = {
    "AF": "shipment.in_transit",  # carrier departed pick-up location with shipment
    "X3": "shipment.in_transit",  # arrived at pick-up location
    "P1": "shipment.in_transit",  # departed terminal location
    "X4": "shipment.in_transit",  # arrived at terminal location
    "J1": "shipment.in_transit",  # delivered to connecting line
    "X6": "shipment.out_for_delivery",  # en route to delivery location
    "X1": "shipment.delivered",  # arrived at delivery location
    "D1": "shipment.delivered",  # completed unloading at delivery location
    "A7": "shipment.exception",  # refused by consignee
    "A9": "shipment.exception",  # shipment damaged
    "AP": "shipment.exception",  # delivery not completed
    "SD": "shipment.exception",  # shipment delayed
    "CA": "shipment.exception",  # shipment cancelled
    "AG": "shipment.eta_updated",  # estimated delivery (an ETA, not a movement)
}

# AT7-07 / G62 time codes → zone.
TIME_CODES = {
    "ET": "America/New_York",
    "CT": "America/Chicago",
    "MT": "America/Denver",
    "PT": "America/Los_Angeles",
    "ES": "-05:00",
    "ED": "-04:00",
    "CS": "-06:00",
    "CD": "-05:00",
    "MS": "-07:00",
    "MD": "-06:00",
    "PS": "-08:00",
    "PD": "-07:00",
    "UT": "+00:00",
    "GM": "+00:00",
}


@dataclass(slots=True)
class Context:
    interchange: Interchange
    group: FunctionalGroup
    tset: TransactionSet
    notes: list[str]
    local: tzinfo = UTC  # the sender's zone: dates and times without a time code are its wall clock

    @property
    def sender(self) -> str:
        return self.interchange.sender

    @property
    def receiver(self) -> str:
        return self.interchange.receiver

    @property
    def source(self) -> str:
        return f"edi/{self.sender}"

    @property
    def base_id(self) -> str:
        return f"{self.interchange.control}-{self.group.control}-{self.tset.control}"

    def ns(self, prefix: str, party: str) -> str:
        return f"{prefix}:{party.strip().lower()}"

    def first(self, tag: str) -> Segment | None:
        return next((s for s in self.tset.segments if s.tag == tag), None)

    def all(self, tag: str) -> list[Segment]:
        return [s for s in self.tset.segments if s.tag == tag]

    def time(self, date: str = "", hhmm: str = "", zone: str = "") -> str:
        """RFC 3339 UTC from the set's date/time, else the envelope's (GS04/GS05, else ISA09/ISA10).

        `zone` is an X12 time code (AT7-07, G62-05); without one, or with one that names no zone
        (LT, local time), the date and time are the sender's wall clock (`local`).

        A date without a usable time says the event happened that day, no later than the envelope
        was made: on the envelope's own day it is the envelope's time; sent on a later day, it is the
        last second of the stated day (midnight would put an 855 or 810 dated the day before an
        overnight transmission ahead of the 850 or 856 it answers, a negative duration in its
        journey); dated after the envelope, the start of the stated day. Days are the sender's days.
        """
        day = parse_date(date)
        if day is not None and clock(hhmm) is not None:
            return stamp(day, hhmm, zone, self.local)
        sent = self.sent()
        if day is None:
            if sent is None:
                gs, isa = self.group.header, self.interchange.header
                raise AdapterError("ISA09", f"no usable date in the set, GS04 {gs.get(4)!r} or ISA09 {isa.get(9)!r}")
            return rfc3339(sent)
        if sent is not None and sent.date() == day.date():
            return rfc3339(sent)
        if sent is not None and sent.date() > day.date():
            return rfc3339((day + timedelta(days=1, seconds=-1)).replace(tzinfo=self.local))
        return rfc3339(day.replace(tzinfo=self.local))

    def sent(self) -> datetime | None:
        """When the envelope was made: GS04/GS05, else ISA09/ISA10, on the sender's clock (`local`);
        None without a usable date."""
        gs, isa = self.group.header, self.interchange.header
        for d, t in ((gs.get(4), gs.get(5)), (isa.get(9), isa.get(10))):
            day = parse_date(d)
            if day is not None:
                return (day + (clock(t) or timedelta(0))).replace(tzinfo=self.local)
        return None


def clock(hhmm: str) -> timedelta | None:
    """HHMM[SS[D..]] → time of day, or None when absent or not a time."""
    hhmm = hhmm.strip()
    if not hhmm.isdigit() or len(hhmm) < 4:
        return None
    h, m = int(hhmm[:2]), int(hhmm[2:4])
    s = int(hhmm[4:6]) if len(hhmm) >= 6 else 0
    if h < 24 and m < 60 and s < 60:
        return timedelta(hours=h, minutes=m, seconds=s)
    return None


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(text: str) -> datetime | None:
    """CCYYMMDD or YYMMDD (years below 50 are 20xx) → naive midnight, or None."""
    text = text.strip()
    if not text.isdigit() or len(text) not in (6, 8):
        return None
    if len(text) == 6:
        year = int(text[:2])
        text = f"{2000 + year if year < 50 else 1900 + year}{text[2:]}"
    try:
        return datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return None


def stamp(day: datetime, hhmm: str, zone: str = "", local: tzinfo = UTC) -> str:
    """`day` at HHMM[SS[DD]] in `zone` (an X12 time code) → ``YYYY-MM-DDTHH:MM:SSZ``; without a code
    that names a zone, in `local` (the sender's zone, with its rules for that date; fold=0)."""
    moment = day + (clock(hhmm) or timedelta(0))
    tz = TIME_CODES.get(zone.strip().upper(), "")
    if tz.startswith(("+", "-")):
        aware = datetime.fromisoformat(moment.isoformat() + tz)
    elif tz:
        try:
            aware = moment.replace(tzinfo=ZoneInfo(tz))
        except ZoneInfoNotFoundError:
            aware = moment.replace(tzinfo=local)
    else:
        aware = moment.replace(tzinfo=local)
    return rfc3339(aware)


def rfc_date(text: str) -> str | None:
    day = parse_date(text)
    return day.strftime("%Y-%m-%d") if day else None


def number(text: str) -> int | float | None:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def product_ids(seg: Segment, start: int) -> dict[str, str]:
    """Qualifier/value pairs from element `start` on (PO106/PO107, LIN02/LIN03, IT106…)."""
    ids: dict[str, str] = {}
    n = start
    while n + 1 < len(seg):
        qual, value = seg.get(n), seg.get(n + 1)
        if qual and value and qual not in ids:
            ids[qual] = value
        n += 2
    return ids


def pick_sku(ids: dict[str, str]) -> str | None:
    for qual in SKU_QUALIFIERS:
        if qual in ids:
            return ids[qual]
    return next(iter(ids.values()), None)


def line_of(seg: Segment, qty: int, uom: int, first_pair: int, line: str) -> dict[str, Any]:
    ids = product_ids(seg, first_pair)
    out: dict[str, Any] = {"line": line, "sku": pick_sku(ids), "quantity": number(seg.get(qty)), "uom": seg.get(uom)}
    if ids:
        out["product_ids"] = ids
    return out


def edi_facts(ctx: Context) -> dict[str, Any]:
    return {
        "edi": {
            "set": ctx.tset.set_id,
            "interchange": ctx.interchange.control,
            "group": ctx.group.control,
            "control": ctx.tset.control,
            "sender": ctx.sender,
            "receiver": ctx.receiver,
        }
    }


def party(seg: Segment) -> dict[str, str]:
    out = {"name": seg.get(2), "id_qualifier": seg.get(3), "id": seg.get(4)}
    return {k: v for k, v in out.items() if v}


# ---------------------------------------------------------------- 850 / 860 purchase orders


def _promised(dtms: Iterable[Segment], facts: dict[str, Any], delivery: set[str], ship: set[str]) -> None:
    for dtm in dtms:
        when = rfc_date(dtm.get(2))
        if when is None:
            continue
        key = (
            "promised_delivery_date" if dtm.get(1) in delivery else "promised_ship_date" if dtm.get(1) in ship else None
        )
        if key and (key not in facts or when < facts[key]):
            facts[key] = when


def _header_and_lines(ctx: Context, line_tag: str) -> tuple[list[Segment], list[Segment]]:
    header: list[Segment] = []
    lines: list[Segment] = []
    for seg in ctx.tset.segments:
        if seg.tag == line_tag or lines:
            lines.append(seg)
        else:
            header.append(seg)
    return header, lines


def map_850(ctx: Context) -> list[dict[str, Any]]:
    beg = ctx.first("BEG")
    if beg is None or not beg.get(3):
        raise AdapterError(f"850 {ctx.tset.control} BEG03", "the purchase order has no PO number")
    header, detail = _header_and_lines(ctx, "PO1")
    facts = edi_facts(ctx)
    facts["po_number"] = beg.get(3)
    facts["purpose"] = beg.get(1)
    facts["po_type"] = beg.get(2)
    facts["lines"] = [
        line_of(s, 2, 3, 6, s.get(1) or str(n)) for n, s in enumerate((s for s in detail if s.tag == "PO1"), 1)
    ]
    ship_to = next((s for s in header if s.tag == "N1" and s.get(1) == "ST"), None)
    if ship_to:
        facts["ship_to"] = party(ship_to)
    dtms = [s for s in header if s.tag == "DTM"]
    _promised(dtms, facts, {"002"}, {"010"})
    if "promised_delivery_date" not in facts and "promised_ship_date" not in facts:
        _promised((s for s in detail if s.tag == "DTM"), facts, {"002"}, {"010"})
    order = {"type": "order", "ids": {ctx.ns("po", ctx.sender): beg.get(3)}}
    return [
        event(
            ctx.base_id,
            ctx.source,
            "order.received",
            ctx.time(beg.get(5)),
            [order],
            dims={"channel": "edi", "customer": ctx.sender},
            facts=facts,
        )
    ]


def map_860(ctx: Context) -> list[dict[str, Any]]:
    bch = ctx.first("BCH")
    if bch is None or not bch.get(3):
        raise AdapterError(f"860 {ctx.tset.control} BCH03", "the change order has no PO number")
    facts = edi_facts(ctx)
    facts["po_number"] = bch.get(3)
    facts["purpose"] = bch.get(1)
    facts["lines"] = [
        {**line_of(s, 3, 5, 8, s.get(1)), "change": s.get(2), "quantity_left": number(s.get(4))} for s in ctx.all("POC")
    ]
    _promised(ctx.all("DTM"), facts, {"002"}, {"010"})
    when = bch.get(11) if parse_date(bch.get(11)) else bch.get(6)
    order = {"type": "order", "ids": {ctx.ns("po", ctx.sender): bch.get(3)}}
    return [event(ctx.base_id, ctx.source, "order.changed", ctx.time(when), [order], facts=facts)]


# ---------------------------------------------------------------- 855 acknowledgement


def map_855(ctx: Context) -> list[dict[str, Any]]:
    bak = ctx.first("BAK")
    if bak is None or not bak.get(3):
        raise AdapterError(f"855 {ctx.tset.control} BAK03", "the acknowledgement names no PO number")
    code = bak.get(2)
    if code in ACCEPTED:
        etype = "order.accepted"
    elif code in REJECTED:
        etype = "order.rejected"
    else:
        etype = "order.acknowledged"
        ctx.notes.append(f"855 {ctx.tset.control}: acknowledgement type {code!r} is neither accept nor reject")
    facts = edi_facts(ctx)
    facts["po_number"] = bak.get(3)
    facts["acknowledgement_type"] = code
    lines: list[dict[str, Any]] = []
    for seg in ctx.tset.segments:
        if seg.tag == "PO1":
            lines.append(line_of(seg, 2, 3, 6, seg.get(1) or str(len(lines) + 1)))
        elif seg.tag == "ACK" and lines:
            lines[-1].setdefault("status", seg.get(1))
            lines[-1].setdefault("status_quantity", number(seg.get(2)))
    facts["lines"] = lines
    _promised(ctx.all("DTM"), facts, {"002", "017", "067"}, {"010", "068"})
    ids = {ctx.ns("po", ctx.receiver): bak.get(3)}
    if bak.get(8):
        ids[ctx.ns("so", ctx.sender)] = bak.get(8)
        facts["seller_order_number"] = bak.get(8)
    when = bak.get(9) if parse_date(bak.get(9)) else bak.get(4)
    return [event(ctx.base_id, ctx.source, etype, ctx.time(when), [{"type": "order", "ids": ids}], facts=facts)]


# ---------------------------------------------------------------- 856 ship notice


@dataclass(slots=True)
class _Level:
    hl_id: str
    parent: str
    code: str
    segments: list[Segment]


def map_856(ctx: Context) -> list[dict[str, Any]]:
    bsn = ctx.first("BSN")
    shipment_id = bsn.get(2) if bsn else ""
    levels: list[_Level] = []
    header: list[Segment] = []
    for seg in ctx.tset.segments:
        if seg.tag == "HL":
            levels.append(_Level(seg.get(1), seg.get(2), seg.get(3), []))
        elif levels:
            levels[-1].segments.append(seg)
        else:
            header.append(seg)
    by_id = {lv.hl_id: lv for lv in levels}
    # Files without HL02 parents (856_Example4) nest by order of appearance: S, then O, then I.
    last_of: dict[str, _Level] = {}
    rank = {"S": 0, "O": 1, "T": 2, "P": 3, "I": 4}
    for lv in levels:
        if not lv.parent or lv.parent not in by_id:
            above = [last_of[c] for c in ("S", "O", "T", "P") if c in last_of and rank[c] < rank.get(lv.code, 5)]
            lv.parent = above[-1].hl_id if above else ""
        last_of[lv.code] = lv

    def ancestors(lv: _Level) -> list[_Level]:
        out: list[_Level] = []
        seen = {lv.hl_id}
        while lv.parent in by_id and lv.parent not in seen:
            lv = by_id[lv.parent]
            seen.add(lv.hl_id)
            out.append(lv)
        return out

    ship_level = next((lv for lv in levels if lv.code == "S"), None)
    ship_segs = ship_level.segments if ship_level else []

    def refs(segs: list[Segment], qual: str) -> str:
        return next((s.get(2) for s in segs if s.tag == "REF" and s.get(1) == qual and s.get(2)), "")

    def scac(segs: list[Segment]) -> str:
        return next((s.get(3) for s in segs if s.tag == "TD5" and s.get(2) == "2" and s.get(3)), "")

    carrier = scac(ship_segs) or scac(header)
    tracking_ns = f"tracking:{carrier_key(carrier)}" if carrier else "tracking"
    asn_ns = ctx.ns("asn", ctx.sender)

    objects: list[dict[str, Any]] = []
    relations: list[list[Any]] = []
    order_index: dict[str, int] = {}
    pack_index: dict[str, int] = {}  # HL id → object index

    load_idx: int | None = None
    bol = refs(ship_segs, "BM") or refs(header, "BM")
    if bol:
        load_ids = {ctx.ns("bol", ctx.sender): bol}
        if shipment_id:
            load_ids[asn_ns] = shipment_id
        objects.append({"type": "load", "ids": load_ids})
        load_idx = 0

    def pack_ids(lv: _Level) -> dict[str, str]:
        ids: dict[str, str] = {}
        for seg in lv.segments:
            if seg.tag == "MAN" and seg.get(2):
                ids["sscc" if seg.get(1) == "GM" else f"man:{seg.get(1).lower()}"] = seg.get(2)
            elif seg.tag == "REF" and seg.get(1) == "CN" and seg.get(2):
                ids[tracking_ns] = seg.get(2)
        if not ids:
            ids[asn_ns] = f"{shipment_id or ctx.base_id}/HL{lv.hl_id}"
        return ids

    packs = [lv for lv in levels if lv.code in ("P", "T")]
    for lv in packs:
        pack_index[lv.hl_id] = len(objects)
        objects.append({"type": "shipment", "ids": pack_ids(lv)})
    whole_idx: int | None = None
    if not packs:  # no pack level: the shipment as a whole is the parcel/consignment
        ids = {tracking_ns: refs(ship_segs, "CN")} if refs(ship_segs, "CN") else {}
        if shipment_id:
            ids[asn_ns] = shipment_id
        if not ids:
            ids[asn_ns] = ctx.base_id
        whole_idx = len(objects)
        objects.append({"type": "shipment", "ids": ids})

    def order_at(po: str) -> int:
        if po not in order_index:
            order_index[po] = len(objects)
            objects.append({"type": "order", "ids": {ctx.ns("po", ctx.receiver): po}})
        return order_index[po]

    def relate(i: int, j: int) -> None:
        pair = [min(i, j), max(i, j)]
        if i != j and pair not in relations:
            relations.append(pair)

    lines: list[dict[str, Any]] = []
    for lv in levels:
        prf = next((s for s in lv.segments if s.tag == "PRF" and s.get(1)), None)
        if prf is None:
            continue
        oi = order_at(prf.get(1))
        # its packs: pack levels below this level, and the pack levels it sits in
        own = [p.hl_id for p in packs if lv in ancestors(p)] + [a.hl_id for a in ancestors(lv) if a.code in ("P", "T")]
        for hl in own:
            relate(oi, pack_index[hl])
        if whole_idx is not None:
            relate(oi, whole_idx)
    if load_idx is not None:
        for idx in list(pack_index.values()) + ([whole_idx] if whole_idx is not None else []):
            relate(load_idx, idx)

    for lv in levels:
        if lv.code != "I":
            continue
        lin = next((s for s in lv.segments if s.tag == "LIN"), None)
        sn1 = next((s for s in lv.segments if s.tag == "SN1"), None)
        if sn1 is None:
            continue
        line: dict[str, Any] = line_of(lin, 0, 0, 2, lin.get(1)) if lin else {"line": "", "sku": None}
        line["quantity"] = number(sn1.get(2))
        line["uom"] = sn1.get(3)
        chain = [lv, *ancestors(lv)]
        po = next((s.get(1) for a in chain for s in a.segments if s.tag == "PRF" and s.get(1)), None)
        if po:
            line["order"] = po
        lines.append(line)

    facts = edi_facts(ctx)
    facts["shipment_id"] = shipment_id
    facts["lines"] = lines
    if bol:
        facts["bill_of_lading"] = bol
    if carrier:
        facts["carrier"] = carrier
    dims = {"carrier": carrier_key(carrier)} if carrier else None
    return [
        event(
            ctx.base_id,
            ctx.source,
            "shipment.manifested",
            ctx.time(bsn.get(3) if bsn else "", bsn.get(4) if bsn else ""),
            objects,
            relations=relations,
            dims=dims,
            facts=facts,
        )
    ]


# ---------------------------------------------------------------- 810 / 210 invoices


def map_810(ctx: Context) -> list[dict[str, Any]]:
    big = ctx.first("BIG")
    if big is None or not big.get(2):
        raise AdapterError(f"810 {ctx.tset.control} BIG02", "the invoice has no invoice number")
    objects: list[dict[str, Any]] = [{"type": "invoice", "ids": {ctx.ns("invoice", ctx.sender): big.get(2)}}]
    relations: list[list[Any]] = []
    if big.get(4):
        objects.append({"type": "order", "ids": {ctx.ns("po", ctx.receiver): big.get(4)}})
        relations.append([0, 1])
    facts = edi_facts(ctx)
    facts["invoice_number"] = big.get(2)
    if big.get(4):
        facts["po_number"] = big.get(4)
    tds = ctx.first("TDS")
    if tds and number(tds.get(1)) is not None:
        facts["amount"] = round(float(tds.get(1)) / 100, 2)
    cur = ctx.first("CUR")
    if cur and cur.get(2):
        facts["currency"] = cur.get(2)
    facts["lines"] = [line_of(s, 2, 3, 6, s.get(1) or str(n)) for n, s in enumerate(ctx.all("IT1"), 1)]
    return [
        event(
            ctx.base_id,
            ctx.source,
            "order.invoiced",
            ctx.time(big.get(1)),
            objects,
            relations=relations,
            facts=facts,
        )
    ]


def map_210(ctx: Context) -> list[dict[str, Any]]:
    b3 = ctx.first("B3")
    if b3 is None or not b3.get(2):
        raise AdapterError(f"210 {ctx.tset.control} B302", "the freight invoice has no invoice number")
    scac = b3.get(11)
    objects: list[dict[str, Any]] = [{"type": "invoice", "ids": {ctx.ns("freight_invoice", ctx.sender): b3.get(2)}}]
    if b3.get(3):
        ns = f"tracking:{carrier_key(scac)}" if scac else "tracking"
        objects.append({"type": "shipment", "ids": {ns: b3.get(3)}})
    facts = edi_facts(ctx)
    facts["invoice_number"] = b3.get(2)
    if b3.get(3):
        facts["shipment_id"] = b3.get(3)
    facts["payment_method"] = b3.get(4)
    if number(b3.get(7)) is not None:
        facts["amount"] = round(float(b3.get(7)) / 100, 2)
    if scac:
        facts["carrier"] = scac
    pos = sorted({s.get(2) for s in ctx.all("N9") if s.get(1) == "PO" and s.get(2)})
    if pos:
        facts["po_numbers"] = pos
    return [
        event(
            ctx.base_id,
            ctx.source,
            "freight.invoiced",
            ctx.time(b3.get(6)),
            objects,
            dims={"carrier": carrier_key(scac)} if scac else None,
            facts=facts,
        )
    ]


# ---------------------------------------------------------------- 997 functional acknowledgement


# AK9-01 / AK5-01 acknowledgement codes (X12 code list 715/717): A and E accept (E with errors noted);
# P accepts part of the group (at least one set rejected); M, R, W and X reject.
GROUP_ACCEPTED = {"A", "E"}
GROUP_STATUS = {
    "A": "accepted",
    "E": "accepted with errors noted",
    "P": "partially accepted",
    "R": "rejected",
    "M": "rejected: message authentication code failed",
    "W": "rejected: assurance failed validity tests",
    "X": "rejected: content could not be analysed after decryption",
}


def map_997(ctx: Context) -> list[dict[str, Any]]:
    """One event per acknowledged group: `sync.acknowledged` when AK9 accepts it (A, E), `sync.failed`
    otherwise (P, R, M, W, X or no code), so the integration-error SLI counts a rejected group as a
    failed step of the `edi` system and of its flow. The flow (`facts.operation`) is the kind of group
    acknowledged, `997.<AK101>` (``997.sh``: ship notices), never the instance: the group's control
    number is `facts.group_control`, what the EDI chain reconciliation matches an 856 on."""
    ak1 = ctx.first("AK1")
    ak9 = ctx.first("AK9")
    if ak1 is None or ak9 is None:
        missing = "AK1" if ak1 is None else "AK9"
        raise AdapterError(f"997 {ctx.tset.control} {missing}", f"the acknowledgement has no {missing}")
    if not ak1.get(2).strip():
        raise AdapterError(f"997 {ctx.tset.control} AK102", "names no group control number to acknowledge")
    functional, group_control = ak1.get(1).strip().upper(), ak1.get(2).strip()
    sets: list[dict[str, Any]] = []
    for seg in ctx.tset.segments:
        if seg.tag == "AK2":
            sets.append({"set_id": seg.get(1), "control": seg.get(2), "errors": []})
        elif seg.tag in ("AK3", "AK4") and sets:
            sets[-1]["errors"].append({"segment": seg.tag, "elements": [seg.get(n) for n in range(1, len(seg))]})
        elif seg.tag == "AK5" and sets:
            sets[-1]["status"] = seg.get(1)
            codes = [seg.get(n) for n in range(2, len(seg)) if seg.get(n)]
            if codes:
                sets[-1]["error_codes"] = codes
    received = number(ak9.get(3))
    accepted = number(ak9.get(4))
    status = ak9.get(1).strip().upper()
    ok = status in GROUP_ACCEPTED
    if status not in GROUP_STATUS:
        ctx.notes.append(f"997 {ctx.tset.control}: AK901 {status!r} is no acknowledgement code, counted as failed")
    facts = edi_facts(ctx)
    facts.update(
        {
            "system": "edi",
            "operation": f"997.{functional.lower()}" if functional else "997",
            "functional_id": functional,
            "group_control": group_control,
            "status": status,
            "included": number(ak9.get(2)),
            "received": received,
            "accepted": accepted,
            "rejected": (received - accepted) if isinstance(received, int) and isinstance(accepted, int) else None,
            "sets": sets,
            # the sets this 997 accepts one by one (AK5 A or E): in a partly accepted group, those went through
            "accepted_sets": [s["control"] for s in sets if s.get("status") in GROUP_ACCEPTED and s["control"]],
            "documents_ok": status == "A",
        }
    )
    if status != "A":  # what went wrong: the failure's `error`, an accepting E's `warning`
        what = GROUP_STATUS.get(status, "with no valid status")
        text = f"{functional or 'group'} group {group_control} {what} ({status or 'blank'})"
        if isinstance(received, int) and isinstance(accepted, int):
            text += f": {accepted} of {received} sets accepted"
        facts["warning" if ok else "error"] = text
    group = {"type": "edi_group", "ids": {ctx.ns("gs", ctx.receiver): group_control}}
    etype = "sync.acknowledged" if ok else "sync.failed"
    return [event(ctx.base_id, ctx.source, etype, ctx.time(), [group], dims={"system": "edi"}, facts=facts)]


# ---------------------------------------------------------------- 214 carrier status


def map_214(ctx: Context) -> list[dict[str, Any]]:
    b10 = ctx.first("B10")
    if b10 is None or not (b10.get(1) or b10.get(2)):
        raise AdapterError(f"214 {ctx.tset.control} B10", "the status names no shipment")
    scac = b10.get(3)
    ids: dict[str, str] = {}
    if b10.get(1):
        ids[f"tracking:{carrier_key(scac)}" if scac else "tracking"] = b10.get(1)
    if b10.get(2):
        ids[ctx.ns("shipment", ctx.receiver)] = b10.get(2)
    references = {s.get(2) or "?": s.get(1) for s in ctx.all("L11") if s.get(1)}
    out: list[dict[str, Any]] = []
    statuses = [s for s in ctx.tset.segments if s.tag == "AT7"]
    for n, at7 in enumerate(statuses, 1):
        code = at7.get(1) or at7.get(3)
        etype = AT7_MILESTONES.get(code, "shipment.status_updated")
        facts = edi_facts(ctx)
        facts.update({"status_code": code, "reason_code": at7.get(2), "carrier": scac})
        if references:
            facts["references"] = references
        if etype == "shipment.eta_updated" and rfc_date(at7.get(5)):
            facts["estimated_delivery"] = ctx.time(at7.get(5), at7.get(6), at7.get(7))
        event_id = ctx.base_id if len(statuses) == 1 else f"{ctx.base_id}-{n}"
        out.append(
            event(
                event_id,
                ctx.source,
                etype,
                ctx.time(at7.get(5), at7.get(6), at7.get(7)),
                [{"type": "shipment", "ids": dict(ids)}],
                dims={"carrier": carrier_key(scac)} if scac else None,
                facts=facts,
            )
        )
    if not out:
        ctx.notes.append(f"214 {ctx.tset.control}: no AT7 status, no event")
    return out


# ---------------------------------------------------------------- 846 inventory


def map_846(ctx: Context) -> list[dict[str, Any]]:
    bia = ctx.first("BIA")
    when = ctx.time(bia.get(4), bia.get(5)) if bia else ctx.time()
    warehouse = next(
        (s.get(4) or s.get(2) for s in ctx.tset.segments if s.tag == "N1" and s.get(1) in ("ST", "WH")), ""
    )
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    items: list[dict[str, Any]] = []
    for seg in ctx.tset.segments:
        if seg.tag == "LIN":
            ids = product_ids(seg, 2)
            current = {"sku": pick_sku(ids), "product_ids": ids, "quantities": {}}
            items.append(current)
        elif seg.tag == "QTY" and current is not None:
            qty = number(seg.get(2))
            current["quantities"][seg.get(1)] = qty
            if seg.get(1) == "17":
                current["on_hand"] = qty
            elif seg.get(1) == "33":
                current["available"] = qty
    for n, item in enumerate(items, 1):
        if not item["sku"]:
            ctx.notes.append(f"846 {ctx.tset.control}: LIN {n} names no product, skipped")
            continue
        facts = edi_facts(ctx)
        facts.update({"system": ctx.source, "as_of": when, **item})
        if warehouse:
            facts["warehouse"] = warehouse
        out.append(
            event(
                ctx.base_id if len(items) == 1 else f"{ctx.base_id}-{n}",
                ctx.source,
                "inventory.snapshot",
                when,
                [{"type": "product", "ids": {ctx.ns("sku", ctx.sender): item["sku"]}}],
                dims={"warehouse": warehouse} if warehouse else None,
                facts=facts,
            )
        )
    return out


# ---------------------------------------------------------------- 940 / 945 warehouse


def map_940(ctx: Context) -> list[dict[str, Any]]:
    w05 = ctx.first("W05")
    if w05 is None or not w05.get(2):
        raise AdapterError(f"940 {ctx.tset.control} W0502", "the shipping order has no order number")
    ids = {ctx.ns("so", ctx.sender): w05.get(2)}
    facts = edi_facts(ctx)
    facts["order_number"] = w05.get(2)
    if w05.get(3):
        facts["po_number"] = w05.get(3)
    facts["lines"] = [
        {**line_of(s, 1, 2, 4, str(n)), "sku": s.get(3) or pick_sku(product_ids(s, 4))}
        for n, s in enumerate(ctx.all("W01"), 1)
    ]
    g62 = next((s for s in ctx.all("G62") if s.get(1) == "10"), None)  # requested ship date
    if g62 and rfc_date(g62.get(2)):
        facts["promised_ship_date"] = rfc_date(g62.get(2))
    return [
        event(
            ctx.base_id,
            ctx.source,
            "fulfillment.released",
            ctx.time(),
            [
                {"type": "order", "ids": ids},
                {"type": "fulfillment", "ids": {ctx.ns("release", ctx.sender): w05.get(2)}},
            ],
            facts=facts,
        )
    ]


def map_945(ctx: Context) -> list[dict[str, Any]]:
    w06 = ctx.first("W06")
    if w06 is None or not (w06.get(2) or w06.get(4)):
        raise AdapterError(f"945 {ctx.tset.control} W0602", "the shipping advice names no order or shipment")
    objects: list[dict[str, Any]] = []
    if w06.get(2):
        objects.append({"type": "order", "ids": {ctx.ns("so", ctx.receiver): w06.get(2)}})
    fulfillment_id = w06.get(4) or w06.get(2)
    objects.append({"type": "fulfillment", "ids": {ctx.ns("release", ctx.receiver): fulfillment_id}})
    facts = edi_facts(ctx)
    if w06.get(2):
        facts["order_number"] = w06.get(2)
    facts["lines"] = [
        {**line_of(s, 3, 5, 7, str(n)), "ordered": number(s.get(2))} for n, s in enumerate(ctx.all("W12"), 1)
    ]
    # G62*11 (shipped on this date), with its time when given, is more exact than W06's bare date
    g62 = next((s for s in ctx.all("G62") if s.get(1) == "11" and parse_date(s.get(2))), None)
    when = ctx.time(g62.get(2), g62.get(4), g62.get(5)) if g62 else ctx.time(w06.get(3))
    return [event(ctx.base_id, ctx.source, "fulfillment.packed", when, objects, facts=facts)]


MAPPINGS: dict[str, Callable[[Context], list[dict[str, Any]]]] = {
    "850": map_850,
    "855": map_855,
    "856": map_856,
    "810": map_810,
    "997": map_997,
    "214": map_214,
    "846": map_846,
    "860": map_860,
    "210": map_210,
    "940": map_940,
    "945": map_945,
}


def map_interchange(
    interchange: Interchange,
    notes: list[str],
    rejected: dict[tuple[str, str], str] | None = None,
    local: tzinfo = UTC,
) -> list[dict[str, Any]]:
    """Every event the interchange's transaction sets yield; unmapped sets are noted. `local` is the
    sender's zone, what its dates and times without a time code are read in.

    A set whose content cannot be mapped (no PO number in its BEG, say) yields no event: the
    reason is noted and, when `rejected` is given, recorded there by (GS06, ST02) so the 997
    rejects that set alone instead of the whole interchange.
    """
    events: list[dict[str, Any]] = []
    for group in interchange.groups:
        for tset in group.sets:
            mapping = MAPPINGS.get(tset.set_id)
            if mapping is None:
                notes.append(f"transaction set {tset.set_id} is not mapped")
                continue
            try:
                events.extend(mapping(Context(interchange, group, tset, notes, local)))
            except AdapterError as exc:
                if rejected is None:
                    raise
                notes.append(f"transaction set {tset.set_id} {tset.control} rejected: {exc}")
                rejected[(group.control, tset.control)] = str(exc)
    return events
