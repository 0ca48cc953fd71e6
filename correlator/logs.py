"""OpenTelemetry log records read from `otel_logs`: by trace, by service, newest first."""

from __future__ import annotations

from typing import Any

from correlator.spans import iso_ns
from tower.api import ApiError, page_cursor, read_cursor
from tower.otel_values import typed, typed_value
from tower.store import Store

LOG_COLUMNS = (
    "toUnixTimestamp64Nano(Timestamp) AS time_ns, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, "
    "ServiceName, Body, BodyType, EventName, ScopeName, ScopeVersion, LogAttributes, LogAttributeTypes, "
    "ResourceAttributes, ResourceAttributeTypes"
)


def log_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": iso_ns(int(row["time_ns"])),
        "time_unix_nano": int(row["time_ns"]),
        "trace_id": row["TraceId"] or None,
        "span_id": row["SpanId"] or None,
        "flags": row["TraceFlags"],
        "severity": {"text": row["SeverityText"] or None, "number": row["SeverityNumber"]},
        "service": row["ServiceName"],
        "event_name": row["EventName"] or None,
        "body": typed_value(row["Body"], row["BodyType"]),
        "scope": {"name": row["ScopeName"], "version": row["ScopeVersion"]},
        "attributes": typed(row["LogAttributes"], row["LogAttributeTypes"]),
        "resource": typed(row["ResourceAttributes"], row["ResourceAttributeTypes"]),
    }


def search_logs(
    store: Store,
    tenant: str,
    *,
    trace_id: str | None = None,
    service: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {}
    if trace_id:
        where.append("TraceId = {trace_id:String}")
        params["trace_id"] = trace_id.lower()
    if service:
        where.append("ServiceName = {service:String}")
        params["service"] = service
    filtered = " AND ".join(where)
    page = filtered
    after = read_cursor(cursor)
    if after:
        if len(after) != 1 or not isinstance(after[0], int):
            raise ApiError(400, "invalid_cursor", "cursor is not one this API returned; start again without it")
        page += " AND toUnixTimestamp64Nano(Timestamp) < {c_ns:Int64}"
        params["c_ns"] = after[0]
    rows = store.read(
        f"SELECT {LOG_COLUMNS} FROM {{db}}.otel_logs WHERE {page} ORDER BY Timestamp DESC LIMIT {{limit:UInt32}}",
        tenant,
        {**params, "limit": limit + 1},
    )
    total = store.read(f"SELECT count() AS n FROM {{db}}.otel_logs WHERE {filtered}", tenant, params)[0]["n"]
    nxt = page_cursor([int(rows[limit - 1]["time_ns"])]) if len(rows) > limit else None
    return {"items": [log_view(r) for r in rows[:limit]], "total": total, "next": nxt}
