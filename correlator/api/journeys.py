"""`GET /v1/journeys/{id}` (one order end to end), `GET /v1/journeys` (search, e.g. stuck orders) and
`GET /v1/journeys/summary` (counts by stage, warehouse… for the dashboard's funnel and heatmap)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from correlator.queries import SUMMARY_DIMENSIONS, journey, search_journeys, summarize_journeys
from tower.api import Instant, ReadAccess

router = APIRouter(tags=["journeys"])


# Declared before /v1/journeys/{journey_id}, which would otherwise take "summary" for a journey id.
@router.get("/v1/journeys/summary", summary="Journey counts grouped by stage, status, channel, warehouse or carrier")
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


@router.get("/v1/journeys/{journey_id}", summary="One order end to end")
def get_journey(
    request: Request,
    principal: ReadAccess,
    journey_id: Annotated[str, Path(min_length=1, max_length=200)],
) -> dict[str, Any]:
    return journey(request.app.state.services.store, principal.tenant, journey_id)


@router.get("/v1/journeys", summary="Search journeys by stage, status and dimensions; status=stuck for stuck orders")
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
