"""`GET /v1/lookup?q=`: the objects any system knows by that identifier, with their journeys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from correlator.queries import lookup
from tower.api import ReadAccess

router = APIRouter(tags=["journeys"])


@router.get("/v1/lookup", summary="Find objects and their journeys by any identifier any system gave them")
def get_lookup(
    request: Request,
    principal: ReadAccess,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=512,
            description="an identifier, e.g. SO-1001 or #1001",
            examples=["SO-1001", "#1001", "1Z999AA10123456784"],
        ),
    ],
) -> dict[str, Any]:
    return lookup(request.app.state.services.store, principal.tenant, q)
