"""The simulation: a distributor's orders, stock and parcels, played forward on a simulated clock.

A discrete-event loop: every action (an order arriving, the ERP accepting it, a wave release, a
carrier scan…) is scheduled at its simulated time and may schedule the next. What the systems say
about it is queued as native messages; messages that real systems batch (X12 files, CSV exports,
marketplace order pages, tracking API polls, the middleware's canonical events) are gathered per
step of simulated time into one payload each. `Simulation.steps()` yields each step's messages in
send order, and the same seed always gives the same bytes.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from simulator import formats
from simulator.business import Business, Warehouse, seasonal_rate
from simulator.scenarios import Scenario
from simulator.spans import SyncSteps
from simulator.truth import Incident, OrderTruth, ShipmentTruth, Truth

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SNAPSHOT_MINUTES = 10
CONFIRMATION_IMPORT = "fulfillment.confirmations"  # the integration platform's flow carrying a WMS's confirmations
DAYS_OF_STOCK = 6  # each warehouse is stocked for this many days of its demand, reordered at half

ROUTES = {
    "shopify": "/v1/adapters/shopify",
    "x12": "/v1/adapters/x12",
    "csv": "/v1/adapters/mapping/generic-wms-confirmation",
    "mirakl": "/v1/adapters/mapping/mirakl-orders",
    "easypost": "/v1/adapters/easypost",
    "usps": "/v1/adapters/tracking?carrier=usps",
    "events": "/v1/events",
    "traces": "/v1/traces",
}


@dataclass(slots=True)
class Message:
    """One delivery to the tower: what the tap saw, byte for byte."""

    at: datetime
    route: str
    headers: dict[str, str]
    body: bytes
    kind: str  # e.g. "shopify orders/create", "x12 856", "sdk" — for counts and the ground truth
    events: int = 0  # canonical events the message should yield, where known (0: unknown)
    malformed: bool = False
    duplicate: bool = False


@dataclass(slots=True)
class Step:
    start: datetime
    end: datetime
    messages: list[Message]
    spans: bytes  # OTLP/protobuf: the step's sync-step spans
    span_count: int = 0


@dataclass(slots=True, eq=False)
class _Order:
    truth: OrderTruth
    so: str
    lines: list[tuple[str, str, int, float]]  # line, sku, quantity, unit price
    shopify_id: int = 0
    customer: int = 0
    released: bool = False
    picked: bool = False
    shipped_lines: int = 0
    parcels: list[_Parcel] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Parcel:
    truth: ShipmentTruth
    order: _Order
    label_at: datetime
    lines: list[tuple[str, str, int]]
    ticket: str
    reference: str  # the shipper's id of this parcel (what a 214 quotes beside the tracking number)
    tracker: str = ""
    history: list[tuple[str, datetime, str]] = field(default_factory=list)


class Simulation:
    """A month (or any span) of the business. Iterate `steps()`; `truth` is complete once they are done."""

    def __init__(
        self,
        *,
        start: datetime,
        days: float,
        orders_per_day: float,
        seed: int,
        scenarios: list[Scenario] | None = None,
        business: Business | None = None,
        step: timedelta = timedelta(minutes=5),
        tenant: str | None = None,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.business = business or Business()
        self.start = start.astimezone(UTC)
        self.end = self.start + timedelta(days=days)
        self.orders_per_day = orders_per_day
        self.rng = random.Random(seed)
        self.step = step
        self.scenarios = list(scenarios or [])
        self.truth = Truth(self.start, self.end, seed)
        self.incidents: dict[str, Incident] = {}
        for s in self.scenarios:
            incident = Incident(s.describe())
            self.truth.incidents.append(incident)
            self.incidents.setdefault(s.kind, incident)
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = 0
        self._now = self.start
        self._messages: list[Message] = []
        self._batches: dict[tuple[str, ...], list[tuple[datetime, Any]]] = defaultdict(list)
        self.sync_steps = SyncSteps(seed)
        self._counters: dict[str, int] = defaultdict(int)
        self._next_channel_number = {"shopify": 1000, "edi": 4500000, "marketplace": 880000}
        b = self.business
        self._skus = [b.sku(n) for n in range(b.skus)]
        self._price = {sku: round(5 + self.rng.random() * 95, 2) for sku in self._skus}
        # popularity: a long tail, so a few SKUs run short first
        self._weights = [1.0 / (n + 1) ** 0.8 for n in range(b.skus)]
        # expected units a day per SKU: lines per order × units per line, by channel, spread by popularity
        units = sum(c.share * sum(c.lines) / 2 * sum(c.quantity) / 2 for c in b.channels) * orders_per_day
        total = sum(self._weights)
        daily = {sku: units * w / total for sku, w in zip(self._skus, self._weights, strict=True)}
        self._stock: dict[str, dict[str, int]] = {}
        self._erp_stock: dict[str, dict[str, int]] = {}
        for wh in b.warehouses:
            self._stock[wh.key] = {sku: max(20, int(daily[sku] * wh.share * DAYS_OF_STOCK)) for sku in self._skus}
            self._erp_stock[wh.key] = dict(self._stock[wh.key])
        self._daily = daily
        self._stale_frozen: dict[str, dict[str, int]] = {}
        self._backorders: dict[tuple[str, str], list[_Order]] = defaultdict(list)
        self._short_picks: dict[tuple[str, str], list[tuple[_Order, str]]] = defaultdict(list)
        self._load: dict[tuple[str, str, str], list[_Parcel]] = defaultdict(list)
        self._mismatch_open: dict[tuple[str, str], dict[str, Any]] = {}
        self._snapshot_cursor: dict[str, int] = defaultdict(int)
        self._last_erp_snapshot: dict[str, list[tuple[str, int, int, datetime]]] = {}
        self.tenant = tenant
        if resume:  # numbering continues where an earlier run stopped, so no identifier is reused
            self._counters.update(resume.get("counters", {}))
            self._next_channel_number.update(resume.get("numbers", {}))

    def state(self) -> dict[str, Any]:
        """What a later run needs to continue the numbering (`resume=`)."""
        return {"counters": dict(self._counters), "numbers": dict(self._next_channel_number)}

    # ------------------------------------------------------------ scheduling

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (max(when, self._now), self._seq, action))

    def scenario(self, kind: str, at: datetime, target: str | None = None) -> Scenario | None:
        for s in self.scenarios:
            if s.kind == kind and s.active(at) and (target is None or s.target is None or s.target == target):
                return s
        return None

    def incident(self, kind: str) -> Incident:
        return self.incidents[kind]

    def counter(self, name: str) -> int:
        self._counters[name] += 1
        return self._counters[name]

    # ------------------------------------------------------------ running

    def steps(self) -> Iterator[Step]:
        self._schedule_arrivals()
        self._schedule_routines()
        step_start = self.start
        while step_start < self.end:
            step_end = min(step_start + self.step, self.end)
            while self._heap and self._heap[0][0] < step_end:
                when, _, action = heapq.heappop(self._heap)
                self._now = when
                action()
            self._now = step_end
            yield self._flush(step_start, step_end)
            step_start = step_end
        self._close_mismatches()

    def run(self) -> Truth:
        for _ in self.steps():
            pass
        return self.truth

    # ------------------------------------------------------------ messages

    def send(self, message: Message) -> None:
        self._messages.append(message)

    def batch(self, key: tuple[str, ...], record: Any) -> None:
        self._batches[key].append((self._now, record))

    def span(
        self,
        name: str,
        service: str,
        start: datetime,
        end: datetime,
        attributes: dict[str, Any],
        error: str | None = None,
    ) -> str:
        """Record one sync step's span; returns the W3C traceparent its events carry."""
        return self.sync_steps.record(name, service, start, end, attributes, error)

    def event(
        self,
        source: str,
        etype: str,
        at: datetime,
        objects: list[dict[str, Any]],
        *,
        step: str,
        dims: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
        relations: list[list[Any]] | None = None,
        attributes: dict[str, Any] | None = None,
        delay: timedelta = timedelta(0),
    ) -> None:
        """A canonical event the middleware emits through the SDK, inside its sync step's span."""
        eid = f"{etype}-{self.counter('event'):08d}"
        service = source.split("/")[0]
        traceparent = self.span(
            step, f"sync-{service}", at, at + timedelta(milliseconds=180), {"tower.event_id": eid, **(attributes or {})}
        )
        record = formats.canonical(
            eid, source, etype, at, objects, dims=dims, facts=facts, traceparent=traceparent, relations=relations
        )
        if self.tenant:
            record["tenant"] = self.tenant
        if delay > timedelta(0):
            self.at(self._now + delay, lambda: self.batch(("events",), record))
        else:
            self.batch(("events",), record)

    def _flush(self, start: datetime, end: datetime) -> Step:
        messages, self._messages = self._messages, []
        batches, self._batches = self._batches, defaultdict(list)
        for key in sorted(batches):
            records = batches[key]
            kind = key[0]
            last = max(at for at, _ in records)
            if kind == "events":
                events = [r for _, r in records]
                for i in range(0, len(events), 2000):
                    chunk = events[i : i + 2000]
                    messages.append(
                        Message(
                            last,
                            ROUTES["events"],
                            {"Content-Type": "application/x-ndjson"},
                            formats.ndjson(chunk),
                            "sdk",
                            len(chunk),
                        )
                    )
            elif kind == "x12":
                messages.append(self._x12_message(key[1], key[2], key[3], last, [r for _, r in records]))
            elif kind == "csv":
                rows = [row for _, rs in records for row in rs]
                body = formats.wms_csv(rows)
                messages.append(Message(last, ROUTES["csv"], {"Content-Type": "text/csv"}, body, f"csv {key[1]}"))
            elif kind == "mirakl":
                body = formats.mirakl_orders([r for _, r in records])
                messages.append(
                    Message(
                        last,
                        ROUTES["mirakl"],
                        {"Content-Type": "application/json"},
                        body,
                        "mirakl orders",
                        len(records),
                    )
                )
            elif kind == "usps":
                body = formats.usps_tracking([r for _, r in records])
                messages.append(
                    Message(
                        last, ROUTES["usps"], {"Content-Type": "application/json"}, body, "usps tracking", len(records)
                    )
                )
        messages.sort(key=lambda m: m.at)
        out: list[Message] = []
        for message in messages:
            out.extend(self._deliver(message))
        count, spans = self.sync_steps.take()
        for m in out:
            self.truth.messages[m.kind.split(" ")[0]] += 1
        return Step(start, end, out, spans, count)

    def _deliver(self, message: Message) -> list[Message]:
        """Faults that act on deliveries: broken payloads fixed and resent later; channel resends."""
        if message.duplicate or message.malformed:
            return [message]
        if "traceparent" not in message.headers and message.route != ROUTES["events"]:
            traceparent = self.span(
                f"deliver {message.kind}",
                "middleware",
                message.at,
                message.at + timedelta(milliseconds=250),
                {"message.kind": message.kind},
            )
            message.headers["traceparent"] = traceparent
        broken = self.scenario("malformed", message.at)
        if broken and message.route != ROUTES["events"] and self.rng.random() < broken.intensity:
            bad = Message(
                message.at,
                message.route,
                dict(message.headers),
                _corrupt(message.body, message.headers.get("Content-Type", "")),
                message.kind,
                malformed=True,
            )
            if "X-Shopify-Hmac-Sha256" in bad.headers:  # Shopify signs what it sends, broken or not
                bad.headers.update(
                    formats.shopify_headers(
                        bad.body,
                        bad.headers["X-Shopify-Topic"],
                        bad.headers["X-Shopify-Shop-Domain"],
                        bad.headers["X-Shopify-Webhook-Id"],
                        self.business.shopify_secret,
                        message.at,
                    )
                )
            if "X-Hmac-Signature" in bad.headers:
                bad.headers.update(formats.easypost_headers(bad.body, self.business.easypost_secret, message.at))
            incident = self.incident("malformed")
            incident.messages += 1
            incident.details.append({"at": formats.iso(message.at), "route": message.route, "kind": message.kind})
            fixed_at = message.at + timedelta(minutes=20 + self.rng.random() * 40)
            message.at = fixed_at
            if "X-Hmac-Signature-V2" in message.headers:  # signed again when sent again
                message.headers.update(formats.easypost_headers(message.body, self.business.easypost_secret, fixed_at))
            self.at(fixed_at, lambda: self.send(message))
            return [bad]
        resend = self.scenario("duplicate-orders", message.at)
        is_order = message.kind in ("shopify orders/create", "x12 850", "mirakl orders")
        if resend and is_order and self.rng.random() < resend.intensity:
            copy = Message(
                message.at + timedelta(minutes=1 + self.rng.random() * 29),
                message.route,
                dict(message.headers),
                message.body,
                message.kind,
                message.events,
                duplicate=True,
            )
            incident = self.incident("duplicate-orders")
            incident.messages += 1
            incident.events += message.events or 1
            incident.details.append(
                {
                    "at": formats.iso(copy.at),
                    "route": message.route,
                    "kind": message.kind,
                    "events": message.events or 1,
                }
            )
            self.at(copy.at, lambda: self.send(copy))
        return [message]

    def _x12_message(self, sender: str, receiver: str, set_id: str, at: datetime, records: list[Any]) -> Message:
        control = self.counter(f"isa:{sender}")
        functional = formats.FUNCTIONAL_IDS[set_id]
        sets = [(set_id, segs) for segs in records]
        body = formats.x12_interchange(sender, receiver, functional, control, at, sets)
        events = len(records) if set_id not in ("846", "214") else 0
        if set_id != "997":  # the receiver acknowledges every group it gets
            acks = [(set_id, f"{n:04d}") for n in range(1, len(sets) + 1)]
            reply = formats.x12_997(functional, control, acks)
            self.at(
                at + timedelta(minutes=2 + self.rng.random() * 10),
                lambda: self.batch(("x12", receiver, sender, "997"), reply),
            )
        return Message(at, ROUTES["x12"], {"Content-Type": "application/edi-x12"}, body, f"x12 {set_id}", events)

    # ------------------------------------------------------------ demand

    def _schedule_arrivals(self) -> None:
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        while hour < self.end:
            rate = self.orders_per_day / 24 * seasonal_rate(hour)
            t = hour + timedelta(hours=self.rng.expovariate(rate)) if rate > 0 else hour + HOUR
            while t < hour + HOUR:
                if t >= self.start and t < self.end:
                    self._new_order(t)
                t += timedelta(hours=self.rng.expovariate(rate))
            hour += HOUR

    def _new_order(self, created: datetime) -> None:
        b = self.business
        channel = self.rng.choices(b.channels, weights=[c.share for c in b.channels])[0]
        n_lines = self.rng.randint(*channel.lines)
        skus = self.rng.choices(self._skus, weights=self._weights, k=n_lines)
        skus = list(dict.fromkeys(skus))
        lines = [(str(i), sku, self.rng.randint(*channel.quantity), self._price[sku]) for i, sku in enumerate(skus, 1)]
        warehouse = self.rng.choices(b.warehouses, weights=[w.share for w in b.warehouses])[0]
        self._next_channel_number[channel.key] += 1
        number = self._next_channel_number[channel.key]
        received = created
        if channel.key == "edi":  # the partner transmits its POs in a file every 30 minutes
            received = created + timedelta(minutes=30 - created.minute % 30, seconds=-created.second)
        if received >= self.end:
            return  # the partner's next file goes out after the simulation ends
        ship_by = (received + DAY).date().isoformat()
        deliver_by = (received + 5 * DAY).date().isoformat()
        so = f"SO-{self.counter('so'):07d}"
        if channel.key == "shopify":
            key, ids = f"#{number}", {f"shopify/{b.shop}": f"#{number}"}
        elif channel.key == "edi":
            key, ids = f"PO{number}", {f"po:{b.edi_partner.lower()}": f"PO{number}"}
        else:
            key, ids = f"MK-{number}", {"marketplace/mirakl": f"MK-{number}"}
        ids["erp"] = so
        truth = OrderTruth(
            key,
            channel.key,
            ids,
            warehouse.key,
            received,
            ship_by,
            deliver_by,
            [(line, sku, qty) for line, sku, qty, _ in lines],
        )
        order = _Order(
            truth, so, lines, shopify_id=5_000_000_000 + number, customer=7_000_000 + self.rng.randint(1, 40_000)
        )
        self.truth.orders[key] = truth
        self.at(received, lambda: self._receive(order))

    def _receive(self, order: _Order) -> None:
        b, t, now = self.business, order.truth, self._now
        t.milestones["order.received"] = now
        if t.channel == "shopify":
            body = formats.shopify_order(
                order.shopify_id,
                int(t.key[1:]),
                now,
                order.customer,
                order.lines,
                t.promised_ship_date,
                t.promised_delivery_date,
            )
            webhook = f"wh-{self.counter('webhook'):09d}"
            headers = formats.shopify_headers(body, "orders/create", b.shop, webhook, b.shopify_secret, now)
            self.send(Message(now, ROUTES["shopify"], headers, body, "shopify orders/create", 1))
        elif t.channel == "edi":
            segs = formats.x12_850(
                t.key,
                now,
                t.promised_ship_date,
                t.promised_delivery_date,
                f"{self.rng.randint(1, 400):04d}",
                order.lines,
            )
            self.batch(("x12", b.edi_partner, b.company, "850"), segs)
        else:
            record = formats.mirakl_order(
                t.key,
                f"C{t.key[3:]}",
                "WAITING_ACCEPTANCE",
                now,
                now,
                order.lines,
                t.promised_ship_date,
                t.promised_delivery_date,
            )
            self.batch(("mirakl",), record)
        # a small share of orders is cancelled by the customer before it leaves the building
        if self.rng.random() < b.cancel_rate:
            self.at(now + timedelta(minutes=10 + self.rng.random() * 600), lambda: self._cancel(order))
        self.erp(now + b.accept.draw(self.rng), order, "order.import", lambda: self._accept(order))

    # ------------------------------------------------------------ the ERP (through the middleware)

    def erp(
        self, when: datetime, order: _Order | None, operation: str, action: Callable[[], None], attempt: int = 1
    ) -> None:
        """Run an ERP-side sync step at `when`, unless the ERP is down or rate-limiting it."""

        def run() -> None:
            now = self._now
            down = self.scenario("erp-maintenance", now)
            if down:
                if order is not None:
                    self.incident("erp-maintenance").orders.add(order.truth.key)
                    order.truth.incidents.add("erp-maintenance")
                    if attempt == 1:
                        self._sync_failed(
                            "erp", operation, "503 Service Unavailable: ERP in maintenance", attempt, order
                        )
                # the backlog drains after the window, a few per minute
                backlog = down.end + timedelta(seconds=self.rng.random() * 1800)
                self.erp(backlog, order, operation, action, attempt + 1)
                return
            limited = self.scenario("rate-limit", now)
            if limited and attempt <= 4 and self.rng.random() < limited.intensity:
                if order is not None:
                    self.incident("rate-limit").orders.add(order.truth.key)
                    order.truth.incidents.add("rate-limit")
                self._sync_failed("erp", operation, "429 Too Many Requests", attempt, order)
                backoff = timedelta(seconds=30 * 2 ** (attempt - 1) * (0.5 + self.rng.random()))
                self.at(now + backoff, lambda: self._sync_retried("erp", operation, attempt + 1, order))
                self.erp(now + backoff, order, operation, action, attempt + 1)
                return
            action()

        self.at(when, run)

    def _sync_failed(self, system: str, operation: str, error: str, attempt: int, order: _Order | None) -> None:
        objects = [{"type": "order", "ids": {"erp": order.so}}] if order else []
        self.event(
            "ipaas/celigo",
            "sync.failed",
            self._now,
            objects,
            step=f"sync {operation}",
            dims={"system": system},
            facts={"system": system, "operation": operation, "error": error, "attempt": attempt},
        )

    def _sync_retried(self, system: str, operation: str, attempt: int, order: _Order | None) -> None:
        objects = [{"type": "order", "ids": {"erp": order.so}}] if order else []
        self.event(
            "ipaas/celigo",
            "sync.retried",
            self._now,
            objects,
            step=f"retry {operation}",
            dims={"system": system},
            facts={"system": system, "operation": operation, "attempt": attempt},
        )

    def _accept(self, order: _Order) -> None:
        b, t, now = self.business, order.truth, self._now
        if t.cancelled:
            return
        t.milestones["order.accepted"] = now
        ids = {k: v for k, v in t.ids.items()}
        ids[f"so:{b.company.lower()}"] = order.so
        self.event(
            b.erp_source,
            "order.accepted",
            now,
            [{"type": "order", "ids": ids}],
            step="erp.order.import",
            dims={"channel": t.channel, "system": "erp"},
            facts={
                "promised_ship_date": t.promised_ship_date,
                "promised_delivery_date": t.promised_delivery_date,
                "lines": [{"line": ln, "sku": s, "quantity": q, "uom": "EA"} for ln, s, q, _ in order.lines],
            },
            attributes={"erp.order_number": order.so},
        )
        if t.channel == "edi":
            self.batch(("x12", b.company, b.edi_partner, "855"), formats.x12_855(t.key, order.so, now, order.lines))
        elif t.channel == "marketplace":
            record = formats.mirakl_order(
                t.key,
                f"C{t.key[3:]}",
                "SHIPPING",
                t.received_at,
                now,
                order.lines,
                t.promised_ship_date,
                t.promised_delivery_date,
            )
            self.batch(("mirakl",), record)
        self.erp(now + b.allocate.draw(self.rng), order, "inventory.allocate", lambda: self._allocate(order))

    def _allocate(self, order: _Order) -> None:
        b, t, now = self.business, order.truth, self._now
        if t.cancelled:
            return
        wh = t.warehouse
        view = self._erp_stock[wh]
        short = [(sku, q) for _, sku, q, _ in order.lines if view[sku] < q]
        if short:
            if "inventory.backordered" not in t.milestones:
                t.milestones["inventory.backordered"] = now
                self.event(
                    b.erp_source,
                    "inventory.backordered",
                    now,
                    [{"type": "order", "ids": {"erp": order.so}}],
                    step="erp.inventory.allocate",
                    dims={"warehouse": wh, "system": "erp"},
                    facts={"lines": [{"sku": s, "quantity": q} for s, q in short]},
                )
            for sku, _ in short:
                self._backorders[(wh, sku)].append(order)
            return
        for _, sku, q, _ in order.lines:
            view[sku] -= q
            self._stock[wh][sku] -= q
        t.milestones.setdefault("inventory.allocated", now)
        self.event(
            b.erp_source,
            "inventory.allocated",
            now,
            [{"type": "order", "ids": {"erp": order.so}}],
            step="erp.inventory.allocate",
            dims={"warehouse": wh, "system": "erp"},
            facts={"lines": [{"line": ln, "sku": s, "quantity": q} for ln, s, q, _ in order.lines]},
        )
        w = b.warehouse(wh)
        wave = _next_wave(now, w)
        self.erp(wave, order, "fulfillment.release", lambda: self._release(order))

    def _release(self, order: _Order) -> None:
        b, t, now = self.business, order.truth, self._now
        if t.cancelled:
            return
        order.released = True
        t.milestones["fulfillment.released"] = now
        w = b.warehouse(t.warehouse)
        ticket = f"PT-{self.counter('ticket'):07d}"
        plain = [(ln, s, q) for ln, s, q, _ in order.lines]
        if w.wms == "x12":
            self.batch(
                ("x12", b.company, "WESTLOG", "940"), formats.x12_940(order.so, t.key, t.promised_ship_date, plain)
            )
        else:
            self.event(
                b.erp_source,
                "fulfillment.released",
                now,
                [{"type": "order", "ids": {"erp": order.so}}, {"type": "fulfillment", "ids": {f"wms/{w.key}": ticket}}],
                step="erp.fulfillment.release",
                dims={"warehouse": w.key, "system": "erp"},
                facts={"lines": [{"line": ln, "sku": s, "quantity": q} for ln, s, q in plain]},
            )
        picked = _in_shift(now + w.pick.draw(self.rng), w)
        self.at(picked, lambda: self._pick(order, ticket))

    # ------------------------------------------------------------ the warehouses

    def wms_send_time(self, w: Warehouse, at: datetime, order: _Order) -> datetime:
        late = self.scenario("wms-delay", at, w.key)
        if late:
            self.incident("wms-delay").orders.add(order.truth.key)
            order.truth.incidents.add("wms-delay")
            return late.end + timedelta(minutes=self.rng.random() * 20)
        return at

    def _pick(self, order: _Order, ticket: str) -> None:
        b, t, now = self.business, order.truth, self._now
        w = b.warehouse(t.warehouse)
        if order.picked:
            return  # a second re-pick scheduled by another SKU's replenishment
        short = sorted({sku for _, sku, _, _ in order.lines if self._stock[w.key][sku] < 0})
        if short:  # oversold: the shelf is empty; the pick comes up short and waits for stock
            t.milestones.setdefault("inventory.backordered", now)
            t.oversold = True  # the ERP allocated stock the shelf did not hold
            self.event(
                b.erp_source,
                "inventory.backordered",
                now,
                [{"type": "order", "ids": {"erp": order.so}}],
                step="erp.inventory.short_pick",
                dims={"warehouse": w.key, "system": "erp"},
                facts={"reason": "short pick", "lines": [{"sku": sku} for sku in short]},
            )
            for sku in short:
                self._short_picks[(w.key, sku)].append((order, ticket))
            return
        order.picked = True
        if w.wms != "x12":  # the 3PL reports packing (945), never picking
            t.milestones["fulfillment.picked"] = now
        plain = [(ln, s, q) for ln, s, q, _ in order.lines]
        send_at = self.wms_send_time(w, now, order)
        self._confirm(w, order, ticket, "picked", plain, send_at)
        packed = now + w.pack.draw(self.rng)
        self.at(packed, lambda: self._pack(order, ticket))

    def _confirm(
        self,
        w: Warehouse,
        order: _Order,
        ticket: str,
        status: str,
        plain: list[tuple[str, str, int]],
        send_at: datetime,
    ) -> None:
        """A CSV or SDK warehouse confirms a pick or a pack of a ticket (the 3PL says it its own way)."""
        now = self._now
        if w.wms == "csv":
            rows = [(order.so, ticket, status, s, q, w.key.upper(), "", "", now) for _, s, q in plain]
            self.at(send_at, lambda: self.batch(("csv", w.key), rows))
        elif w.wms == "sdk":
            self.event(
                f"wms/{w.key}",
                f"fulfillment.{status}",
                now,
                [{"type": "order", "ids": {"erp": order.so}}, {"type": "fulfillment", "ids": {f"wms/{w.key}": ticket}}],
                step=f"wms.confirm_{status.removesuffix('ed')}",
                dims={"warehouse": w.key, "system": "wms"},
                facts={"lines": [{"line": ln, "sku": s, "quantity": q} for ln, s, q in plain]},
                delay=send_at - now,
            )

    def _pack(self, order: _Order, ticket: str) -> None:
        b, t, now = self.business, order.truth, self._now
        w = b.warehouse(t.warehouse)
        t.milestones["fulfillment.packed"] = now
        plain = [(ln, s, q) for ln, s, q, _ in order.lines]
        # parcels: most orders one, some split in two (the second may wait for stock)
        if len(plain) >= 2 and self.rng.random() < b.split_rate:
            cut = self.rng.randint(1, len(plain) - 1)
            groups = [plain[:cut], plain[cut:]]
        else:
            groups = [plain]
        send_at = self.wms_send_time(w, now, order)
        if w.wms in ("csv", "sdk"):
            self._confirm(w, order, ticket, "packed", plain, send_at)
        else:  # the 3PL's 945
            shipment_ref = f"SH-{self.counter('3pl'):07d}"
            segs = formats.x12_945(order.so, shipment_ref, now, plain)
            self.at(send_at, lambda: self.batch(("x12", "WESTLOG", b.company, "945"), segs))
        for n, group in enumerate(groups):
            label_at = now + w.label.draw(self.rng) + (timedelta(hours=self.rng.random() * 20) if n else timedelta(0))
            carrier = self.rng.choices(b.carriers, weights=[c.share for c in b.carriers])[0]
            shipment = ShipmentTruth(self._tracking(carrier.key), carrier.key, w.key, group)
            t.shipments.append(shipment)
            parcel = _Parcel(shipment, order, label_at, group, ticket, f"{ticket}-{n + 1}")
            order.parcels.append(parcel)
            self.at(label_at, partial(self._label, parcel))

    def _tracking(self, carrier: str) -> str:
        r = self.rng
        if carrier == "ups":
            return "1Z" + "".join(r.choice("0123456789ABCDEFGHJKLMNPRSTUVWXY") for _ in range(16))
        if carrier == "fedex":
            return "".join(r.choice("0123456789") for _ in range(12))
        return "9400" + "".join(r.choice("0123456789") for _ in range(18))

    def _label(self, parcel: _Parcel) -> None:
        b, order, now = self.business, parcel.order, self._now
        t, s = order.truth, parcel.truth
        w = b.warehouse(t.warehouse)
        carrier = b.carrier(s.carrier)
        s.manifested_at = now
        s.milestones["shipment.manifested"] = now
        send_at = self.wms_send_time(w, now, order)
        if w.wms == "csv":
            rows = [
                (order.so, parcel.ticket, "shipped", sku, q, w.key.upper(), s.tracking, carrier.key.upper(), now)
                for _, sku, q in parcel.lines
            ]
            self.at(send_at, lambda: self.batch(("csv", w.key), rows))
        else:  # the shipping platform buys the label and reports it
            fulfillment = (
                {"type": "fulfillment", "ids": {f"wms/{w.key}": parcel.ticket}}
                if w.wms == "sdk"
                else {"type": "fulfillment", "ids": {f"release:{b.company.lower()}": order.so}}
            )
            self.event(
                "shipping/shipstation",
                "shipment.manifested",
                now,
                [
                    {"type": "order", "ids": {"erp": order.so}},
                    fulfillment,
                    {"type": "shipment", "ids": {f"tracking:{carrier.key}": s.tracking}},
                ],
                relations=[[0, 1], [1, 2]],
                step="shipping.buy_label",
                dims={"warehouse": w.key, "carrier": carrier.key, "system": "shipping"},
                facts={
                    "lines": [{"line": ln, "sku": sku, "quantity": q} for ln, sku, q in parcel.lines],
                    "carrier": carrier.key,
                },
                attributes={"shipment.tracking_number": s.tracking},
                delay=send_at - now,
            )
        order.shipped_lines += len(parcel.lines)
        if t.channel == "shopify":
            fid = 4_000_000_000 + self.counter("fulfillment")
            body = formats.shopify_fulfillment(
                fid, order.shopify_id, int(t.key[1:]), now, carrier.key.upper(), s.tracking, parcel.lines
            )
            webhook = f"wh-{self.counter('webhook'):09d}"
            headers = formats.shopify_headers(body, "fulfillments/create", b.shop, webhook, b.shopify_secret, now)
            at = now + timedelta(minutes=1 + self.rng.random() * 4)
            self.at(
                at,
                lambda: self.send(
                    Message(self._now, ROUTES["shopify"], headers, body, "shopify fulfillments/create", 1)
                ),
            )
        elif t.channel == "edi":
            self._load[(w.key, carrier.key, now.date().isoformat())].append(parcel)
        if order.shipped_lines >= len(order.lines) and t.channel != "edi":
            self.erp(
                now + timedelta(minutes=5 + self.rng.random() * 30),
                order,
                "order.invoice",
                lambda: self._invoice(order),
            )
        missing = self.scenario("missing-tracking", now)
        if missing and self.rng.random() < missing.intensity:
            s.never_scanned = True
            self.incident("missing-tracking").shipments.add(s.tracking)
            self.incident("missing-tracking").orders.add(t.key)
            t.incidents.add("missing-tracking")
            return
        if carrier.feed == "easypost":
            parcel.tracker = f"trk_{self.rng.getrandbits(64):016x}"
            self._scan(parcel, "pre_transit", now + timedelta(minutes=1))
        pickup = now.replace(hour=w.cutoff_hour, minute=0, second=0, microsecond=0)
        if pickup <= now:
            pickup += DAY
        first = pickup + timedelta(minutes=self.rng.random() * 45)
        self._scan_at(parcel, "in_transit", first)
        days = self.rng.randint(*carrier.transit_days)
        hub = first + timedelta(hours=8 + self.rng.random() * 10)
        self._scan_at(parcel, "in_transit", hub)
        delivery_day = (first + days * DAY).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.rng.random() < carrier.exception_rate:
            self._scan_at(parcel, "exception", delivery_day + timedelta(hours=11 + self.rng.random() * 6))
            delivery_day += DAY
            s.exception = True
        ofd = delivery_day + timedelta(hours=7 + self.rng.random() * 2)
        self._scan_at(parcel, "out_for_delivery", ofd)
        self._scan_at(parcel, "delivered", ofd + timedelta(hours=2 + self.rng.random() * 7))

    # ------------------------------------------------------------ carriers

    def _scan_at(self, parcel: _Parcel, status: str, when: datetime) -> None:
        self.at(when, lambda: self._scan(parcel, status, self._now))

    def _scan(self, parcel: _Parcel, status: str, at: datetime) -> None:
        b, s, order = self.business, parcel.truth, parcel.order
        carrier = b.carrier(s.carrier)
        outage = self.scenario("carrier-outage", at, carrier.key)
        if outage:  # the carrier scans nothing while down; the backlog is scanned after recovery
            incident = self.incident("carrier-outage")
            incident.shipments.add(s.tracking)
            incident.orders.add(order.truth.key)
            order.truth.incidents.add("carrier-outage")
            self._scan_at(parcel, status, outage.end + timedelta(minutes=5 + self.rng.random() * 55))
            return
        etype = {
            "pre_transit": "shipment.manifested",
            "in_transit": "shipment.in_transit",
            "out_for_delivery": "shipment.out_for_delivery",
            "delivered": "shipment.delivered",
            "exception": "shipment.exception",
        }[status]
        if etype != "shipment.manifested":
            first_scan = not any(k in s.milestones for k in ("shipment.in_transit", "shipment.delivered"))
            s.milestones.setdefault(etype, at)
            if first_scan and etype == "shipment.in_transit":
                self._status_sync(parcel, at)
        city = self.rng.choice(("MEMPHIS", "LOUISVILLE", "CHICAGO", "DALLAS", "ONTARIO", "ATLANTA"))
        if carrier.feed == "easypost":
            ep_status = "failure" if status == "exception" else status
            parcel.history.append((ep_status, at, ep_status.replace("_", " ").title()))
            previous = parcel.history[-2][0] if len(parcel.history) > 1 else None
            body = formats.easypost_event(
                f"evt_{self.rng.getrandbits(64):016x}",
                parcel.tracker,
                s.tracking,
                "UPS",
                ep_status,
                at,
                parcel.history,
                previous,
            )
            headers = formats.easypost_headers(body, b.easypost_secret, at)
            self.send(Message(at, ROUTES["easypost"], headers, body, "easypost tracker.updated", 1))
        elif carrier.feed == "x12":
            departed = any(h[0] == "in_transit" for h in parcel.history)
            code = {
                "in_transit": "X4" if departed else "AF",
                "out_for_delivery": "X6",
                "delivered": "D1",
                "exception": "SD",
            }[status]
            parcel.history.append((status, at, code))
            po = order.truth.key if order.truth.channel == "edi" else order.so
            self.batch(
                ("x12", carrier.scac, b.company, "214"),
                formats.x12_214(s.tracking, parcel.reference, carrier.scac, po, code, at, city),
            )
        else:
            self.batch(("usps",), (s.tracking, status, at, city.title()))

    def _status_sync(self, parcel: _Parcel, first_scan: datetime) -> None:
        b, order = self.business, parcel.order
        t = order.truth
        delay = b.status_sync.draw(self.rng)
        lag = self.scenario("status-lag", first_scan)
        if lag:
            delay += timedelta(hours=6 * lag.intensity) * (0.5 + self.rng.random())
            self.incident("status-lag").orders.add(t.key)
            self.incident("status-lag").shipments.add(parcel.truth.tracking)
            t.incidents.add("status-lag")

        def synced() -> None:
            now = self._now
            first = "order.status_synced" not in t.milestones
            t.milestones.setdefault("order.status_synced", now)
            self.event(
                b.erp_source,
                "order.status_synced",
                now,
                [
                    {"type": "order", "ids": {"erp": order.so}},
                    {"type": "shipment", "ids": {f"tracking:{parcel.truth.carrier}": parcel.truth.tracking}},
                ],
                step="erp.shipment.status_sync",
                dims={"system": "erp", "carrier": parcel.truth.carrier},
                facts={"status": "in_transit", "first_scan_at": formats.iso(first_scan)},
                attributes={"shipment.tracking_number": parcel.truth.tracking},
            )
            if t.channel == "marketplace" and first:  # the marketplace knows one SHIPPED state per order
                record = formats.mirakl_order(
                    t.key,
                    f"C{t.key[3:]}",
                    "SHIPPED",
                    t.received_at,
                    now,
                    order.lines,
                    t.promised_ship_date,
                    t.promised_delivery_date,
                )
                record["shipping_tracking"] = parcel.truth.tracking
                record["shipping_carrier_code"] = parcel.truth.carrier.upper()
                self.batch(("mirakl",), record)

        self.erp(first_scan + delay, order, "shipment.status_sync", synced)

    def _invoice(self, order: _Order) -> None:
        b, t, now = self.business, order.truth, self._now
        t.milestones.setdefault("order.invoiced", now)
        invoice = f"INV-{self.counter('invoice'):07d}"
        if t.channel == "edi":
            self.batch(("x12", b.company, b.edi_partner, "810"), formats.x12_810(invoice, t.key, now, order.lines))
        else:
            amount = round(sum(q * p for _, _, q, p in order.lines), 2)
            self.event(
                b.erp_source,
                "order.invoiced",
                now,
                [{"type": "order", "ids": {"erp": order.so}}, {"type": "invoice", "ids": {"erp_invoice": invoice}}],
                step="erp.invoice",
                dims={"system": "erp"},
                facts={"invoice_number": invoice, "amount": amount, "currency": "USD"},
            )

    def _cancel(self, order: _Order) -> None:
        b, t, now = self.business, order.truth, self._now
        if order.released or t.cancelled:
            return  # too late: it is on the floor
        t.milestones["order.cancelled"] = now
        wh = t.warehouse
        if "inventory.allocated" in t.milestones:
            for _, sku, q, _ in order.lines:  # the reservation goes back
                self._erp_stock[wh][sku] += q
                self._stock[wh][sku] += q
        if t.channel == "shopify":
            body = formats.shopify_order(
                order.shopify_id,
                int(t.key[1:]),
                t.received_at,
                order.customer,
                order.lines,
                t.promised_ship_date,
                t.promised_delivery_date,
                cancelled_at=now,
            )
            webhook = f"wh-{self.counter('webhook'):09d}"
            headers = formats.shopify_headers(body, "orders/cancelled", b.shop, webhook, b.shopify_secret, now)
            self.send(Message(now, ROUTES["shopify"], headers, body, "shopify orders/cancelled", 1))
        elif t.channel == "marketplace":
            record = formats.mirakl_order(
                t.key,
                f"C{t.key[3:]}",
                "CANCELED",
                t.received_at,
                now,
                order.lines,
                t.promised_ship_date,
                t.promised_delivery_date,
            )
            self.batch(("mirakl",), record)
        self.event(
            b.erp_source,
            "order.cancelled",
            now + timedelta(seconds=30),
            [{"type": "order", "ids": {"erp": order.so, **{k: v for k, v in t.ids.items() if k != "erp"}}}],
            step="erp.order.cancel",
            dims={"system": "erp"},
            facts={"reason": "customer request"},
        )

    # ------------------------------------------------------------ routines: loads, stock, snapshots

    def _schedule_routines(self) -> None:
        day = self.start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < self.end:
            for w in self.business.warehouses:
                self.at(day + timedelta(hours=w.cutoff_hour, minutes=-5), partial(self._ship_loads, w))
                self.at(day + timedelta(hours=5), partial(self._replenish, w))
                for _ in range(self.rng.randint(0, 2)):  # cycle counts find a little shrink now and then
                    self.at(day + timedelta(hours=self.rng.uniform(7, 20)), partial(self._shrink, w))
            day += DAY
        t = self.start
        while t < self.end:
            # every system reports each warehouse's stock every 10 minutes (the freshness SLO allows 15)
            for w in self.business.warehouses:
                self.at(t, partial(self._wms_snapshot, w))
                self.at(t + timedelta(minutes=3), partial(self._erp_snapshot_step, w))
            t += timedelta(minutes=SNAPSHOT_MINUTES)
        # the integration platform polls each carrier's tracking API every few minutes and reports
        # each run's outcome, as iPaaS flows do: acknowledged, or failed while the carrier is down
        # and runs each warehouse's confirmation import (WMS → ERP) as often
        t = self.start
        while t < self.end:
            for c in self.business.carriers:
                self.at(t + timedelta(seconds=20), partial(self._tracking_poll, c.key))
            for w in self.business.warehouses:
                self.at(t + timedelta(seconds=40), partial(self._confirmation_import, w.key))
            t += timedelta(minutes=self.business.poll_minutes)
        for s in self.scenarios:
            if s.kind == "stale-inventory":
                self.at(s.start, partial(self._stale_begins, s))
                self.at(s.end, partial(self._stale_ends, s))

    def _tracking_poll(self, carrier: str) -> None:
        if self.scenario("carrier-outage", self._now, carrier):
            self._sync_failed(f"carrier/{carrier}", "tracking.poll", "503 Service Unavailable", 1, None)
        else:
            self._sync_acknowledged(f"carrier/{carrier}", "tracking.poll")

    def _confirmation_import(self, warehouse: str) -> None:
        """While a warehouse's confirmations are held up, the import that carries them to the ERP fails."""
        if self.scenario("wms-delay", self._now, warehouse):
            error = "WMS confirmation export unavailable: connection timed out"
            self._sync_failed(f"wms/{warehouse}", CONFIRMATION_IMPORT, error, 1, None)
        else:
            self._sync_acknowledged(f"wms/{warehouse}", CONFIRMATION_IMPORT)

    def _sync_acknowledged(self, system: str, operation: str) -> None:
        self.event(
            "ipaas/celigo",
            "sync.acknowledged",
            self._now,
            [],
            step=f"sync {operation}",
            dims={"system": system},
            facts={"system": system, "operation": operation},
        )

    def _ship_loads(self, w: Warehouse) -> None:
        """The day's partner parcels leave on one truck per carrier: one consolidated 856 each."""
        b, now = self.business, self._now
        for key in sorted(k for k in self._load if k[0] == w.key):
            parcels = self._load.pop(key)
            carrier = b.carrier(key[1])
            bol = f"BOL{self.counter('bol'):08d}"
            by_po: dict[str, list[_Parcel]] = {}
            for p in parcels:
                by_po.setdefault(p.order.truth.key, []).append(p)
            orders = [(po, [(p.truth.tracking, p.lines) for p in ps]) for po, ps in by_po.items()]
            asn = f"ASN{self.counter('asn'):08d}"
            self.batch(("x12", b.company, b.edi_partner, "856"), formats.x12_856(asn, now, carrier.scac, bol, orders))
            for ps in by_po.values():
                order = ps[0].order
                if order.shipped_lines >= len(order.lines) and "order.invoiced" not in order.truth.milestones:
                    self.erp(now + timedelta(minutes=20), order, "order.invoice", partial(self._invoice, order))

    def _replenish(self, w: Warehouse) -> None:
        for sku in self._skus:
            target = max(20, int(self._daily[sku] * w.share * DAYS_OF_STOCK))
            # purchasing reorders from the ERP's numbers: when those are wrong, the shelf runs dry
            if self._erp_stock[w.key][sku] < target // 2 or self._short_picks.get((w.key, sku)):
                qty = target - min(self._erp_stock[w.key][sku], self._stock[w.key][sku])
                self._stock[w.key][sku] += qty
                if self._stale(w.key, self._now) is None:
                    self._erp_stock[w.key][sku] += qty
                else:
                    self._stale_frozen[w.key][sku] = self._stale_frozen[w.key].get(sku, 0) + qty
                    self._mismatch(w.key, sku, qty)
                for order, ticket in dict.fromkeys(self._short_picks.pop((w.key, sku), [])):
                    self.at(_in_shift(self._now + timedelta(minutes=45), w), partial(self._pick, order, ticket))
                waiting = self._backorders.pop((w.key, sku), [])
                for order in dict.fromkeys(waiting):
                    self.erp(
                        self._now + timedelta(minutes=30),
                        order,
                        "inventory.allocate",
                        partial(self._allocate, order),
                    )

    def _shrink(self, w: Warehouse) -> None:
        sku = self.rng.choice(self._skus)
        loss = self.rng.randint(1, 3)
        self._stock[w.key][sku] -= loss
        if self._stale(w.key, self._now) is not None:
            self._stale_frozen[w.key][sku] = self._stale_frozen[w.key].get(sku, 0) - loss
            self._mismatch(w.key, sku, -loss)
            return
        self._mismatch(w.key, sku, -loss)
        # three in four adjustments reach the ERP within hours; the rest wait for someone to notice
        if self.rng.random() < 0.75:

            def posted(sku: str = sku, loss: int = loss) -> None:
                self._erp_stock[w.key][sku] -= loss
                self._mismatch(w.key, sku, loss)

            self.erp(self._now + timedelta(minutes=30 + self.rng.random() * 180), None, "inventory.adjust", posted)

    def _mismatch(self, wh: str, sku: str, delta: int) -> None:
        """Track the true difference WMS − ERP per (warehouse, sku), with the window it was open."""
        entry = self._mismatch_open.get((wh, sku))
        if entry is None:
            entry = {"warehouse": wh, "sku": sku, "since": formats.iso(self._now), "difference": 0}
            self._mismatch_open[(wh, sku)] = entry
        entry["difference"] += delta
        if entry["difference"] == 0:
            entry["until"] = formats.iso(self._now)
            self.truth.mismatches.append(self._mismatch_open.pop((wh, sku)))

    def _stale(self, wh: str, at: datetime) -> Scenario | None:
        return self.scenario("stale-inventory", at, wh)

    def _stale_begins(self, s: Scenario) -> None:
        wh = s.target or "dc-east"
        self._stale_frozen[wh] = {}
        # from now on the ERP's feed repeats this picture: it is stale once this is older than the SLO allows
        last = max((as_of for *_, as_of in self._last_erp_snapshot.get(wh, [])), default=None)
        if last is not None:
            self.incident("stale-inventory").details.append(
                {"warehouse": wh, "feed": self.business.erp_source, "frozen_as_of": formats.iso(last)}
            )
        # a cycle count finds a handful of popular SKUs far short; the ERP will not hear of it in time
        for sku in self._skus[:8]:
            loss = int(self._stock[wh][sku] * 0.95)
            self._stock[wh][sku] -= loss
            self._stale_frozen[wh][sku] = self._stale_frozen[wh].get(sku, 0) - loss
            self.incident("stale-inventory").details.append({"warehouse": wh, "sku": sku, "loss": loss})
            self._mismatch(wh, sku, -loss)

    def _stale_ends(self, s: Scenario) -> None:
        wh = s.target or "dc-east"
        for sku, delta in self._stale_frozen.pop(wh, {}).items():
            self._erp_stock[wh][sku] += delta
            self._mismatch(wh, sku, -delta)
        for order in self.truth.orders.values():
            if order.oversold and order.warehouse == wh and (order.at("inventory.allocated") or s.end) >= s.start:
                self.incident("stale-inventory").orders.add(order.key)
                order.incidents.add("stale-inventory")

    def _wms_snapshot(self, w: Warehouse) -> None:
        """Every 10 minutes each WMS reports a rotating tenth of the catalogue (cycle-count style)."""
        b, now = self.business, self._now
        n = max(1, len(self._skus) // 10)
        start = self._snapshot_cursor[w.key]
        self._snapshot_cursor[w.key] = (start + n) % len(self._skus)
        skus = [self._skus[(start + i) % len(self._skus)] for i in range(n)]
        stock = [(sku, max(self._stock[w.key][sku], 0), max(self._stock[w.key][sku], 0)) for sku in skus]
        if w.wms == "x12":
            ref = f"INV{self.counter('846'):07d}"
            self.batch(("x12", "WESTLOG", b.company, "846"), formats.x12_846(ref, now, w.key, stock))
            return
        for sku, on_hand, available in stock:
            self.event(
                f"wms/{w.key}",
                "inventory.snapshot",
                now,
                [{"type": "product", "ids": {"sku": sku}}, {"type": "warehouse", "ids": {"warehouse": w.key}}],
                step="wms.inventory.snapshot",
                dims={"warehouse": w.key, "system": "wms"},
                facts={
                    "system": f"wms/{w.key}",
                    "warehouse": w.key,
                    "sku": sku,
                    "on_hand": on_hand,
                    "available": available,
                    "as_of": formats.iso(now),
                },
            )

    def _erp_snapshot_step(self, w: Warehouse) -> None:
        self.erp(self._now, None, "inventory.snapshot", partial(self._erp_snapshot, w))

    def _erp_snapshot(self, w: Warehouse) -> None:
        b, now = self.business, self._now
        stale = self._stale(w.key, now)
        if stale and w.key in self._last_erp_snapshot:
            # the ERP's feed is stuck: it repeats an old picture, and the pictures arrive out of order
            rows = self._last_erp_snapshot[w.key]
            self.incident("stale-inventory").messages += 1
            rows = list(reversed(rows)) if self.rng.random() < 0.5 else rows
        else:
            n = max(1, len(self._skus) // 10)
            start = self._snapshot_cursor[f"erp:{w.key}"]
            self._snapshot_cursor[f"erp:{w.key}"] = (start + n) % len(self._skus)
            skus = [self._skus[(start + i) % len(self._skus)] for i in range(n)]
            rows = [(sku, self._erp_stock[w.key][sku], self._erp_stock[w.key][sku], now) for sku in skus]
            self._last_erp_snapshot[w.key] = rows
        for sku, on_hand, available, as_of in rows:
            self.event(
                b.erp_source,
                "inventory.snapshot",
                now,
                [{"type": "product", "ids": {"sku": sku}}, {"type": "warehouse", "ids": {"warehouse": w.key}}],
                step="erp.inventory.snapshot",
                dims={"warehouse": w.key, "system": "erp"},
                facts={
                    "system": b.erp_source,
                    "warehouse": w.key,
                    "sku": sku,
                    "on_hand": max(on_hand, 0),
                    "available": max(available, 0),
                    "as_of": formats.iso(as_of),
                },
            )

    def _close_mismatches(self) -> None:
        # what each system would report at the end: neither reports less than nothing on hand
        self.truth.stock = {
            wh: {sku: {"wms": max(n, 0), "erp": max(self._erp_stock[wh][sku], 0)} for sku, n in sorted(skus.items())}
            for wh, skus in sorted(self._stock.items())
        }
        for entry in self._mismatch_open.values():
            entry["until"] = None
            self.truth.mismatches.append(entry)
        self._mismatch_open.clear()
        self.truth.mismatches.sort(key=lambda m: (m["since"], m["warehouse"], m["sku"]))


def _next_wave(now: datetime, w: Warehouse) -> datetime:
    minutes = now.hour * 60 + now.minute
    nxt = (minutes // w.wave_minutes + 1) * w.wave_minutes
    return _in_shift(now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=nxt), w)


def _in_shift(at: datetime, w: Warehouse) -> datetime:
    start, end = w.shift
    if start <= at.hour < end:
        return at
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if at.hour >= end:
        day += DAY
    return day + timedelta(hours=start, minutes=(at.minute % 30))


def _corrupt(body: bytes, content_type: str) -> bytes:
    """What broken senders really send: a CSV row with an unquoted comma in a field, or a payload cut off
    part-way (a CSV cut short would still be a valid CSV of fewer rows, so it gets the comma)."""
    if content_type == "text/csv":
        lines = body.split(b"\n")
        middle = max(1, len(lines) // 2)
        lines[middle] = lines[middle].replace(b",", b",Bldg 7, Dock 2,", 1)
        return b"\n".join(lines)
    return body[: max(1, len(body) * 3 // 5)]
