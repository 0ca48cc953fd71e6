"""`GET /v1/lookup?q=`: the objects any system knows by that identifier, with their journeys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, Field

from correlator.queries import lookup
from tower.api import ReadAccess, api_router
from tower.responses import documented

router = api_router("journeys")


class ObjectRef(BaseModel):
    type: str
    id: str
    ids: dict[str, str] = Field(description="namespace → identifier: every name the object is known by")


class Matched(BaseModel):
    namespace: str
    value: str


class Match(BaseModel):
    object: ObjectRef
    matched: list[Matched] = Field(description="which of its identifiers the query matched")
    journeys: list[str] = Field(description="ids of the journeys it belongs to")


class Lookup(BaseModel):
    q: str
    matches: list[Match]


@router.get(
    "/v1/lookup",
    summary="Find objects and their journeys by any identifier any system gave them",
    responses={200: documented(Lookup, "The objects known by that identifier, with their journeys")},
)
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
