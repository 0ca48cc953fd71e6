"""`GET/POST /v1/admin/clock`: the evaluation clock, which a simulator or a replay drives.

A server started with `TOWER_CLOCK=<instant>` keeps a manual clock: every evaluation (stuck
orders, SLOs, alerts) takes its "now" from it, and only this endpoint moves it — forward only, so
evaluations never see time run backwards. `{"mode": "system"}` releases it to the system clock
for good (a replayed month handed over to live traffic). A server on the system clock refuses to
be driven: 409. The clock is the server's, shared by every tenant: a key bound to one tenant may
read it but not move it (403).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, Field

from tower.api import JSON, AdminAccess, ApiError, ReadAccess, api_router, rfc3339
from tower.clock import ManualClock
from tower.responses import Time, documented

router = api_router("admin")


class ClockChange(BaseModel):
    now: datetime | None = None
    mode: Literal["manual", "system"] = "manual"


class ClockState(BaseModel):
    now: Time = Field(description="the clock's time")
    mode: Literal["manual", "system"] = Field(description="manual: driven by this endpoint; system: follows the system")
    evaluated_to: Time = Field(description="how far evaluations may look: the clock held back to what is correlated")


CLOCK = documented(ClockState, "The clock's time, its mode, and how far evaluations have reached")


def _state(request: Request) -> dict[str, Any]:
    services = request.app.state.services
    clock = services.clock
    manual = isinstance(clock, ManualClock) and not clock.released
    # `evaluated_to`: how far evaluations may look, the clock held back to what is correlated
    return {
        "now": rfc3339(clock.now()),
        "mode": "manual" if manual else "system",
        "evaluated_to": rfc3339(services.evaluation_clock.now()),
    }


@router.get(
    "/v1/admin/clock",
    summary="The evaluation clock: its time and whether it is driven or follows the system",
    responses={200: CLOCK},
)
async def get_clock(request: Request, principal: ReadAccess) -> JSON:
    return JSON(_state(request))


@router.post(
    "/v1/admin/clock",
    summary="Move the manual evaluation clock forward, or release it to the system clock",
    responses={200: CLOCK, 400: {}, 409: {}},
)
async def set_clock(change: ClockChange, request: Request, principal: AdminAccess) -> JSON:
    if principal.tenant_locked:
        raise ApiError(
            403,
            "forbidden",
            "the evaluation clock is shared by every tenant on this server; "
            "moving it needs an admin key bound to no tenant",
        )
    clock = request.app.state.services.clock
    if not isinstance(clock, ManualClock) or clock.released:
        raise ApiError(
            409,
            "clock_not_manual",
            "this server's clock follows the system; start it with TOWER_CLOCK=<instant> to drive it",
        )
    if change.mode == "system":
        try:
            clock.release()
        except ValueError as exc:
            raise ApiError(409, "clock_ahead", str(exc)) from None
        return JSON(_state(request))
    if change.now is None:
        raise ApiError(
            400,
            "invalid_clock",
            "give `now` (RFC 3339) or `mode: system`",
            [{"index": None, "id": None, "field": "now", "reason": "is required"}],
        )
    target = change.now if change.now.tzinfo else change.now.replace(tzinfo=clock.now().tzinfo)
    if target < clock.now():
        raise ApiError(
            409,
            "clock_backwards",
            f"the clock is at {rfc3339(clock.now())}; it only moves forward, not to {rfc3339(target)}",
        )
    clock.set(target)
    return JSON(_state(request))
