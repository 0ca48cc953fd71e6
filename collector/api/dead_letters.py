"""`GET /v1/dead-letters`: rejected input, newest first, with its raw bytes and reason."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any, Literal

import orjson
from fastapi import Query, Request
from pydantic import BaseModel, Field

from adapters.base import AdapterError
from adapters.partner_zones import HEADER as PARTNER_ZONES
from adapters.registry import ADAPTERS
from collector.api.events import append, screen
from collector.ingest import NDJSON, BodyError, Candidate, Parsed, parse_body
from tower.api import JSON, AdminAccess, ApiError, ReadAccess, api_router, page_cursor, read_time_cursor, rfc3339
from tower.responses import Accepted, Page, Time, documented

router = api_router("operations")


class DeadLetterItem(BaseModel):
    """Input refused, kept with its reason and its raw bytes (text when they are UTF-8, else base64)."""

    id: str
    received_at: Time
    endpoint: str = Field(description="where it came in: /v1/events, /v1/adapters/{name}, …")
    content_type: str
    status: int = Field(description="the HTTP status it was refused with")
    index: int | None = Field(description="the event's position in its request; null for the whole body")
    event_id: str | None
    field: str
    reason: str
    replayed_at: Time | None = Field(description="when it was replayed; null until then")
    raw: str
    raw_encoding: Literal["utf-8", "base64"]


class DeadLetterPage(Page[DeadLetterItem]):
    """Dead letters, newest first."""


class Replayed(Accepted):
    """A dead letter sent through intake again: what became of its events."""

    id: str


def _raw(hex_value: str) -> dict[str, str]:
    # Read as hex(raw): clickhouse-connect turns a String that is not valid UTF-8 into its hex digits,
    # which would be indistinguishable from text; hex in SQL keeps the bytes exact either way.
    data = bytes.fromhex(hex_value)
    try:
        return {"raw": data.decode("utf-8"), "raw_encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"raw": base64.b64encode(data).decode(), "raw_encoding": "base64"}


@router.get(
    "/v1/dead-letters",
    summary="Rejected input with its raw bytes and reason, newest first",
    responses={200: documented(DeadLetterPage, "A page of dead letters, newest first")},
)
def list_dead_letters(
    request: Request,
    principal: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    endpoint: str | None = None,
) -> dict[str, Any]:
    store = request.app.state.services.store
    after = read_time_cursor(cursor)
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"limit": limit + 1}
    if after:
        where.append("(received_at, id) < ({at:DateTime64(6, 'UTC')}, {id:String})")
        params.update(at=after[0], id=after[1])
    if endpoint:
        where.append("endpoint = {endpoint:String}")
        params["endpoint"] = endpoint
    rows = store.read(
        "SELECT received_at, id, endpoint, replayed_at, content_type, status, event_index, event_id, field, reason, "
        "hex(raw) AS raw "
        f"FROM {{db}}.dead_letters WHERE {' AND '.join(where)} ORDER BY received_at DESC, id DESC "
        "LIMIT {limit:UInt32}",
        principal.tenant,
        params,
    )
    total = store.read("SELECT count() AS n FROM {db}.dead_letters WHERE tenant = {tenant:String}", principal.tenant)[
        0
    ]["n"]
    items = []
    for row in rows[:limit]:
        items.append(
            {
                "id": row["id"],
                "received_at": rfc3339(row["received_at"]),
                "endpoint": row["endpoint"],
                "content_type": row["content_type"],
                "status": row["status"],
                "index": None if row["event_index"] < 0 else row["event_index"],
                "event_id": row["event_id"] or None,
                "field": row["field"],
                "reason": row["reason"],
                "replayed_at": rfc3339(row["replayed_at"]),
                **_raw(row["raw"]),
            }
        )
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = page_cursor([last["received_at"].strftime("%Y-%m-%d %H:%M:%S.%f"), last["id"]])
    return {"items": items, "total": total, "next": nxt}


@router.post(
    "/v1/dead-letters/{letter_id}/replay",
    summary="Send a dead letter's raw bytes through intake again (after a fix); admin only",
    responses={200: documented(Replayed, "Replayed: its events stored or repeats"), 404: {}, 409: {}},
)
async def replay_dead_letter(letter_id: str, request: Request, principal: AdminAccess) -> JSON:
    services = request.app.state.services
    settings = request.app.state.settings
    rows = await asyncio.to_thread(
        services.store.read,
        "SELECT endpoint, content_type, event_index, hex(raw) AS raw, headers, replayed_at FROM {db}.dead_letters "
        "WHERE tenant = {tenant:String} AND id = {id:String} LIMIT 1",
        principal.tenant,
        {"id": letter_id},
    )
    if not rows:
        raise ApiError(404, "not_found", f"no dead letter {letter_id!r} in this tenant")
    letter = rows[0]
    if letter["replayed_at"] is not None:
        when = rfc3339(letter["replayed_at"])
        raise ApiError(409, "already_replayed", f"dead letter {letter_id} was replayed at {when}")
    raw = bytes.fromhex(letter["raw"])
    try:
        if letter["endpoint"].startswith("/v1/adapters/"):
            name = letter["endpoint"].rsplit("/", 1)[1]
            adapter = ADAPTERS.get(name)
            if adapter is None:
                raise ApiError(409, "unknown_adapter", f"adapter {name!r} no longer exists")
            # An operator's replay is trusted: the signature is not checked again (no secrets passed).
            headers = {k.lower(): v for k, v in orjson.loads(letter["headers"] or "{}").items()}
            headers[PARTNER_ZONES] = settings.edi_partner_zones  # today's setting, never the client's
            result = await asyncio.to_thread(adapter.parse, raw, headers, {})
            parsed = Parsed([Candidate(i, None, e) for i, e in enumerate(result.events)])
        elif letter["event_index"] >= 0:
            parsed = await asyncio.to_thread(parse_body, raw, NDJSON[0], 1)
        else:
            parsed = await asyncio.to_thread(parse_body, raw, letter["content_type"], settings.max_batch_events)
    except (BodyError, AdapterError) as exc:
        reason = exc.message if isinstance(exc, BodyError) else exc.reason
        raise ApiError(400, "still_invalid", f"the replayed input is still rejected: {reason}") from None
    valid, rejected, _ = await asyncio.to_thread(screen, parsed, principal, letter["content_type"])
    if not valid:
        raise ApiError(400, "still_invalid", "the replayed input is still rejected; see details", rejected)
    written = await append(services.writer, valid)
    await asyncio.to_thread(
        services.store.command,
        "ALTER TABLE {db}.dead_letters UPDATE replayed_at = now64(6) "
        "WHERE tenant = {tenant:String} AND id = {id:String}",
        {"tenant": principal.tenant, "id": letter_id},
    )
    return JSON({"id": letter_id, "accepted": written.accepted, "duplicates": written.duplicates, "rejected": rejected})
