"""The SLO engine of the serving process, or a clear refusal where this process runs none."""

from __future__ import annotations

from fastapi import Request

from slo.engine import SloEngine
from tower.api import ApiError


def slo_engine(request: Request) -> SloEngine:
    engine: SloEngine | None = request.app.state.services.slo
    if engine is None:
        raise ApiError(
            503,
            "slo_engine_elsewhere",
            "this process runs no correlator, so no SLO engine: ask the process that runs the correlator",
        )
    return engine
