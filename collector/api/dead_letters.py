"""`GET /v1/dead-letters`: rejected input, newest first, with its raw bytes and reason."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from tower.api import ReadAccess, page_cursor, read_cursor, rfc3339

router = APIRouter(tags=["operations"])


def _raw(hex_value: str) -> dict[str, str]:
    # Read as hex(raw): clickhouse-connect turns a String that is not valid UTF-8 into its hex digits,
    # which would be indistinguishable from text; hex in SQL keeps the bytes exact either way.
    data = bytes.fromhex(hex_value)
    try:
        return {"raw": data.decode("utf-8"), "raw_encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"raw": base64.b64encode(data).decode(), "raw_encoding": "base64"}


@router.get("/v1/dead-letters", summary="Rejected input with its raw bytes and reason, newest first")
def list_dead_letters(
    request: Request,
    principal: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    endpoint: str | None = None,
) -> dict[str, Any]:
    store = request.app.state.services.store
    after = read_cursor(cursor)
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"limit": limit + 1}
    if after:
        where.append("(received_at, id) < ({at:DateTime64(6, 'UTC')}, {id:String})")
        params.update(at=after[0], id=after[1])
    if endpoint:
        where.append("endpoint = {endpoint:String}")
        params["endpoint"] = endpoint
    rows = store.read(
        "SELECT received_at, id, endpoint, content_type, status, event_index, event_id, field, reason, hex(raw) AS raw "
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
                **_raw(row["raw"]),
            }
        )
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = page_cursor([last["received_at"].strftime("%Y-%m-%d %H:%M:%S.%f"), last["id"]])
    return {"items": items, "total": total, "next": nxt}
