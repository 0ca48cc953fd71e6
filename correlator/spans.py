"""The technical spans beneath a journey's milestones, read from `spans_by_trace` and `span_links`.

Two ways a span belongs to a journey:

- by **traceparent**: an event of the journey carries the W3C traceparent of the sync step that
  produced it; the spans beneath that event are the step's span and its descendants (the whole
  trace when the step's own span was not exported);
- by **attribute**: a span whose attributes name a business identifier (collected at ingest into
  `span_links`, per TOWER_SPAN_IDENTIFIER_ATTRIBUTES) belongs to the journeys of the objects known
  by that identifier, even when no event names its trace.

Attribute values come back typed (`tower.otel_values`): ints as ints, bools as bools.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson

from tower.api import ApiError, page_cursor, read_cursor
from tower.otel_values import typed
from tower.store import Store, firsts

MAX_JOURNEY_SPANS = 2_000


def iso_ns(ns: int) -> str:
    """Nanoseconds since the epoch as RFC 3339 UTC with all nine digits."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def span_view(row: dict[str, Any]) -> dict[str, Any]:
    start = int(row["start_ns"])
    return {
        "trace_id": row["TraceId"],
        "span_id": row["SpanId"],
        "parent_span_id": row["ParentSpanId"] or None,
        "trace_state": row["TraceState"] or None,
        "name": row["SpanName"],
        "kind": row["SpanKind"],
        "service": row["ServiceName"],
        "scope": {"name": row["ScopeName"], "version": row["ScopeVersion"]},
        "start": iso_ns(start),
        "end": iso_ns(start + int(row["Duration"])),
        "start_unix_nano": start,
        "duration_ns": int(row["Duration"]),
        "status": {"code": row["StatusCode"], "message": row["StatusMessage"] or None},
        "attributes": typed(row["SpanAttributes"], row["SpanAttributeTypes"]),
        "resource": typed(row["ResourceAttributes"], row["ResourceAttributeTypes"]),
        "events": [
            {"time": iso_ns(int(t)), "name": name, "attributes": typed(values, types)}
            for t, name, values, types in zip(
                row["event_ns"], row["event_names"], row["event_values"], row["event_types"], strict=True
            )
        ],
        "links": [
            {"trace_id": t, "span_id": s, "trace_state": state or None, "attributes": typed(values, types)}
            for t, s, state, values, types in zip(
                row["link_traces"],
                row["link_spans"],
                row["link_states"],
                row["link_values"],
                row["link_types"],
                strict=True,
            )
        ],
    }


def trace_spans(store: Store, tenant: str, trace_ids: Iterable[str], limit: int = MAX_JOURNEY_SPANS) -> list[dict]:
    """Every span of these traces (one row per span even if an exporter sent it twice), by start time."""
    ids = sorted({t.lower() for t in trace_ids})
    if not ids:
        return []
    # One JSON document a span (`collector.otlp.schema.SPAN_DOCUMENT`), read as they lie and ordered
    # here (`tower.store.firsts`); traces with more rows than that read are ordered by the store.
    where = "FROM {db}.spans_by_trace WHERE tenant = {tenant:String} AND TraceId IN {ids:Array(String)}"
    rows = store.read(f"SELECT span {where} LIMIT {{limit:UInt32}}", tenant, {"ids": ids, "limit": 2 * limit})
    if len(rows) < 2 * limit:
        spans = firsts(map(_document, rows), _start_order, itemgetter("TraceId", "SpanId"))[:limit]
    else:
        rows = store.read(
            f"SELECT span {where} ORDER BY Timestamp, SpanId LIMIT 1 BY TraceId, SpanId LIMIT {{limit:UInt32}}",
            tenant,
            {"ids": ids, "limit": limit},
        )
        spans = [_document(r) for r in rows]
    return [span_view(s) for s in spans]


def _document(row: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(row["span"])
    return document


def _start_order(span: dict[str, Any]) -> tuple[int, str]:
    # int(): a server set to quote 64-bit integers in JSON writes start_ns as a string
    return int(span["start_ns"]), span["SpanId"]


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace id, span id) of a W3C traceparent, or None when it is not one."""
    if not value:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    return parts[1], parts[2]


def event_steps(events: Iterable[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(source, id) of each event carrying a valid traceparent → (trace id, span id) of its sync step."""
    steps: dict[tuple[str, str], tuple[str, str]] = {}
    for event in events:
        parsed = parse_traceparent(event.get("traceparent"))
        if parsed:
            steps[(event["source"], event["id"])] = parsed
    return steps


def step_traces(events: Iterable[dict[str, Any]]) -> set[str]:
    """The trace ids the events' traceparents name."""
    return {t for t, _ in event_steps(events).values()}


def namespace_matches(configured: str, namespace: str) -> bool:
    """'' matches any namespace; `tracking` matches `tracking` and `tracking:ups`."""
    return not configured or namespace == configured or namespace.startswith(configured + ":")


LINKS_SQL = (
    "SELECT value, namespace, attribute, TraceId, SpanId FROM {db}.span_links "
    "WHERE tenant = {tenant:String} AND value IN {values:Array(String)} "
    "LIMIT 1 BY value, namespace, attribute, TraceId, SpanId LIMIT {limit:UInt32}"
)


def links_of_values(store: Store, tenant: str, values: Iterable[str]) -> list[dict[str, Any]]:
    """The span links naming any of these identifier values."""
    wanted = sorted(set(values))
    if not wanted:
        return []
    return store.read(LINKS_SQL, tenant, {"values": wanted, "limit": MAX_JOURNEY_SPANS})


def journey_spans(
    store: Store,
    tenant: str,
    events: list[dict[str, Any]],
    objects: Iterable[dict[str, Any]],
    pool: Executor | None = None,
    links: tuple[Iterable[str], Future[list[dict[str, Any]]]] | None = None,
    traces: Future[list[dict[str, Any]]] | None = None,
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], list[dict[str, Any]]]]:
    """(the journey's spans, each with the events it is beneath and how it was linked; event key → its spans).

    `events` are rows with source, id and traceparent; `objects` are object rows with `object_id` and `ids`.
    With a `pool`, the spans of the events' own traces are read while the attribute links are.
    `links`: (identifier values, their `links_of_values` being read), started before the objects were
    read; only the objects' identifiers not among those values are looked up here.
    `traces`: the spans of the events' own traces (`step_traces`), being read since the events came in."""
    steps = event_steps(events)
    own_traces = {t for t, _ in steps.values()}
    pending = traces
    if pending is None and pool is not None and own_traces:
        pending = pool.submit(trace_spans, store, tenant, own_traces)

    by_value: dict[str, list[tuple[str, str]]] = {}
    for obj in objects:
        for namespace, value in dict(obj["ids"]).items():
            by_value.setdefault(value, []).append((namespace, obj["object_id"]))
    asked, early = links if links is not None else ((), None)
    link_rows = links_of_values(store, tenant, by_value.keys() - set(asked))
    if early is not None:
        link_rows = [*early.result(), *link_rows]
    matches: dict[tuple[str, str], list[dict[str, str]]] = {}
    for link in link_rows:
        for namespace, object_id in by_value.get(link["value"], ()):  # an early value may name no object now
            if namespace_matches(link["namespace"], namespace):
                matches.setdefault((link["TraceId"], link["SpanId"]), []).append(
                    {"attribute": link["attribute"], "value": link["value"], "object_id": object_id}
                )
                break

    if pending is None:
        spans = trace_spans(store, tenant, own_traces | {t for t, _ in matches})
    else:
        spans = pending.result()
        more = {t for t, _ in matches} - own_traces
        if more:
            spans = sorted(
                [*spans, *trace_spans(store, tenant, more)], key=lambda s: (s["start_unix_nano"], s["span_id"])
            )[:MAX_JOURNEY_SPANS]
    by_key = {(s["trace_id"], s["span_id"]): s for s in spans}
    children: dict[tuple[str, str], list[str]] = {}
    by_trace: dict[str, list[str]] = {}
    for s in spans:
        by_trace.setdefault(s["trace_id"], []).append(s["span_id"])
        if s["parent_span_id"]:
            children.setdefault((s["trace_id"], s["parent_span_id"]), []).append(s["span_id"])

    beneath: dict[tuple[str, str], list[dict[str, Any]]] = {}
    events_of: dict[tuple[str, str], list[dict[str, str]]] = {}
    for event_key, (trace_id, span_id) in steps.items():
        if (trace_id, span_id) in by_key:
            ids, stack, seen = [], [span_id], {span_id}
            while stack:  # `seen`: a malformed trace may make a span its own ancestor
                current = stack.pop()
                ids.append(current)
                for child in children.get((trace_id, current), ()):
                    if child not in seen:
                        seen.add(child)
                        stack.append(child)
        else:
            ids = by_trace.get(trace_id, [])
        own = sorted((by_key[(trace_id, i)] for i in ids), key=lambda s: (s["start_unix_nano"], s["span_id"]))
        beneath[event_key] = own
        for s in own:
            events_of.setdefault((trace_id, s["span_id"]), []).append({"source": event_key[0], "id": event_key[1]})

    linked: list[dict[str, Any]] = []
    for key, s in by_key.items():
        in_step = key in events_of
        matched = matches.get(key, [])
        if not in_step and not matched:
            continue  # another span of an attribute-linked span's trace
        linked.append(
            s
            | {
                "linked_by": "traceparent" if in_step else "attribute",
                "events": events_of.get(key, []),
                "matched": matched,
            }
        )
    linked.sort(key=lambda s: (s["start_unix_nano"], s["trace_id"], s["span_id"]))
    return linked, beneath


def search_traces(
    store: Store,
    tenant: str,
    *,
    service: str | None = None,
    name: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Traces newest first: `spans` counts the stored rows (a span sent twice is stored twice)."""
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {}
    if service:
        where.append("ServiceName = {service:String}")
        params["service"] = service
    if name:
        where.append("SpanName = {name:String}")
        params["name"] = name
    if start:
        where.append("Timestamp >= {start:DateTime64(9, 'UTC')}")
        params["start"] = start
    if end:
        where.append("Timestamp < {end:DateTime64(9, 'UTC')}")
        params["end"] = end
    filtered = " AND ".join(where)
    having = ""
    after = read_cursor(cursor)
    if after:
        if len(after) != 2 or not isinstance(after[0], int) or not isinstance(after[1], str):
            raise ApiError(400, "invalid_cursor", "cursor is not one this API returned; start again without it")
        having = "HAVING (start_ns, TraceId) < ({c_ns:Int64}, {c_id:String})"
        params.update(c_ns=after[0], c_id=after[1])
    rows = store.read(
        "SELECT TraceId, count() AS spans, uniqExact(SpanId) AS distinct_spans, "
        "toUnixTimestamp64Nano(min(Timestamp)) AS start_ns, "
        "max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) AS end_ns, "
        "groupUniqArray(ServiceName) AS services, "
        "argMin(SpanName, (ParentSpanId != '', Timestamp)) AS root, countIf(StatusCode = 'Error') AS errors "
        f"FROM {{db}}.otel_traces WHERE {filtered} GROUP BY TraceId {having} "
        "ORDER BY start_ns DESC, TraceId DESC LIMIT {limit:UInt32}",
        tenant,
        {**params, "limit": limit + 1},
    )
    totals = store.read(
        f"SELECT uniqExact(TraceId) AS traces, count() AS spans FROM {{db}}.otel_traces WHERE {filtered}",
        tenant,
        params,
    )[0]
    items = [
        {
            "trace_id": r["TraceId"],
            "root": r["root"],
            "services": sorted(r["services"]),
            "spans": r["spans"],
            "distinct_spans": r["distinct_spans"],
            "errors": r["errors"],
            "start": iso_ns(int(r["start_ns"])),
            "duration_ns": int(r["end_ns"]) - int(r["start_ns"]),
        }
        for r in rows[:limit]
    ]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = page_cursor([int(last["start_ns"]), last["TraceId"]])
    return {"items": items, "total": totals["traces"], "spans": totals["spans"], "next": nxt}
