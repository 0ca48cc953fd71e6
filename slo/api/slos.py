"""`GET /v1/slos`: every SLO with its budget, attainment and burn rates per slice; `/v1/slos/{name}/series`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, Field

from slo.api.engine import slo_engine
from slo.budget import Labels
from slo.engine import SloEngine
from slo.openslo import SLICE_DIMS
from tower.api import AdminAccess, ApiError, ReadAccess, api_router
from tower.responses import Count, Page, Time, documented

router = api_router("slos")
DIMS = SLICE_DIMS  # channel, warehouse, carrier, system, stream (freshness), flow (success ratio)
Status = Literal["ok", "ticket", "page"]


class SloSlice(BaseModel):
    """One slice of an SLO (its labels; none for the whole)."""

    labels: dict[str, str]
    good: Count
    bad: Count
    total: Count
    attainment: float | None = Field(description="good / total over the window; null with no traffic")
    budget_remaining: float = Field(description="share of the error budget left; below 0 when overspent")
    burn_rates: dict[str, float] = Field(description="window (5m, 1h, 6h, 3d…) → burn rate")
    status: Status


class Slo(BaseModel):
    name: str
    display_name: str
    description: str
    service: str
    sli_kind: str
    threshold_seconds: float | None
    objective: float
    window: str = Field(description="e.g. 30d")
    budgeting: str = Field(description="occurrences or timeslices")
    time_slice_target: float | None
    slice_by: list[str]
    attainment: float | None
    budget_remaining: float
    burn_rates: dict[str, float]
    status: Status = Field(description="the worst of its slices")
    budget_exhausted: bool
    evaluated_at: Time | None
    slices: list[SloSlice]


class SloPage(Page[Slo]):
    """Every SLO (one page: `next` is always null)."""


class Evaluated(BaseModel):
    evaluated_at: Time | None
    firing: Count = Field(description="alerts firing")
    pages: Count = Field(description="of which pages")


class SeriesPoint(BaseModel):
    t: Time = Field(description="the step's end")
    good: Count
    bad: Count
    budget_remaining: float
    burn_rate_1h: float


class SloSeries(BaseModel):
    name: str
    slice: dict[str, str]
    step: str
    items: list[SeriesPoint]
    total: Count


def engine_of(request: Request) -> SloEngine:
    engine: SloEngine = slo_engine(request)
    return engine


def evaluated(request: Request, tenant: str) -> SloEngine:
    """The engine, having evaluated this tenant at least once (a tenant it has not met yet is evaluated now)."""
    engine = engine_of(request)
    state = engine.tenants.get(tenant)
    if state is None or state.evaluated_at is None:
        engine.evaluate_until(request.app.state.services.evaluation_clock.now(), [tenant])
    return engine


@router.get(
    "/v1/slos",
    summary="SLOs with error budgets, attainment and burn rates, per slice",
    responses={200: documented(SloPage, "Every SLO with its slices")},
)
def list_slos(
    request: Request,
    who: ReadAccess,
    name: str | None = None,
    channel: str | None = None,
    warehouse: str | None = None,
    carrier: str | None = None,
    system: str | None = None,
    stream: str | None = None,
    flow: str | None = None,
) -> dict[str, Any]:
    engine = evaluated(request, who.tenant)
    given = {"channel": channel, "warehouse": warehouse, "carrier": carrier, "system": system, "stream": stream}
    wanted = {k: v for k, v in (given | {"flow": flow}).items() if v}
    state = engine.tenants[who.tenant]
    items = []
    for slo_name, slo in engine.slos.items():
        if name and slo_name != name:
            continue
        summaries = state.summaries.get(slo_name, [])
        overall = next((s for s in summaries if not s.labels), None)
        slices = [
            {
                "labels": s.labels,
                "good": s.good,
                "bad": s.bad,
                "total": s.good + s.bad,
                "attainment": s.attainment,
                "budget_remaining": s.budget_remaining,
                "burn_rates": s.burn_rates,
                "status": s.status,
            }
            for s in summaries
            if all(s.labels.get(k) == v for k, v in wanted.items()) or not s.labels
        ]
        statuses = {s.status for s in summaries}
        items.append(
            {
                "name": slo_name,
                "display_name": slo.display_name,
                "description": slo.description,
                "service": slo.service,
                "sli_kind": slo.sli.kind,
                "threshold_seconds": slo.sli.threshold_s or None,
                "objective": slo.objective,
                "window": _span(slo.window_s),
                "budgeting": slo.budgeting,
                "time_slice_target": slo.time_slice_target,
                "slice_by": list(slo.sli.slice_by),
                "attainment": overall.attainment if overall else None,
                "budget_remaining": overall.budget_remaining if overall else 1.0,
                "burn_rates": overall.burn_rates if overall else {},
                "status": "page" if "page" in statuses else ("ticket" if "ticket" in statuses else "ok"),
                "budget_exhausted": bool(overall and overall.budget_remaining < 0),
                "evaluated_at": state.evaluated_at.isoformat().replace("+00:00", "Z") if state.evaluated_at else None,
                "slices": slices,
            }
        )
    return {"items": items, "total": len(items), "next": None}


def parse_slice(text: str | None) -> Labels:
    if not text:
        return ()
    out = []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in DIMS or not value.strip():
            raise ApiError(
                400, "invalid_slice", f"slice {part!r}: expected dim=value with dim one of {', '.join(DIMS)}"
            )
        out.append((key.strip(), value.strip()))
    if len(out) > 1:
        raise ApiError(400, "invalid_slice", f"a slice is one dimension ({', '.join(d + '=…' for d in DIMS)})")
    return tuple(out)


@router.post(
    "/v1/slos/evaluate",
    summary="Evaluate this tenant up to the clock's now, and say when that was",
    responses={200: documented(Evaluated, "Evaluated: up to when, and the alerts firing")},
)
def evaluate(request: Request, who: AdminAccess) -> dict[str, Any]:
    """For a driver of simulated time (the simulator, a replay): after moving the clock, evaluation has
    caught up when this returns; the background loop would get there within a second anyway."""
    services = request.app.state.services
    now = services.evaluation_clock.now()
    engine = engine_of(request)
    engine.evaluate_until(now, [who.tenant])
    state = engine.tenants[who.tenant]
    active = [a for a in state.book.active.values() if a.state == "firing"]
    return {
        "evaluated_at": state.evaluated_at.isoformat().replace("+00:00", "Z") if state.evaluated_at else None,
        "firing": len(active),
        "pages": sum(1 for a in active if a.severity == "page"),
    }


STEPS = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "6h": 360, "1d": 1440}


@router.get(
    "/v1/slos/{name}/series",
    summary="Good, bad, budget left and 1h burn rate over time",
    responses={200: documented(SloSeries, "One point per step, oldest first")},
)
def slo_series(
    request: Request, who: ReadAccess, name: str, slice: str | None = None, step: str = "1h", points: int = 168
) -> dict[str, Any]:
    engine = evaluated(request, who.tenant)
    if name not in engine.slos:
        raise ApiError(404, "not_found", f"no SLO {name!r}; GET /v1/slos lists them")
    if step not in STEPS:
        raise ApiError(400, "invalid_step", f"step must be one of {', '.join(STEPS)}")
    if not 1 <= points <= 5000:
        raise ApiError(400, "invalid_points", "points must be between 1 and 5000")
    items = engine.series(who.tenant, name, parse_slice(slice), STEPS[step], points)
    return {"name": name, "slice": dict(parse_slice(slice)), "step": step, "items": items, "total": len(items)}


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
