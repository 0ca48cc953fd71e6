"""Read side of the correlator: lookups by any identifier, one journey end to end, journey search.

Plain functions over `Store.read`, which binds the tenant of every query; the routes in
`correlator/api/` only translate HTTP to these calls.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson

from correlator.spans import journey_spans, links_of_values, step_traces, trace_spans
from correlator.state import iso as iso_us
from tower.api import ApiError, page_cursor, read_time_cursor, rfc3339
from tower.milestones import STATUSES, STUCK_AFTER_HOURS
from tower.store import Store, firsts, newest

MAX_JOURNEY_EVENTS = 5_000
# Rows a point read takes as they lie, to order in Python; with more, the store orders and cuts.
UNSORTED_READ = 2 * MAX_JOURNEY_EVENTS
_POOL = ThreadPoolExecutor(8, thread_name_prefix="journey-read")  # a journey page reads on up to 4 at once
# The journey page reads these four columns of a row: its state document repeats the others
# (`summary`), and each column chDB reads costs it about 0.15 ms a part.
JOURNEY_ROW = "alive, merged_into, objects, state"
# Rows written before the state had a summary: their columns are read instead.
SUMMARY_TIMES = ("stage_at", "started_at", "received_at", "departed_at", "delivered_at", "last_event_at")
LEGACY_ROW = f"{JOURNEY_ROW}, stage, status, {', '.join(SUMMARY_TIMES)}, on_time_ship, on_time_delivery, event_count"
FOLLOW_MERGES = 8
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


# What the journey page shows of an object, and the part of it a lookup shows (fewer columns read).
OBJECT_COLUMNS = "object_id, alive, merged_into, type, level, ids, provenance, journeys, first_seen, conflicts"
MATCH_COLUMNS = "object_id, alive, merged_into, type, ids, journeys"
IDENTIFIER_COLUMNS = "namespace, type, object_id, ids, journeys"
OBJECT_ID = re.compile(r"^[a-z][a-z0-9_]*-[0-9a-f]{16}$")  # correlator.identity.mint_id's form


def fetch_objects(
    store: Store, tenant: str, ids: list[str], columns: str = OBJECT_COLUMNS
) -> dict[str, dict[str, Any]]:
    """Current rows of these objects, keyed by the id asked for; merged-away ids follow to the survivor."""
    found: dict[str, dict[str, Any]] = {}
    wanted = {i: i for i in ids}  # asked id → id to fetch now
    for _ in range(FOLLOW_MERGES):
        if not wanted:
            break
        rows = store.read(
            f"SELECT version, {columns} FROM {{db}}.objects WHERE tenant = {{tenant:String}} "
            "AND object_id IN {ids:Array(String)}",
            tenant,
            {"ids": sorted(set(wanted.values()))},
        )
        by_id = newest(rows, itemgetter("object_id"))
        nxt: dict[str, str] = {}
        for asked, current in wanted.items():
            row = by_id.get(current)
            if row is None:
                continue
            if row["alive"]:
                found[asked] = row
            elif row["merged_into"] and row["merged_into"] != current:
                nxt[asked] = row["merged_into"]
        wanted = nxt
    return found


def object_view(row: dict[str, Any]) -> dict[str, Any]:
    provenance = orjson.loads(row["provenance"] or "{}")
    ids = dict(row["ids"])
    return {
        "id": row["object_id"],
        "type": row["type"],
        "level": None if row["level"] < 0 else row["level"],
        "ids": ids,
        "identifiers": [
            {"namespace": ns, "value": value, **provenance.get(ns, {})} for ns, value in sorted(ids.items())
        ],
        "journeys": list(row["journeys"]),
        "first_seen": rfc3339(row["first_seen"]),
        "conflicts": row["conflicts"],
    }


def lookup(store: Store, tenant: str, q: str, limit: int = 50) -> dict[str, Any]:
    q = q.strip()
    if not q:
        raise ApiError(400, "invalid_query", "q must name an identifier, e.g. ?q=SO-1001")
    where = "FROM {db}.identifiers WHERE tenant = {tenant:String} AND value = {q:String}"
    rows = store.read(
        f"SELECT version, {IDENTIFIER_COLUMNS} {where} LIMIT {{n:UInt32}}", tenant, {"q": q, "n": UNSORTED_READ}
    )
    if len(rows) < UNSORTED_READ:  # newest per system first, as the store would order them
        by_system = newest(rows, itemgetter("namespace", "type"))
        rows = sorted(by_system.values(), key=lambda r: r["version"], reverse=True)[:limit]
    else:
        rows = store.read(
            f"SELECT {IDENTIFIER_COLUMNS} {where} ORDER BY version DESC LIMIT 1 BY namespace, type LIMIT {{n:UInt32}}",
            tenant,
            {"q": q, "n": limit},
        )
    asked = [r["object_id"] for r in rows]
    matched_by: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        matched_by.setdefault(r["object_id"], []).append({"namespace": r["namespace"], "value": q})
    # An identifier's row carries its object as of the row's version, the object's own (written
    # together): those need no read of `objects`. Rows from before migration 154 carry no ids.
    objects: dict[str, dict[str, Any]] = {
        r["object_id"]: {"object_id": r["object_id"], "type": r["type"], "ids": r["ids"], "journeys": r["journeys"]}
        for r in rows
        if r["ids"]
    }
    if OBJECT_ID.match(q) and q not in asked:
        asked.append(q)  # an object or journey id itself
        matched_by.setdefault(q, []).append({"namespace": "object_id", "value": q})
    objects |= fetch_objects(store, tenant, [a for a in asked if a not in objects], MATCH_COLUMNS)
    matches: dict[str, dict[str, Any]] = {}
    for asked_id, row in objects.items():
        entry = matches.setdefault(
            row["object_id"],
            {
                "object": {"type": row["type"], "id": row["object_id"], "ids": dict(row["ids"])},
                "matched": [],
                "journeys": list(row["journeys"]),
            },
        )
        entry["matched"].extend(matched_by.get(asked_id, []))
    return {"q": q, "matches": sorted(matches.values(), key=lambda m: (m["object"]["type"], m["object"]["id"]))}


MEMBER_COLUMNS = "source, event_id AS id, type, time, ingested_at, traceparent, payload"


def journey_events(store: Store, tenant: str, journey_id: str) -> list[dict[str, Any]]:
    """The journey's events in event-time order, the first `MAX_JOURNEY_EVENTS` of them.

    Membership rows carry their events as stored (migration 153), so this is one primary-key range of
    `journey_events`. A row written without (before that migration, or by a correlator fed from Kafka)
    has an empty payload: those events are picked from `events` by primary key. A row rewritten
    without its payload (a journey re-keyed after a restart, say) may sit beside its earlier copy
    until they merge; the copy with the payload wins.

    The range is read as it lies and ordered here (`tower.store.firsts`); a journey with more rows
    than that read takes, ClickHouse orders and cuts instead.
    """
    rows = store.read(
        f"SELECT {MEMBER_COLUMNS} FROM {{db}}.journey_events "
        "WHERE tenant = {tenant:String} AND journey_id = {id:String} LIMIT {limit:UInt32}",
        tenant,
        {"id": journey_id, "limit": UNSORTED_READ},
    )
    if len(rows) < UNSORTED_READ:
        rows = firsts(rows, _member_order, itemgetter("source", "id"))
        del rows[MAX_JOURNEY_EVENTS:]
    else:
        rows = store.read(
            f"SELECT {MEMBER_COLUMNS} FROM {{db}}.journey_events "
            "WHERE tenant = {tenant:String} AND journey_id = {id:String} "
            "ORDER BY time, source, id, payload = '' LIMIT 1 BY source, id LIMIT {limit:UInt32}",
            tenant,
            {"id": journey_id, "limit": MAX_JOURNEY_EVENTS},
        )
    missing = [(r["source"], r["id"]) for r in rows if not r["payload"]]
    if not missing:
        return rows
    stored = {
        (r["source"], r["id"]): r
        for r in store.read(
            "SELECT source, id, type, time, ingested_at, traceparent, payload FROM {db}.events "
            "WHERE tenant = {tenant:String} AND (source, id) IN {keys:Array(Tuple(String, String))}",
            tenant,
            {"keys": missing},
        )
    }
    events = [r if r["payload"] else stored.get((r["source"], r["id"])) for r in rows]
    return sorted((e for e in events if e is not None), key=lambda e: (e["time"], e["source"], e["id"]))


def _member_order(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["time"], r["source"], r["id"], not r["payload"])  # of two copies, the one with the payload


def _events_and_traces(
    store: Store, tenant: str, journey_id: str
) -> tuple[list[dict[str, Any]], Future[list[dict[str, Any]]] | None]:
    """The journey's events, and the spans of their traces being read already: those depend on the
    events alone, so they are read while the page still waits for the objects."""
    events = journey_events(store, tenant, journey_id)
    traces = step_traces(events)
    return events, (_POOL.submit(trace_spans, store, tenant, traces) if traces else None)


def object_merges(store: Store, tenant: str, ids: list[str]) -> list[dict[str, Any]]:
    """The merges, re-keys and conflicts recorded on these objects, earliest first."""
    if not ids:
        return []
    rows = store.read(
        "SELECT object_id, merged_id, type, reason, source, event_id, event_time, detail FROM {db}.merges "
        "WHERE tenant = {tenant:String} AND object_id IN {ids:Array(String)}",
        tenant,
        {"ids": ids},
    )
    # A copy is the same record (an event re-applied after a crash) in a part not merged yet.
    return firsts(rows, _merge_order, itemgetter("object_id", "merged_id", "reason", "source", "event_id"))


def _merge_order(m: dict[str, Any]) -> tuple[Any, ...]:
    return (m["event_time"], m["object_id"], m["merged_id"], m["reason"], m["source"], m["event_id"])


def journey(store: Store, tenant: str, journey_id: str) -> dict[str, Any]:
    requested = journey_id
    # The events hang on the journey id alone: read them while the row is read.
    pending_events = _POOL.submit(_events_and_traces, store, tenant, journey_id)
    row = None
    for _ in range(FOLLOW_MERGES):
        row = _journey_row(store, tenant, journey_id, JOURNEY_ROW)
        if row is None or row["alive"] or not row["merged_into"]:
            break
        journey_id = row["merged_into"]
        row = None
    if row is None or not row["alive"]:
        pending_events.cancel()
        raise ApiError(404, "not_found", f"no journey {requested!r}; find one with GET /v1/lookup?q=<identifier>")

    state = orjson.loads(row["state"])
    summary = state.get("summary")
    if summary is None:  # a row written before the state had its summary: read its columns too
        row = _journey_row(store, tenant, journey_id, LEGACY_ROW) or row
        state = orjson.loads(row["state"])
        summary = state.get("summary") or _legacy_summary(row)
    if journey_id != requested:  # it followed a merge: the events fetched meanwhile are another journey's
        pending_events.cancel()
        pending_events = _POOL.submit(_events_and_traces, store, tenant, journey_id)
    # Every read below depends on the row or the events, not on each other: each on its own reader.
    row_objects = sorted(set(row["objects"]))
    audited = state.get("audited", row_objects)  # rows written before it was listed: every object
    pending_merges = _POOL.submit(object_merges, store, tenant, audited) if audited else None
    # The spans naming the journey's identifiers, as the row lists them (rows written before it did
    # not: theirs are read once the objects are in, as are identifiers the objects gained since).
    values = state.get("identifier_values", [])
    links = (values, _POOL.submit(links_of_values, store, tenant, values)) if values else None
    objects = fetch_objects(store, tenant, row_objects)
    events, step_spans = pending_events.result()
    spans, beneath = journey_spans(store, tenant, events, objects.values(), _POOL, links=links, traces=step_spans)
    current = {r["object_id"] for r in objects.values()}
    merges = [m for m in (pending_merges.result() if pending_merges else []) if m["object_id"] in current]
    late = sorted(current - set(row_objects))  # objects merged into others since the row was written
    if late:
        merges = sorted([*merges, *object_merges(store, tenant, late)], key=_merge_order)
    traces = sorted({e["traceparent"].split("-")[1] for e in events if e["traceparent"]})
    return {
        "id": journey_id,
        "requested_id": requested if requested != journey_id else None,
        "stage": summary["stage"],
        "status": summary["status"],
        **{name: iso_us(summary[name]) for name in SUMMARY_TIMES},
        "dims": state.get("dims", {}),
        "promised": state.get("promised", {}),
        "on_time_ship": None if summary["on_time_ship"] is None else bool(summary["on_time_ship"]),
        "on_time_delivery": None if summary["on_time_delivery"] is None else bool(summary["on_time_delivery"]),
        "objects": sorted(
            (object_view(o) for o in objects.values()), key=lambda o: (o["level"] is None, o["level"] or 0, o["id"])
        ),
        "relations": [{"a": a, "b": b, "qualifier": q} for a, b, q in state.get("relations", [])],
        "events": [
            {
                "source": e["source"],
                "id": e["id"],
                "type": e["type"],
                "time": rfc3339(e["time"]),
                "ingested_at": rfc3339(e["ingested_at"]),
                "traceparent": e["traceparent"] or None,
                "data": orjson.loads(e["payload"]).get("data"),
                "spans": beneath.get((e["source"], e["id"]), []),
            }
            for e in events
        ],
        "event_count": summary["event_count"],
        "milestones": [
            m | {"first": iso_us(m["first"]), "last": iso_us(m["last"])} for m in state.get("milestones", [])
        ],
        "shipments": [
            s | {"milestones": {t: iso_us(v) for t, v in s["milestones"].items()}} for s in state.get("shipments", [])
        ],
        "durations": state.get("durations", {}),
        "anomalies": state.get("anomalies", []),
        "merges": [
            {
                "object_id": m["object_id"],
                "merged_id": m["merged_id"],
                "type": m["type"],
                "reason": m["reason"],
                "source": m["source"] or None,
                "event_id": m["event_id"] or None,
                "event_time": rfc3339(m["event_time"]),
                "detail": m["detail"] or None,
            }
            for m in merges
        ],
        "traces": traces,
        # How long an open journey may wait in each stage: what the trace draws each segment against.
        "stage_thresholds": {stage: hours * 3600 for stage, hours in STUCK_AFTER_HOURS.items()},
        "spans": spans,
    }


def _journey_row(store: Store, tenant: str, journey_id: str, columns: str) -> dict[str, Any] | None:
    rows = store.read(
        f"SELECT version, {columns} FROM {{db}}.journeys WHERE tenant = {{tenant:String}} "
        "AND journey_id = {id:String}",
        tenant,
        {"id": journey_id},
    )
    return max(rows, key=itemgetter("version"), default=None)  # unordered: see `tower.store.newest`


def _legacy_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A pre-summary row's columns in the form the state's `summary` gives them (times in µs)."""
    summary = {name: row[name] for name in ("stage", "status", "on_time_ship", "on_time_delivery", "event_count")}
    for name in SUMMARY_TIMES:
        value = row[name]
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        summary[name] = None if value is None else (value - EPOCH) // MICROSECOND
    return summary


SUMMARY_COLUMNS = (
    "journey_id, stage, status, channel, warehouse, carrier, customer, started_at, stage_at, received_at, "
    "departed_at, delivered_at, last_event_at, event_count, anomaly_count, anomaly_kinds"
)


def journey_filters(
    now: datetime,
    *,
    stage: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    warehouse: str | None = None,
    carrier: str | None = None,
    anomaly: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """WHERE conditions and their bound values for the filters journey search and summary share."""
    where = ["tenant = {tenant:String}", "alive = 1"]
    params: dict[str, Any] = {}
    for name, value in (("stage", stage), ("channel", channel), ("warehouse", warehouse), ("carrier", carrier)):
        if value:
            where.append(f"{name} = {{{name}:String}}")
            params[name] = value
    if status == "stuck":
        where.append("status = 'open'")
        where.append(
            "stage_at < {now:DateTime64(6, 'UTC')} - toIntervalSecond("
            "transform(toString(stage), {stages:Array(String)}, {secs:Array(UInt32)}, toUInt32(86400)))"
        )
        params.update(
            now=now,
            stages=list(STUCK_AFTER_HOURS),
            secs=[int(h * 3600) for h in STUCK_AFTER_HOURS.values()],
        )
    elif status:
        if status not in STATUSES:
            raise ApiError(400, "invalid_filter", f"status must be one of {', '.join((*STATUSES, 'stuck'))}")
        where.append("status = {status:String}")
        params["status"] = status
    if anomaly:
        where.append("has(anomaly_kinds, {anomaly:String})")
        params["anomaly"] = anomaly
    if start:
        where.append("started_at >= {start:DateTime64(6, 'UTC')}")
        params["start"] = start
    if end:
        where.append("started_at < {end:DateTime64(6, 'UTC')}")
        params["end"] = end
    return where, params


def search_journeys(
    store: Store,
    tenant: str,
    now: datetime,
    *,
    stage: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    warehouse: str | None = None,
    carrier: str | None = None,
    anomaly: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    where, params = journey_filters(
        now,
        stage=stage,
        status=status,
        channel=channel,
        warehouse=warehouse,
        carrier=carrier,
        anomaly=anomaly,
        start=start,
        end=end,
    )
    filtered = " AND ".join(where)
    after = read_time_cursor(cursor)
    page_where = filtered
    if after:
        page_where += " AND (started_at, journey_id) < ({c_at:DateTime64(6, 'UTC')}, {c_id:String})"
        params.update(c_at=after[0], c_id=after[1])
    rows = store.read(
        f"SELECT {SUMMARY_COLUMNS} FROM {{db}}.journeys FINAL WHERE {page_where} "
        "ORDER BY started_at DESC, journey_id DESC LIMIT {limit:UInt32}",
        tenant,
        {**params, "limit": limit + 1},
    )
    total = store.read(f"SELECT count() AS n FROM {{db}}.journeys FINAL WHERE {filtered}", tenant, params)[0]["n"]
    items = [
        {
            "id": r["journey_id"],
            "stage": r["stage"],
            "status": r["status"],
            "channel": r["channel"] or None,
            "warehouse": r["warehouse"] or None,
            "carrier": r["carrier"] or None,
            "customer": r["customer"] or None,
            "started_at": rfc3339(r["started_at"]),
            "stage_at": rfc3339(r["stage_at"]),
            "received_at": rfc3339(r["received_at"]),
            "departed_at": rfc3339(r["departed_at"]),
            "delivered_at": rfc3339(r["delivered_at"]),
            "last_event_at": rfc3339(r["last_event_at"]),
            "event_count": r["event_count"],
            "anomaly_count": r["anomaly_count"],
            "anomalies": list(r["anomaly_kinds"]),
        }
        for r in rows[:limit]
    ]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = page_cursor([last["started_at"].strftime("%Y-%m-%d %H:%M:%S.%f"), last["journey_id"]])
    return {"items": items, "total": total, "next": nxt}


SUMMARY_DIMENSIONS = ("stage", "status", "channel", "warehouse", "carrier")
MAX_SUMMARY_GROUPS = 10_000


def summarize_journeys(
    store: Store,
    tenant: str,
    now: datetime,
    by: list[str],
    *,
    status: str | None = None,
    stage: str | None = None,
    channel: str | None = None,
    warehouse: str | None = None,
    carrier: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Journey counts grouped by up to three dimensions, counted by the store (never rows to the client).

    `status` takes the search's values and `all`; a journey with no value for a dimension is counted
    under null.
    """
    unknown = [d for d in by if d not in SUMMARY_DIMENSIONS]
    if not by or unknown or len(by) > 3 or len(set(by)) != len(by):
        raise ApiError(
            400,
            "invalid_query",
            f"by must name one to three distinct dimensions of {', '.join(SUMMARY_DIMENSIONS)}"
            + (f"; {', '.join(unknown)} is not one" if unknown else ""),
        )
    where, params = journey_filters(
        now,
        stage=stage,
        status=None if status == "all" else status,
        channel=channel,
        warehouse=warehouse,
        carrier=carrier,
        start=start,
        end=end,
    )
    columns = ", ".join(f"toString({d}) AS {d}" for d in by)  # names from the allow-list above
    rows = store.read(
        f"SELECT {columns}, count() AS n FROM {{db}}.journeys FINAL WHERE {' AND '.join(where)} "
        f"GROUP BY {', '.join(by)} ORDER BY n DESC, {', '.join(by)} LIMIT {{limit:UInt32}}",
        tenant,
        {**params, "limit": MAX_SUMMARY_GROUPS},
    )
    items = [{**{d: r[d] or None for d in by}, "count": r["n"]} for r in rows]
    return {"by": list(by), "items": items, "total": sum(i["count"] for i in items)}
