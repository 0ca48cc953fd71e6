"""Deterministic synthetic canonical events: a month of orders from a web store and an EDI partner.

Every order goes through the path of DESIGN.md, each milestone emitted by the system that would
emit it and naming the business objects that system knows:

- `order.received` from the channel: the web store (`{"shopify/acme": "#1042"}`) or an EDI 850
  (`{"po:acme": "4500042"}`), with dims channel/warehouse/customer and facts promised dates + lines;
- `order.accepted` from the ERP names the same order by its channel id *and* `{"erp": "SO-100042"}`:
  a merge by shared identifier;
- `inventory.allocated` (ERP, by SO number), `fulfillment.released/picked/packed` (order + pick ticket
  `{"wms/dc-east": "PT-42"}`, related to it);
- one shipment, sometimes two (a split), each `shipment.manifested` (order + `{"tracking:ups": "1Z…"}`),
  `shipment.in_transit`, sometimes `shipment.out_for_delivery`, `shipment.delivered` (shipment only,
  from the carrier);
- `order.invoiced` (order + invoice).

About 11 events per order. A small share of orders come in pairs whose last shipment is consolidated
(one parcel, both orders: `data.relations` relates each order to the parcel, not to each other).

The stream is in arrival order: orders arrive over a month (exponential inter-arrival times), each
order's milestones follow over hours to days, and a few carrier webhooks arrive hours late (their
`time` stays the event time), so consecutive events belong to many different orders, as in
production. Events are built lazily from a heap of pending milestones, so memory stays bounded
by the orders in flight (about a fifth of a month), not by `n_events`.

Same `(n_events, seed)` → same events, byte for byte; every `(source, id)` is unique.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

MONTH_START = datetime(2025, 3, 1, tzinfo=UTC)
MONTH_US = 30 * 24 * 3600 * 1_000_000
EVENTS_PER_ORDER = 11.0  # approximate; only sets the arrival rate so n_events spans about a month

MIN = 60 * 1_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR

SPLIT_SHARE = 0.15  # orders shipped in two parcels
CONSOLIDATED_SHARE = 0.03  # order groups of two sharing their last parcel
OUT_FOR_DELIVERY_SHARE = 0.5
LATE_WEBHOOK_SHARE = 0.02  # carrier events arriving hours after they happened

WAREHOUSES = (("dc-east", 0.6), ("dc-west", 0.4))
CARRIERS = (("ups", 0.7), ("fedex", 0.3))


def _iso(time_us: int, start: datetime = MONTH_START) -> str:
    return (start + timedelta(microseconds=time_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _date(time_us: int, start: datetime = MONTH_START) -> str:
    return (start + timedelta(microseconds=time_us)).strftime("%Y-%m-%d")


def _pick(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for value, weight in choices:
        if x < weight:
            return value
        x -= weight
    return choices[-1][0]


_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _tracking(carrier: str, serial: int) -> str:
    """A unique, random-looking tracking number: a bijection of `serial` (odd multiplier, coprime to 6)."""
    if carrier == "ups":
        x = (serial * 0x5DEECE66D1 + 0xB) % 36**16
        digits = []
        for _ in range(16):
            x, r = divmod(x, 36)
            digits.append(_B36[r])
        return "1Z" + "".join(digits)
    return str((serial * 7_919_000_003) % 10**12).zfill(12)


@dataclass(slots=True)
class _Shipment:
    carrier: str
    tracking: str
    lines: list[dict[str, Any]]
    orders: list[_Order] = field(default_factory=list)


@dataclass(slots=True)
class _Order:
    n: int
    edi: bool
    warehouse: str
    customer: str
    lines: list[dict[str, Any]]
    received_us: int
    shipments: list[_Shipment] = field(default_factory=list)

    @property
    def channel_ids(self) -> dict[str, str]:
        return {"po:acme": str(4_500_000 + self.n)} if self.edi else {"shopify/acme": f"#{1000 + self.n}"}

    @property
    def so(self) -> str:
        return f"SO-{100_000 + self.n}"

    @property
    def pick_ticket(self) -> str:
        return f"PT-{self.n}"


class _Generator:
    def __init__(self, n_events: int, seed: int, tenant: str | None, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.n_events = n_events
        self.tenant = tenant
        self.start = start
        self.mean_gap_us = MONTH_US / max(1.0, n_events / EVENTS_PER_ORDER)
        self.clock_us = 0.0
        self.orders = 0
        self.parcels = 0
        self.tie = 0
        self.heap: list[tuple[int, int, int, str, Any, Any]] = []

    # --- building orders -----------------------------------------------------------------------

    def _new_order(self, received_us: int, warehouse: str | None = None, customer: str | None = None) -> _Order:
        rng = self.rng
        self.orders += 1
        edi = rng.random() < 0.3
        lines = [
            {"line": i + 1, "sku": f"SKU-{rng.randrange(1, 5000):05d}", "quantity": rng.randint(1, 12), "uom": "EA"}
            for i in range(rng.choice((1, 1, 2, 2, 3, 4, 6)))
        ]
        return _Order(
            n=self.orders,
            edi=edi,
            warehouse=warehouse or _pick(rng, WAREHOUSES),
            customer=customer or ("acme-retail" if edi else f"C-{rng.randrange(1, 20_000):05d}"),
            lines=lines,
            received_us=received_us,
        )

    def _push(self, time_us: int, kind: str, subject: Any, extra: Any = None, late: bool = False) -> None:
        arrival = time_us + (self.rng.randint(1 * HOUR, 12 * HOUR) if late else 0)
        self.tie += 1
        heapq.heappush(self.heap, (arrival, self.tie, time_us, kind, subject, extra))

    def _order_path(self, order: _Order) -> int:
        """Schedule an order's milestones up to `packed`; return the packed time."""
        rng = self.rng
        t = order.received_us
        self._push(t, "order.received", order)
        t += rng.randint(1 * MIN, 30 * MIN) if rng.random() < 0.95 else rng.randint(1 * HOUR, 8 * HOUR)
        self._push(t, "order.accepted", order)
        t += rng.randint(5 * MIN, 60 * MIN)
        self._push(t, "inventory.allocated", order)
        t += rng.randint(30 * MIN, 4 * HOUR)
        self._push(t, "fulfillment.released", order)
        t += rng.randint(30 * MIN, 6 * HOUR)
        self._push(t, "fulfillment.picked", order)
        t += rng.randint(10 * MIN, 60 * MIN)
        self._push(t, "fulfillment.packed", order)
        return t

    def _parcel(self, lines: list[dict[str, Any]], orders: list[_Order]) -> _Shipment:
        self.parcels += 1
        carrier = _pick(self.rng, CARRIERS)
        shipment = _Shipment(carrier, _tracking(carrier, self.parcels), lines, orders)
        for order in orders:
            order.shipments.append(shipment)
        return shipment

    def _ship(self, shipment: _Shipment, manifested_us: int) -> int:
        """Schedule a parcel's tracking; return its manifest time (invoicing follows the first)."""
        rng = self.rng
        t = manifested_us
        self._push(t, "shipment.manifested", shipment)
        t += rng.randint(2 * HOUR, 12 * HOUR)
        self._push(t, "shipment.in_transit", shipment, late=rng.random() < LATE_WEBHOOK_SHARE)
        if rng.random() < OUT_FOR_DELIVERY_SHARE:
            t += rng.randint(1 * DAY, 3 * DAY)
            self._push(t, "shipment.out_for_delivery", shipment, late=rng.random() < LATE_WEBHOOK_SHARE)
            t += rng.randint(1 * HOUR, 6 * HOUR)
        else:
            t += rng.randint(1 * DAY, 4 * DAY)
        self._push(t, "shipment.delivered", shipment, late=rng.random() < LATE_WEBHOOK_SHARE)
        return manifested_us

    def _group(self, received_us: int) -> None:
        """One order (or, rarely, two consolidated into one parcel) with every milestone scheduled."""
        rng = self.rng
        first = self._new_order(received_us)
        orders = [first]
        if rng.random() < CONSOLIDATED_SHARE:
            orders.append(
                self._new_order(received_us + rng.randint(1 * MIN, 20 * MIN), first.warehouse, first.customer)
            )
        packed = {o.n: self._order_path(o) for o in orders}
        first_manifest: dict[int, int] = {}
        remaining: dict[int, list[dict[str, Any]]] = {}
        for order in orders:
            lines = order.lines
            if rng.random() < SPLIT_SHARE and len(lines) > 1:  # part of the order leaves first
                half = len(lines) // 2
                t = packed[order.n] + rng.randint(10 * MIN, 3 * HOUR)
                first_manifest[order.n] = self._ship(self._parcel(lines[:half], [order]), t)
                lines = lines[half:]
            remaining[order.n] = lines
        last = max(packed.values()) + rng.randint(10 * MIN, 3 * HOUR)
        if first_manifest:  # after a split, the rest follows hours to days later
            last += rng.randint(4 * HOUR, 2 * DAY)
        # the last (or only) parcel: for a consolidated pair, one parcel holding both orders' lines
        self._ship(self._parcel([line for o in orders for line in remaining[o.n]], orders), last)
        for order in orders:
            manifest = first_manifest.get(order.n, last)
            self._push(manifest + rng.randint(0, 2 * HOUR), "order.invoiced", order)

    # --- building events -----------------------------------------------------------------------

    def _event(self, tie: int, time_us: int, kind: str, subject: Any) -> dict[str, Any]:
        rng = self.rng
        objects: list[dict[str, Any]]
        relations: list[list[int]] | None = None
        dims: dict[str, str]
        facts: dict[str, Any] = {}
        if isinstance(subject, _Order):
            order = subject
            dims = {"channel": "edi" if order.edi else "web", "warehouse": order.warehouse}
            if kind == "order.received":
                source = "edi/acme" if order.edi else "shopify/acme"
                objects = [{"type": "order", "ids": order.channel_ids}]
                dims["customer"] = order.customer
                facts = {
                    "promised_ship_date": _date(order.received_us + DAY * (1 + order.n % 2), self.start),
                    "promised_delivery_date": _date(order.received_us + DAY * (4 + order.n % 3), self.start),
                    "lines": order.lines,
                }
            elif kind == "order.accepted":
                source = "erp/netsuite"
                objects = [{"type": "order", "ids": {**order.channel_ids, "erp": order.so}}]
                dims["system"] = "erp"
            elif kind == "inventory.allocated":
                source = "erp/netsuite"
                objects = [{"type": "order", "ids": {"erp": order.so}}]
                facts = {"lines": order.lines}
            elif kind.startswith("fulfillment."):
                source = f"wms/{order.warehouse}"
                objects = [
                    {"type": "order", "ids": {"erp": order.so}},
                    {"type": "fulfillment", "ids": {f"wms/{order.warehouse}": order.pick_ticket}},
                ]
                facts = {"status": kind.split(".")[1]}
            else:  # order.invoiced
                source = "erp/netsuite"
                objects = [
                    {"type": "order", "ids": {"erp": order.so}},
                    {"type": "invoice", "ids": {"erp:invoice": f"INV-{200_000 + order.n}"}},
                ]
                facts = {
                    "amount": round(sum(line["quantity"] for line in order.lines) * 19.5, 2),
                    "currency": "USD",
                    "documents_ok": True,
                }
        else:
            shipment: _Shipment = subject
            first = shipment.orders[0]
            dims = {"carrier": shipment.carrier, "warehouse": first.warehouse}
            parcel = {"type": "shipment", "ids": {f"tracking:{shipment.carrier}": shipment.tracking}}
            if kind == "shipment.manifested":
                source = "shipping/shipstation"
                objects = [*({"type": "order", "ids": {"erp": o.so}} for o in shipment.orders), parcel]
                if len(shipment.orders) > 1:
                    relations = [[i, len(shipment.orders)] for i in range(len(shipment.orders))]
                facts = {
                    "lines": [
                        {"line": line["line"], "sku": line["sku"], "quantity": line["quantity"]}
                        for line in shipment.lines
                    ]
                }
            else:
                source = f"carrier/{shipment.carrier}"
                objects = [parcel]
                if kind == "shipment.delivered":
                    facts = {"damaged": rng.random() < 0.005}
                else:
                    facts = {"status": kind.split(".")[1]}
        data: dict[str, Any] = {"objects": objects}
        if relations is not None:
            data["relations"] = relations
        data["dims"] = dims
        data["facts"] = facts
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": f"{tie:x}-{time_us % 1_000_000:06d}",  # the heap tie is unique across the run
            "source": source,
            "type": kind,
            "time": _iso(time_us, self.start),
            "traceparent": f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64) | 1:016x}-01",
            "datacontenttype": "application/json",
        }
        if self.tenant is not None:
            event["tenant"] = self.tenant
        event["data"] = data
        return event

    def run(self) -> Iterator[dict[str, Any]]:
        emitted = 0
        heap = self.heap
        while emitted < self.n_events:
            self.clock_us += self.rng.expovariate(1.0 / self.mean_gap_us)
            received = int(self.clock_us)
            self._group(received)
            # Every milestone scheduled from now on arrives at or after `received`: what arrives
            # before it is final, in arrival order. Orders still in flight at the end stay open.
            while heap and heap[0][0] < received and emitted < self.n_events:
                _, tie, time_us, kind, subject, _ = heapq.heappop(heap)
                yield self._event(tie, time_us, kind, subject)
                emitted += 1


def events(
    n_events: int, seed: int = 1, tenant: str | None = None, start: datetime = MONTH_START
) -> Iterator[dict[str, Any]]:
    """`n_events` canonical events (dicts) in arrival order, over about a month from `start`;
    deterministic for (n_events, seed, tenant, start)."""
    if n_events <= 0:
        return iter(())
    return _Generator(n_events, seed, tenant, start).run()


def ndjson_batches(n_events: int, batch: int, seed: int = 1, tenant: str | None = None) -> Iterator[bytes]:
    """The same events as NDJSON request bodies of at most `batch` events each."""
    lines: list[bytes] = []
    for event in events(n_events, seed, tenant):
        lines.append(orjson.dumps(event))
        if len(lines) >= batch:
            yield b"\n".join(lines)
            lines = []
    if lines:
        yield b"\n".join(lines)


def identifiers_of(event: dict[str, Any]) -> list[str]:
    """The identifier values an event names (what `GET /v1/lookup?q=` can be asked)."""
    return [value for obj in event["data"]["objects"] for value in obj["ids"].values()]


if __name__ == "__main__":  # a quick look: python -m bench.synthetic [n]
    import sys
    from collections import Counter

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    sample = list(events(n))
    keys = {(e["source"], e["id"]) for e in sample}
    print(f"{len(sample)} events, {len(keys)} unique (source, id)")
    print(Counter(e["type"] for e in sample).most_common())
    print(f"first {sample[0]['time']}  last {sample[-1]['time']}")
    print(orjson.dumps(sample[len(sample) // 2], option=orjson.OPT_INDENT_2).decode())
