"""`/v1/alerts` (list, acknowledge) and `/v1/silences` (list, create, expire)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel, Field

from slo import detections
from slo.alerts import Alert, Matcher, Silence
from slo.api.engine import slo_engine
from slo.api.paging import page
from slo.api.slos import evaluated
from slo.engine import to_minute
from slo.sli import bad_journeys
from tower.api import AdminAccess, ApiError, ReadAccess, api_router, rfc3339
from tower.responses import Count, Page, Time, documented

router = api_router("alerts")
STATES = ("pending", "firing", "resolved")


class AlertView(BaseModel):
    """An alert (Alertmanager's shape: labels, annotations, times) with the journeys it is about."""

    id: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: Literal["pending", "firing", "resolved"]
    severity: str
    starts_at: Time
    fired_at: Time | None
    ends_at: Time | None
    updated_at: Time | None
    silenced_by: list[str]
    inhibited_by: list[str]
    acknowledged_by: str | None
    acknowledged_at: Time | None
    comment: str | None
    journeys: list[str] = Field(description="up to 50 affected journeys (filled for the first 20 alerts listed)")
    journeys_total: Count


class AlertPage(Page[AlertView]):
    """Firing first, then pending, then resolved; newest first within each."""


class MatcherOut(BaseModel):
    name: str
    value: str
    is_regex: bool
    is_equal: bool


class SilenceView(BaseModel):
    id: str
    matchers: list[MatcherOut]
    starts_at: Time
    ends_at: Time
    created_by: str
    comment: str
    state: Literal["pending", "active", "expired"]


class SilencePage(Page[SilenceView]):
    """Every silence, latest ending first (one page: `next` is always null)."""


def alert_view(request: Request, tenant: str, a: Alert, with_journeys: bool = True) -> dict[str, Any]:
    engine = slo_engine(request)
    journeys: list[str] = []
    total = 0
    slo = engine.slos.get(a.labels.get("slo", ""))
    if with_journeys and a.labels.get("alertname") == "ShipmentsMissingTracking":
        now = request.app.state.services.evaluation_clock.now()
        found = [
            i["journey_id"]
            for i in detections.missing_tracking(engine.store, tenant, now, engine.calendars)
            if (i["carrier"] or "") == a.labels.get("carrier", "")
        ]
        journeys, total = found[:50], len(found)
    elif with_journeys and slo is not None:
        longest = max((c.long_s for c in slo.conditions), default=3600) // 60
        end = to_minute(a.ends_at) if a.ends_at else to_minute(request.app.state.services.evaluation_clock.now())
        journeys, total = bad_journeys(
            engine.store, tenant, slo.sli, a.labels, to_minute(a.starts_at) - longest, end + 1
        )
    return {
        "id": a.id,
        "fingerprint": a.fingerprint,
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state,
        "severity": a.severity,
        "starts_at": rfc3339(a.starts_at),
        "fired_at": rfc3339(a.fired_at),
        "ends_at": rfc3339(a.ends_at),
        "updated_at": rfc3339(a.updated_at),
        "silenced_by": a.silenced_by,
        "inhibited_by": a.inhibited_by,
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": rfc3339(a.acknowledged_at),
        "comment": a.comment or None,
        "journeys": journeys,
        "journeys_total": total,
    }


@router.get(
    "/v1/alerts",
    summary="Alerts: pending, firing and resolved, with their affected journeys",
    responses={200: documented(AlertPage, "A page of alerts")},
)
def list_alerts(
    request: Request,
    who: ReadAccess,
    state: str | None = None,
    severity: str | None = None,
    slo: str | None = None,
    limit: int = 100,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
) -> dict[str, Any]:
    if state and state not in STATES:
        raise ApiError(400, "invalid_filter", f"state must be one of {', '.join(STATES)}")
    engine = evaluated(request, who.tenant)
    alerts = [
        a
        for a in engine.alerts(who.tenant)
        if (not state or a.state == state)
        and (not severity or a.severity == severity)
        and (not slo or a.labels.get("slo") == slo)
    ]
    by_id = {a.id: a for a in alerts}
    # firing first, then pending, then resolved; newest first within each
    order = {"firing": 0, "pending": 1}
    listed = page(
        [{"id": a.id, "rank": order.get(a.state, 2), "starts": -a.starts_at.timestamp()} for a in alerts],
        lambda i: (i["rank"], i["starts"], i["id"]),
        limit,
        cursor,
        max_limit=1000,
    )
    listed["items"] = [
        alert_view(request, who.tenant, by_id[i["id"]], with_journeys=n < 20) for n, i in enumerate(listed["items"])
    ]
    return listed


class Ack(BaseModel):
    by: str = Field(min_length=1, max_length=200)
    comment: str = Field("", max_length=2000)


@router.post(
    "/v1/alerts/{alert_id}/ack",
    summary="Acknowledge an alert",
    responses={200: documented(AlertView, "The alert, acknowledged (without its journeys)")},
)
def acknowledge(request: Request, who: AdminAccess, alert_id: str, body: Ack) -> dict[str, Any]:
    alert = slo_engine(request).acknowledge(who.tenant, alert_id, body.by, body.comment)
    if alert is None:
        raise ApiError(404, "not_found", f"no alert {alert_id!r}; GET /v1/alerts lists them")
    return alert_view(request, who.tenant, alert, with_journeys=False)


class MatcherIn(BaseModel):
    name: str = Field(min_length=1)
    value: str
    is_regex: bool = False
    is_equal: bool = True


class SilenceIn(BaseModel):
    matchers: list[MatcherIn] = Field(min_length=1)
    starts_at: datetime | None = None
    ends_at: datetime
    created_by: str = Field(min_length=1, max_length=200)
    comment: str = Field("", max_length=2000)


def silence_view(s: Silence, now: datetime) -> dict[str, Any]:
    return {
        "id": s.id,
        "matchers": [m.to_dict() for m in s.matchers],
        "starts_at": rfc3339(s.starts_at),
        "ends_at": rfc3339(s.ends_at),
        "created_by": s.created_by,
        "comment": s.comment,
        "state": s.state(now),
    }


@router.get(
    "/v1/silences",
    summary="Silences, active, pending and expired",
    responses={200: documented(SilencePage, "Every silence")},
)
def list_silences(request: Request, who: ReadAccess) -> dict[str, Any]:
    now = request.app.state.services.evaluation_clock.now()
    items = [silence_view(s, now) for s in slo_engine(request).silences(who.tenant)]
    items.sort(key=lambda s: s["ends_at"], reverse=True)
    return {"items": items, "total": len(items), "next": None}


@router.post(
    "/v1/silences",
    status_code=201,
    summary="Silence alerts matching every matcher until ends_at",
    responses={201: documented(SilenceView, "The silence, created")},
)
def create_silence(request: Request, who: AdminAccess, body: SilenceIn) -> dict[str, Any]:
    now = request.app.state.services.evaluation_clock.now()
    starts = body.starts_at or now
    if starts.tzinfo is None or body.ends_at.tzinfo is None:
        raise ApiError(400, "invalid_silence", "starts_at and ends_at need a time zone (RFC 3339, e.g. …Z)")
    if body.ends_at <= max(starts, now - timedelta(seconds=1)):
        raise ApiError(400, "invalid_silence", "ends_at must be after starts_at and in the future")
    try:
        matchers = tuple(Matcher.parse(m.model_dump(), f"matchers[{i}]") for i, m in enumerate(body.matchers))
    except ValueError as exc:
        raise ApiError(400, "invalid_silence", str(exc)) from None
    silence = Silence(uuid.uuid4().hex[:16], matchers, starts, body.ends_at, body.created_by, body.comment)
    slo_engine(request).add_silence(who.tenant, silence)
    return silence_view(silence, now)


@router.delete(
    "/v1/silences/{silence_id}",
    summary="Expire a silence now",
    responses={200: documented(SilenceView, "The silence, expired")},
)
def delete_silence(request: Request, who: AdminAccess, silence_id: str) -> dict[str, Any]:
    silence = slo_engine(request).delete_silence(who.tenant, silence_id)
    if silence is None:
        raise ApiError(404, "not_found", f"no silence {silence_id!r}")
    return silence_view(silence, request.app.state.services.evaluation_clock.now())
