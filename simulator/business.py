"""The simulated distributor: who sells, who stores, who carries, and how long each step takes."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Delay:
    """A log-normal delay given by its median and its 90th percentile, in minutes."""

    median: float
    p90: float

    def draw(self, rng: random.Random) -> timedelta:
        sigma = math.log(self.p90 / self.median) / 1.2816 if self.p90 > self.median else 0.0
        return timedelta(minutes=self.median * math.exp(sigma * rng.gauss(0.0, 1.0)))


@dataclass(frozen=True, slots=True)
class Channel:
    key: str  # the `channel` dimension the adapters give its orders
    share: float  # of all orders
    lines: tuple[int, int]  # lines per order, min and max
    quantity: tuple[int, int]  # per line


@dataclass(frozen=True, slots=True)
class Warehouse:
    key: str  # the WMS source suffix and the `warehouse` dimension
    wms: str  # how its WMS talks: "csv" (confirmation files), "x12" (a 3PL: 940/945/846), "sdk" (canonical events)
    share: float  # of orders routed here first
    shift: tuple[int, int]  # local working hours [start, end) in UTC hours
    wave_minutes: int  # releases go to the floor in waves
    pick: Delay
    pack: Delay
    label: Delay
    cutoff_hour: int  # carrier pick-up, UTC hour


@dataclass(frozen=True, slots=True)
class Carrier:
    key: str  # the tracking namespace suffix (`tracking:ups`)
    feed: str  # how its scans arrive: "easypost" webhooks, "x12" 214s, "api" tracking responses
    scac: str
    share: float
    transit_days: tuple[int, int]
    exception_rate: float


@dataclass(frozen=True, slots=True)
class Business:
    """Everything about the distributor that is not random: its partners, catalogue and habits."""

    company: str = "ACMEDIST"  # its own X12 id
    erp_source: str = "erp/netsuite"
    shop: str = "acme-outdoor.myshopify.com"
    edi_partner: str = "RETAILCO"
    marketplace: str = "mirakl/outdoor-market"
    channels: tuple[Channel, ...] = (
        Channel("shopify", 0.45, (1, 3), (1, 2)),
        Channel("edi", 0.30, (2, 6), (4, 24)),
        Channel("marketplace", 0.25, (1, 2), (1, 3)),
    )
    warehouses: tuple[Warehouse, ...] = (
        Warehouse("dc-east", "csv", 0.40, (6, 22), 30, Delay(75, 240), Delay(12, 40), Delay(5, 10), 20),
        Warehouse("dc-west", "x12", 0.35, (8, 23), 60, Delay(110, 360), Delay(18, 60), Delay(6, 12), 22),
        Warehouse("dc-central", "sdk", 0.25, (0, 24), 20, Delay(50, 150), Delay(10, 30), Delay(4, 9), 21),
    )
    carriers: tuple[Carrier, ...] = (
        Carrier("ups", "easypost", "UPSN", 0.45, (1, 4), 0.02),
        Carrier("fedex", "x12", "FDEG", 0.35, (1, 5), 0.025),
        Carrier("usps", "api", "USPS", 0.20, (2, 6), 0.03),
    )
    skus: int = 60
    poll_minutes: int = 5  # the integration platform's periodic flows: carrier tracking polls, WMS imports
    accept: Delay = Delay(0.6, 1.2)  # order.received → order.accepted (the SLO is 5 min at 99.5 %)
    allocate: Delay = Delay(1.5, 4.0)  # automatic allocation in the ERP (the SLO is 30 min at 99 %)
    status_sync: Delay = Delay(4.0, 9.0)  # first carrier scan → order.status_synced (tracking propagation)
    cancel_rate: float = 0.02
    split_rate: float = 0.12  # orders of 2+ lines shipped in two parcels
    backorder_days: tuple[int, int] = (1, 3)
    shopify_secret: str = "shpss_simulated_webhook_secret"
    easypost_secret: str = "easypost_simulated_webhook_secret"

    def sku(self, n: int) -> str:
        return f"SKU-{1000 + n}"

    def channel(self, key: str) -> Channel:
        return next(c for c in self.channels if c.key == key)

    def warehouse(self, key: str) -> Warehouse:
        return next(w for w in self.warehouses if w.key == key)

    def carrier(self, key: str) -> Carrier:
        return next(c for c in self.carriers if c.key == key)


def seasonal_rate(at: datetime) -> float:
    """Relative order intensity by hour of day and day of week (1.0 on average over a week).

    Business-to-consumer orders peak in the evening and on Mondays after the weekend; the weights
    below are a common e-commerce profile, normalised so a week integrates to 7 days of 1.0.
    """
    hour = HOURLY[at.hour]
    day = DAILY[at.weekday()]
    return hour * day / (_HOURLY_MEAN * _DAILY_MEAN)


HOURLY = (
    0.25,
    0.15,
    0.1,
    0.1,
    0.15,
    0.3,
    0.5,
    0.8,
    1.0,
    1.1,
    1.2,
    1.25,
    1.3,
    1.3,
    1.25,
    1.2,
    1.2,
    1.25,
    1.35,
    1.45,
    1.5,
    1.3,
    0.9,
    0.5,
)
DAILY = (1.2, 1.1, 1.05, 1.0, 0.95, 0.8, 0.9)  # Monday … Sunday
_HOURLY_MEAN = sum(HOURLY) / 24
_DAILY_MEAN = sum(DAILY) / 7
