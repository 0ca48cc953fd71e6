"""`/v1/reconciliation/*` (inventory, tracking, EDI, stuck, oversell, anomalies) and `/v1/integration/failures`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel, Field

from slo import detections
from slo.api.engine import slo_engine
from slo.api.kpis import _parse
from slo.api.paging import page
from tower.api import ReadAccess, api_router
from tower.responses import Count, Page, Time, documented


class Snapshot(BaseModel):
    on_hand: float
    available: float
    as_of: Time


class InventoryDifference(BaseModel):
    """ERP against WMS for one warehouse and SKU: each side's newest snapshot and the difference."""

    warehouse: str
    sku: str
    erp: Snapshot
    wms: Snapshot
    difference: float = Field(description="WMS on hand minus ERP on hand")
    confirmed: bool | None = Field(description="both systems reported since it appeared; null when none")
    open_since: Time | None
    open_seconds: int | None


class MissingTracking(BaseModel):
    journey_id: str
    shipment_id: str | None
    tracking: str | None
    carrier: str | None
    warehouse: str | None
    manifested_at: Time
    waiting_seconds: int


class EdiGap(BaseModel):
    """An EDI chain left open: 850 without 855, 856 without 997 or rejected by it, shipped and not invoiced."""

    kind: Literal["850_without_855", "856_without_997", "856_rejected_by_997", "shipped_not_invoiced"]
    journey_id: str | None
    partner: str | None
    since: Time
    waiting_seconds: int


class Stuck(BaseModel):
    journey_id: str
    stage: str
    stage_at: Time
    deadline: Time
    waiting_seconds: int
    late_seconds: int
    channel: str | None
    warehouse: str | None
    carrier: str | None


class Oversold(BaseModel):
    warehouse: str
    sku: str
    system: str
    available: float
    on_hand: float
    as_of: Time
    oversold: float


class AnomalousJourney(BaseModel):
    journey_id: str
    stage: str
    channel: str | None
    warehouse: str | None
    carrier: str | None
    started_at: Time


class IntegrationFailure(BaseModel):
    system: str
    operation: str | None
    failures: Count
    retries: Count
    dead_lettered: Count
    acknowledged: Count
    last_error: str | None
    last_at: Time


class InventoryPage(Page[InventoryDifference]):
    pass


class TrackingPage(Page[MissingTracking]):
    pass


class EdiPage(Page[EdiGap]):
    pass


class StuckPage(Page[Stuck]):
    pass


class OversellPage(Page[Oversold]):
    pass


class AnomalyPage(Page[AnomalousJourney]):
    pass


class FailurePage(Page[IntegrationFailure]):
    pass


router = api_router("reconciliation")
Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many items")]
MAX_HOURS = 24 * 366  # a deadline further out than a year is a mistake, and past what a timedelta can add to now


Cursor = Annotated[str | None, Query(description="`next` of the previous page")]


@router.get(
    "/v1/reconciliation/inventory",
    summary="ERP against WMS on-hand by warehouse and SKU",
    responses={200: documented(InventoryPage, "Differences by warehouse and SKU")},
)
def inventory(
    request: Request,
    who: ReadAccess,
    warehouse: str | None = None,
    open: bool = True,
    unconfirmed: Annotated[
        bool, Query(description="also differences the other system has not reported on since they appeared")
    ] = False,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, Any]:
    s = request.app.state.services
    items = detections.inventory(s.store, who.tenant, s.evaluation_clock.now(), warehouse, open, unconfirmed)
    return page(items, lambda i: (i["warehouse"], i["sku"]), limit, cursor)


@router.get(
    "/v1/reconciliation/tracking",
    summary="Shipments manifested without a carrier scan past the cut-off",
    responses={200: documented(TrackingPage, "Shipments without a scan, oldest first")},
)
def tracking(
    request: Request, who: ReadAccess, carrier: str | None = None, limit: Limit = 1000, cursor: Cursor = None
) -> dict[str, Any]:
    s = request.app.state.services
    items = detections.missing_tracking(s.store, who.tenant, s.evaluation_clock.now(), slo_engine(request).calendars)
    items = [i for i in items if not carrier or i["carrier"] == carrier]
    return page(items, lambda i: (i["manifested_at"], i["journey_id"], i["shipment_id"]), limit, cursor)


@router.get(
    "/v1/reconciliation/edi",
    summary="EDI chains left open: 850 w/o 855, 856 w/o 997 or rejected by it, shipped not invoiced",
    responses={200: documented(EdiPage, "Open EDI chains, oldest first")},
)
def edi(
    request: Request,
    who: ReadAccess,
    kind: str | None = None,
    ack_hours: Annotated[float, Query(gt=0, le=MAX_HOURS, description="855 or 997 expected within")] = 24,
    asn_hours: Annotated[float, Query(gt=0, le=MAX_HOURS, description="856 expected within")] = 24,
    invoice_hours: Annotated[float, Query(gt=0, le=MAX_HOURS, description="810 expected within")] = 48,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, Any]:
    s = request.app.state.services
    items = detections.edi_chains(s.store, who.tenant, s.evaluation_clock.now(), ack_hours, invoice_hours, asn_hours)
    items = [i for i in items if not kind or i["kind"] == kind]

    def key(i: dict[str, Any]) -> tuple[str, ...]:
        event = i.get("event") or {}
        return (i["since"], i["kind"], i["journey_id"] or "", event.get("source", ""), event.get("id", ""))

    return page(items, key, limit, cursor)


@router.get(
    "/v1/reconciliation/stuck",
    summary="Open orders past their stage's calendar-aware deadline",
    responses={200: documented(StuckPage, "Stuck journeys, longest waiting first")},
)
def stuck(
    request: Request, who: ReadAccess, stage: str | None = None, limit: Limit = 1000, cursor: Cursor = None
) -> dict[str, Any]:
    s = request.app.state.services
    items = detections.stuck(s.store, who.tenant, s.evaluation_clock.now(), slo_engine(request).calendars, stage)
    return page(items, lambda i: (i["stage_at"], i["journey_id"]), limit, cursor)


@router.get(
    "/v1/reconciliation/oversell",
    summary="Warehouse × SKU with less than nothing available",
    responses={200: documented(OversellPage, "Oversold warehouse × SKU")},
)
def oversell(request: Request, who: ReadAccess, limit: Limit = 1000, cursor: Cursor = None) -> dict[str, Any]:
    s = request.app.state.services
    items = detections.oversell(s.store, who.tenant, s.evaluation_clock.now())
    return page(items, lambda i: (i["warehouse"], i["sku"], i["system"]), limit, cursor)


@router.get(
    "/v1/reconciliation/anomalies",
    summary="Journeys with duplicates, out-of-sequence events, …",
    responses={200: documented(AnomalyPage, "Journeys with that anomaly, newest first")},
)
def anomalies(
    request: Request, who: ReadAccess, kind: str = "duplicate_milestone", limit: Limit = 500, cursor: Cursor = None
) -> dict[str, Any]:
    s = request.app.state.services
    items = detections.anomalies(s.store, who.tenant, kind, 10_000)
    return page(items, lambda i: (i["started_at"], i["journey_id"]), limit, cursor, descending=True)


@router.get(
    "/v1/integration/failures",
    summary="Integration failures, retries and dead letters by system",
    responses={200: documented(FailurePage, "Failures by system and operation, most first")},
)
def failures(
    request: Request,
    who: ReadAccess,
    system: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339; default: a day before `to`")] = None,
    to: Annotated[str | None, Query(description="RFC 3339; default: now")] = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, Any]:
    s = request.app.state.services
    end: datetime = _parse(to, "to") or s.evaluation_clock.now()
    start: datetime = _parse(from_, "from") or end - timedelta(days=1)
    items = detections.integration_failures(s.store, who.tenant, start, end, system)
    return page(
        items, lambda i: (-(i["failures"] + i["dead_lettered"]), i["system"], i["operation"] or ""), limit, cursor
    )
