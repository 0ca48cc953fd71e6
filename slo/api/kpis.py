"""`GET /v1/kpis` and the KPI targets (`GET`/`PUT /v1/kpis/targets`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Body, Query, Request
from pydantic import BaseModel, Field

from slo import kpis
from tower.api import AdminAccess, ApiError, ReadAccess, api_router, storable
from tower.responses import Count, Time, documented

router = api_router("kpis")


class Target(BaseModel):
    value: float
    source: str = Field(description="where the target comes from: a benchmark, or `user` once changed")


class Targets(BaseModel):
    targets: dict[str, Target] = Field(description="KPI name → its target")


class Point(BaseModel):
    t: Time = Field(description="the bucket's start")
    value: float | None


class Kpi(BaseModel):
    name: str
    label: str
    value: float | None = Field(description="over the whole range; null where nothing was measured")
    unit: str
    direction: Literal["higher", "lower"] = Field(description="which way is better")
    target: float | None
    target_source: str | None
    numerator: int | None = Field(description="for a ratio: the orders that met it")
    denominator: int | None = Field(description="for a ratio: the orders measured")
    series: list[Point]


class Breakdown(BaseModel):
    """One value of a dimension (`key`, null for events without it) and the KPIs' values for it."""

    key: str | None
    orders: Count


class Bucket(BaseModel):
    le: float | None = Field(description="hours; null for every order (the total)")
    count: Count


class CycleTimes(BaseModel):
    buckets: list[Bucket]


class ExceptionCount(BaseModel):
    type: str
    count: Count


class Kpis(BaseModel):
    from_: Time = Field(alias="from")
    to: Time
    filters: dict[str, str | None]
    bucket: Literal["day", "week"]
    kpis: list[Kpi]
    breakdowns: dict[str, list[Breakdown]] = Field(description="channel, warehouse and carrier → one item per value")
    cycle_time_hours: CycleTimes = Field(description="a histogram of order cycle times")
    exceptions_by_type: list[ExceptionCount]
    targets: dict[str, Target]


@router.get(
    "/v1/kpis",
    summary="KPIs against targets, over time and by channel, warehouse and carrier",
    responses={200: documented(Kpis, "Every KPI over the range, per bucket and per dimension value")},
)
def get_kpis(
    request: Request,
    who: ReadAccess,
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339; default: 30 days before `to`")] = None,
    to: Annotated[str | None, Query(description="RFC 3339; default: now")] = None,
    channel: str | None = None,
    warehouse: str | None = None,
    carrier: str | None = None,
    bucket: str = "day",
) -> dict[str, Any]:
    start = _parse(from_, "from")
    end = _parse(to, "to")
    services = request.app.state.services
    now = services.evaluation_clock.now()
    end = end or now
    start = start or end - timedelta(days=30)
    if bucket not in ("day", "week"):
        raise ApiError(400, "invalid_bucket", "bucket must be day or week")
    if start >= end:
        raise ApiError(400, "invalid_range", "from must be before to")
    return kpis.kpis(
        services.store,
        who.tenant,
        start,
        end,
        now,
        {"channel": channel, "warehouse": warehouse, "carrier": carrier},
        bucket,
    )


def _parse(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid_time", f"{name}={value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ApiError(400, "invalid_time", f"{name}={value!r} needs a time zone (…Z)")
    try:
        return storable(parsed)
    except ValueError as exc:
        raise ApiError(400, "invalid_time", f"{name}={value!r} {exc}") from None


@router.get(
    "/v1/kpis/targets",
    summary="KPI targets and where each comes from",
    responses={200: documented(Targets, "Every KPI target")},
)
def get_targets(request: Request, who: ReadAccess) -> dict[str, Any]:
    return {"targets": kpis.targets(request.app.state.services.store, who.tenant)}


@router.put(
    "/v1/kpis/targets",
    summary="Change KPI targets",
    responses={200: documented(Targets, "Every KPI target, the changed ones included")},
)
def put_targets(request: Request, who: AdminAccess, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    details = []
    values: dict[str, float] = {}
    for name, value in body.items():
        if name not in kpis.KPI_META and name not in kpis.DEFAULT_TARGETS:
            details.append({"index": None, "id": None, "field": name, "reason": "not a KPI"})
        elif not isinstance(value, int | float) or isinstance(value, bool):
            details.append({"index": None, "id": None, "field": name, "reason": "a number is needed"})
        elif kpis.KPI_META.get(name, ("", "ratio", ""))[1] == "ratio" and not 0 <= value <= 1:
            details.append({"index": None, "id": None, "field": name, "reason": "a ratio between 0 and 1"})
        else:
            values[name] = float(value)
    if details or not values:
        raise ApiError(400, "invalid_targets", "targets are {kpi name: number}", details)
    kpis.set_targets(request.app.state.services.store, who.tenant, values)
    return {"targets": kpis.targets(request.app.state.services.store, who.tenant)}
