"""`GET /v1/journeys/{id}` (one order end to end) and `GET /v1/journeys` (search, e.g. stuck orders)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from correlator.queries import journey, search_journeys
from tower.api import ReadAccess

router = APIRouter(tags=["journeys"])


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
    start: Annotated[datetime | None, Query(alias="from", description="journeys started at or after")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="journeys started before")] = None,
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
