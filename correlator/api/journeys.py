"""`GET /v1/journeys/{id}` (one order end to end), `GET /v1/journeys` (search, e.g. stuck orders) and
`GET /v1/journeys/summary` (counts by stage, warehouse… for the dashboard's funnel and heatmap)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field

from correlator.queries import SUMMARY_DIMENSIONS, journey, search_journeys, summarize_journeys
from tower.api import Instant, ReadAccess, api_router
from tower.responses import Count, Page, Time, documented

router = api_router("journeys")


class JourneyRow(BaseModel):
    """A journey as listed: where it stands, its dimensions and its times."""

    id: str = Field(description="the journey's id: its order's object id")
    stage: str
    status: str = Field(description="open, exception, delivered, cancelled or rejected")
    channel: str | None
    warehouse: str | None
    carrier: str | None
    customer: str | None
    started_at: Time
    stage_at: Time
    received_at: Time | None
    departed_at: Time | None
    delivered_at: Time | None
    last_event_at: Time
    event_count: Count
    anomaly_count: Count
    anomalies: list[str] = Field(description="the kinds of its anomalies")


class JourneyPage(Page[JourneyRow]):
    """Journeys, newest started first."""


class SummaryGroup(BaseModel):
    """One group: the values of the dimensions asked for (`by`, null where unset) and its count."""

    count: Count


class JourneySummary(BaseModel):
    by: list[str]
    items: list[SummaryGroup]
    total: Count = Field(description="journeys in every group")


class Identifier(BaseModel):
    """One of an object's identifiers, with the event that first gave it."""

    namespace: str
    value: str


class JourneyObject(BaseModel):
    id: str
    type: str
    level: int | None = Field(description="its place downstream of the order; null for a reference type")
    ids: dict[str, str] = Field(description="namespace → identifier")
    identifiers: list[Identifier]
    journeys: list[str]


class JourneyEvent(BaseModel):
    source: str
    id: str
    type: str
    time: Time
    ingested_at: Time
    traceparent: str | None
    data: dict[str, Any] | None
    spans: list[dict[str, Any]] = Field(description="the spans the event's trace context points at")


class Milestone(BaseModel):
    type: str
    first: Time
    last: Time
    count: Count


class Anomaly(BaseModel):
    kind: str = Field(description="duplicate_milestone, out_of_sequence, missing_predecessor, identity_conflict…")
    reason: str


class Journey(BaseModel):
    """One order end to end: identifiers with provenance, objects, events in event-time order,
    milestones, durations, anomalies and the spans beneath."""

    id: str
    requested_id: str | None = Field(description="the id asked for, when it was merged into this journey")
    stage: str
    status: str
    stage_at: Time
    started_at: Time
    received_at: Time | None
    departed_at: Time | None
    delivered_at: Time | None
    last_event_at: Time
    dims: dict[str, Any]
    promised: dict[str, Any]
    on_time_ship: bool | None
    on_time_delivery: bool | None
    objects: list[JourneyObject]
    relations: list[dict[str, Any]]
    events: list[JourneyEvent]
    event_count: Count
    milestones: list[Milestone]
    shipments: list[dict[str, Any]]
    durations: dict[str, float]
    anomalies: list[Anomaly]
    merges: list[dict[str, Any]]
    traces: list[str]
    stage_thresholds: dict[str, float] = Field(description="seconds an open journey may wait in each stage")
    spans: list[dict[str, Any]]


# Declared before /v1/journeys/{journey_id}, which would otherwise take "summary" for a journey id.
@router.get(
    "/v1/journeys/summary",
    summary="Journey counts grouped by stage, status, channel, warehouse or carrier",
    responses={200: documented(JourneySummary, "Journey counts per group")},
)
def get_journey_summary(
    request: Request,
    principal: ReadAccess,
    by: Annotated[
        str, Query(description=f"one to three comma-separated dimensions of {', '.join(SUMMARY_DIMENSIONS)}")
    ] = "stage",
    status: Annotated[str, Query(description="all, stuck, open, exception, delivered, cancelled or rejected")] = "all",
    stage: str | None = None,
    channel: str | None = None,
    warehouse: str | None = None,
    carrier: str | None = None,
    start: Annotated[Instant | None, Query(alias="from", description="journeys started at or after")] = None,
    end: Annotated[Instant | None, Query(alias="to", description="journeys started before")] = None,
) -> dict[str, Any]:
    services = request.app.state.services
    return summarize_journeys(
        services.store,
        principal.tenant,
        services.evaluation_clock.now(),
        [d.strip() for d in by.split(",") if d.strip()],
        status=status,
        stage=stage,
        channel=channel,
        warehouse=warehouse,
        carrier=carrier,
        start=start,
        end=end,
    )


@router.get(
    "/v1/journeys/{journey_id}",
    summary="One order end to end",
    responses={200: documented(Journey, "The journey, whole")},
)
def get_journey(
    request: Request,
    principal: ReadAccess,
    journey_id: Annotated[str, Path(min_length=1, max_length=200)],
) -> dict[str, Any]:
    return journey(request.app.state.services.store, principal.tenant, journey_id)


@router.get(
    "/v1/journeys",
    summary="Search journeys by stage, status and dimensions; status=stuck for stuck orders",
    responses={200: documented(JourneyPage, "A page of journeys")},
)
def list_journeys(
    request: Request,
    principal: ReadAccess,
    stage: str | None = None,
    status: Annotated[str | None, Query(description="open, exception, delivered, cancelled, rejected or stuck")] = None,
    channel: str | None = None,
    warehouse: str | None = None,
    carrier: str | None = None,
    anomaly: Annotated[str | None, Query(description="an anomaly kind, e.g. out_of_sequence")] = None,
    start: Annotated[Instant | None, Query(alias="from", description="journeys started at or after")] = None,
    end: Annotated[Instant | None, Query(alias="to", description="journeys started before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    services = request.app.state.services
    return search_journeys(
        services.store,
        principal.tenant,
        services.evaluation_clock.now(),
        stage=stage,
        status=status,
        channel=channel,
        warehouse=warehouse,
        carrier=carrier,
        anomaly=anomaly,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )
