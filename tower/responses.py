"""The response shapes every stage's routes share, as pydantic models for `/openapi.json`.

Routes declare their success body with `responses={status: {"model": Model}}` (or `documented`),
never with `response_model`: the models document the shape (and `tests/hardening` checks every
answer against it), but the routes keep answering the dicts they build, so a large journey or
ingest answer is not validated and copied again on every request. Every model allows more fields
than it names (DESIGN.md: "more fields are welcome"); the ones it names are always present.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")

Time = Annotated[str, Field(json_schema_extra={"format": "date-time"}, description="RFC 3339, UTC")]
Count = Annotated[int, Field(ge=0)]


def documented(model: type[BaseModel], description: str) -> dict[str, Any]:
    """An entry of a route's `responses`: the success body's model and what it means."""
    return {"model": model, "description": description}


class Page(BaseModel, Generic[T]):
    """A list: one page of `items`, how many there are in all, and the cursor of the next page."""

    items: list[T]
    total: Count
    next: str | None = Field(description="the `cursor` of the next page; null on the last")


class Problem(BaseModel):
    field: str = Field(description="the path of the field inside the item; empty for the item as a whole")
    reason: str


class Rejection(BaseModel):
    """One item (event, line) refused: which, and why (`problems` lists every reason, `field` and
    `reason` repeat the first)."""

    index: int | None = Field(description="its position in the request; null when not one of many")
    id: str | None = Field(description="its id, when it had one")
    field: str
    reason: str
    problems: list[Problem]


class Accepted(BaseModel):
    """Events taken: stored (`accepted`), recognised as repeats of stored ones (`duplicates`), and
    the ones refused, each with the field and the reason."""

    accepted: Count
    duplicates: Count
    rejected: list[Rejection]


class ErrorInfo(BaseModel):
    """The `error` of an error body (`{"error": {...}}`), where it is one item's refusal inside a 2xx."""

    code: str
    message: str
    details: list[dict[str, Any]]
