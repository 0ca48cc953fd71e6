"""SLI queries: per-minute (good, bad) counts of one SLO over a time range, one query per SLO.

Each query returns rows `(minute, dims, good, bad)` where `minute` is Unix minutes and `dims` the
raw dimensions an SLO can be sliced by; `slo/budget.py` folds them into slices and windows.

Latency of a journey segment (`from` → `to` within `threshold`), the rule of DESIGN.md: a journey
is good at the moment `to` arrives within its threshold, and bad at the moment the threshold
passes (`from + threshold`) whether or not `to` ever arrives — so a journey still waiting counts
as bad as soon as it is late, and an outage burns budget while it lasts. A journey stopped
(`stopOn`, e.g. cancelled) before its deadline counts neither way. Only what happened before the
evaluation's `now` counts: events later in event time are not there yet.

Freshness: every stream (e.g. system × warehouse) that has ever reported is, minute by minute,
good when its newest snapshot (`facts.as_of`, else the event time) is at most `threshold` old at
the end of that minute, bad otherwise; a stream that stops reporting burns budget every minute.
Sliced by `stream` (`erp/netsuite@dc-east`), each stream has a budget of its own: one stale feed
among six is a sixth of a warehouse's or a system's minutes, but all of its own.

Success ratio: events of the `good` types count good, of the `bad` types bad, at their event time.
Many systems report only their failures (`sync.failed` without a `sync.acknowledged` for every step
that worked): read as it is, such a system is 100 % bad. With `goodDelivered`, what a system
delivered (events of any type outside `sync.*`) counts as its good steps, attributed to a system
the same way as the failures, so the ERP's acceptances, allocations and invoices are the steps its
failures are measured against. A step is one (source, type, instant): a stock report of sixty SKUs
sent at once is one step that worked, not sixty, as one failed call is one failure.
Sliced by `flow` (`wms/dc-east:fulfillment.confirmations`: a system and an operation), each flow
the integration platform reports both ways (acknowledged runs, at least ten in two days, and
failures) has a budget of its own, as each freshness stream has: one broken flow of a system
whose other steps keep working is a share of the system's steps, but every one of its own runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from slo.openslo import SliSpec
from tower.store import Store

MINUTE_US = 60_000_000
# A latency SLI groups the events of every journey it judges, then joins their dimensions: over the
# 33 days of a first evaluation at 10M events, one read needed 800 MB. It reads at most a week at a
# time (under 200 MB there), and gives the same rows: a minute's verdicts depend only on events
# before it ends (the `to` that made a journey good came before its deadline; one judged at its
# deadline is bad whatever arrives after), so reading up to the piece's end instead of `now` changes none.
LATENCY_PIECE_US = 7 * 1440 * MINUTE_US
# A success ratio with goodDelivered counts distinct (source, type, time) steps per minute: over a
# month at 10M events its hash sets took 1.6 GB. Past this size the aggregation spills to disk.
SPILL_BYTES = 128 * 2**20
Row = tuple[int, tuple[tuple[str, str], ...], int, int]  # (unix minute, ((dim, value), …), good, bad)

LATENCY_SQL = """
WITH seg AS (
    SELECT journey_id,
           minIf(t, is_from) AS t_from,
           groupArrayIf(t, is_to) AS tos,
           groupArrayIf(t, is_stop) AS stops
    FROM (
        SELECT journey_id, toUnixTimestamp64Micro(time) AS t,
               type IN {from:Array(String)} AS is_from,
               type IN {to:Array(String)} AS is_to,
               type IN {stop:Array(String)} AS is_stop
        FROM {db}.journey_events
        WHERE tenant = {tenant:String} AND type IN {types:Array(String)} AND time < {hi:DateTime64(6, 'UTC')}
          AND journey_id IN (
              SELECT journey_id FROM {db}.journey_events
              WHERE tenant = {tenant:String} AND type IN {from:Array(String)}
                AND time >= {lo_from:DateTime64(6, 'UTC')} AND time < {hi:DateTime64(6, 'UTC')})
    )
    GROUP BY journey_id
    HAVING t_from >= {lo_from_us:Int64}
),
judged AS (
    SELECT journey_id,
           t_from + {thr:Int64} AS deadline,
           arrayFilter(x -> x >= t_from, tos) AS after,
           if(notEmpty(after), arrayMin(after), if({after_from:UInt8} = 0 AND notEmpty(tos), t_from, -1)) AS t_to,
           arrayFilter(x -> x >= t_from, stops) AS stops_after,
           if(notEmpty(stops_after), arrayMin(stops_after), -1) AS t_stop,
           t_to >= 0 AND t_to <= deadline AS ok,
           if(ok, t_to, deadline) AS at,
           t_stop >= 0 AND t_stop < deadline AND (t_to < 0 OR t_stop < t_to) AS stopped
    FROM seg
)
SELECT intDiv(at, 60000000) AS minute, j.channel AS channel, j.warehouse AS warehouse, j.carrier AS carrier,
       countIf(ok) AS good, countIf(NOT ok) AS bad
FROM judged
INNER JOIN (
    SELECT journey_id, argMax(channel, version) AS channel, argMax(warehouse, version) AS warehouse,
           argMax(carrier, version) AS carrier, argMax(alive, version) AS alive
    FROM {db}.journeys
    WHERE tenant = {tenant:String} AND journey_id IN (
        SELECT journey_id FROM {db}.journey_events
        WHERE tenant = {tenant:String} AND type IN {from:Array(String)}
          AND time >= {lo_from:DateTime64(6, 'UTC')} AND time < {hi:DateTime64(6, 'UTC')})
    GROUP BY journey_id
) AS j USING journey_id
WHERE j.alive = 1 AND NOT stopped AND at >= {lo_us:Int64} AND at < {hi_us:Int64}
GROUP BY minute, channel, warehouse, carrier
"""

# The system, carrier and operation an event is about are columns of `events` (`system`: facts.system,
# else dims.system, else the source's prefix; `carrier`: dims.carrier; `operation`: facts.operation),
# filled at ingest: a success ratio with goodDelivered reads every event of its window, and reading
# them out of each payload cost a hundred times the scan (collector/schema.py, migration 50). Any
# mention of `payload` here makes ClickHouse read and decompress every row's payload, even where
# an `if` would not use it.

# A flow is one system's one operation (`wms/dc-east:fulfillment.confirmations`), named only on the
# integration platform's own reports (the good and bad types), and only for an operation that ran
# and was acknowledged at least FLOW_MIN_RUNS times within STREAM_MEMORY before the range: a flow that
# reports only its failures has nothing to measure them against, and an operation named after one
# run is an instance, not a flow (an EDI 997's operation is the kind of group it acknowledges,
# `edi:997.sh`, its group control number a fact of its own). Both count in their system.
FLOW_MIN_RUNS = 10  # as many events as the low-traffic guard asks of a window (TOWER_SLO_MIN_EVENTS)
FLOW_EXPR = f"""if(type IN {{types:Array(String)}} AND (system, operation) IN (
              SELECT system, operation
              FROM {{db}}.events
              WHERE tenant = {{tenant:String}} AND type IN {{good:Array(String)}}
                AND time >= {{memory:DateTime64(6, 'UTC')}} AND time < {{hi:DateTime64(6, 'UTC')}}
                AND operation != ''
              GROUP BY 1, 2 HAVING count() >= {FLOW_MIN_RUNS}),
          concat(system, ':', operation), '')"""
RATIO_SQL = """
SELECT intDiv(toUnixTimestamp64Micro(time), 60000000) AS minute,
       system,
       carrier,
       FLOW_EXPR AS flow,
       countIf(type IN {good:Array(String)})
           + if({delivered:UInt8} = 1, uniqExactIf((source, type, time), NOT startsWith(type, 'sync.')), 0)
           AS good,
       countIf(type IN {bad:Array(String)}) AS bad
FROM {db}.events
WHERE tenant = {tenant:String} AND (type IN {types:Array(String)} OR {delivered:UInt8} = 1)
  AND time >= {lo:DateTime64(6, 'UTC')} AND time < {hi:DateTime64(6, 'UTC')}
GROUP BY minute, system, carrier, flow
HAVING good + bad > 0
SETTINGS max_bytes_before_external_group_by = SPILL_BYTES
"""
RATIO_SQL = RATIO_SQL.replace("SPILL_BYTES", str(SPILL_BYTES))
RATIO_BY_FLOW_SQL = RATIO_SQL.replace("FLOW_EXPR", FLOW_EXPR)
RATIO_SQL = RATIO_SQL.replace("FLOW_EXPR", "''")  # not sliced by flow: no flows to look up

SNAPSHOT_STREAM = (
    "system, "
    "coalesce(nullIf(JSONExtractString(payload, 'data', 'facts', 'warehouse'), ''), "
    "JSONExtractString(payload, 'data', 'dims', 'warehouse')) AS warehouse"
)
AS_OF_EXPR = (
    "toUnixTimestamp64Micro(coalesce(parseDateTime64BestEffortOrNull("
    "JSONExtractString(payload, 'data', 'facts', 'as_of'), 6, 'UTC'), time))"
)

FRESHNESS_SQL = f"""
SELECT system, warehouse, min(first) AS first_us, maxIf(newest, minute < {{lo_from_min:Int64}}) AS carried,
       groupArrayIf((minute, newest), minute >= {{lo_from_min:Int64}}) AS points
FROM (
    SELECT {SNAPSHOT_STREAM},
           intDiv(toUnixTimestamp64Micro(time), 60000000) AS minute,
           max({AS_OF_EXPR}) AS newest,
           min(toUnixTimestamp64Micro(time)) AS first
    FROM {{db}}.events
    WHERE tenant = {{tenant:String}} AND type = {{event:String}}
      AND time >= {{memory:DateTime64(6, 'UTC')}} AND time < {{hi:DateTime64(6, 'UTC')}}
    GROUP BY system, warehouse, minute
)
GROUP BY system, warehouse
"""
# A stream silent for longer than this before the range is no longer counted (it has burnt its budget by then).
STREAM_MEMORY_US = 2 * 86_400 * 1_000_000


def _dt(us: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(us / 1_000_000, UTC)


def minute_rows(store: Store, tenant: str, sli: SliSpec, lo_min: int, hi_min: int) -> list[Row]:
    """(good, bad) per minute in [lo_min, hi_min) and per raw dimensions, as of the instant `hi_min`."""
    lo_us, hi_us = lo_min * MINUTE_US, hi_min * MINUTE_US
    if sli.kind == "latency":
        return _latency(store, tenant, sli, lo_us, hi_us)
    if sli.kind == "success_ratio":
        rows = store.query(
            RATIO_BY_FLOW_SQL if "flow" in sli.slice_by else RATIO_SQL,
            {
                "tenant": tenant,
                "good": list(sli.good_types),
                "bad": list(sli.bad_types),
                "types": [*sli.good_types, *sli.bad_types],
                "delivered": int(sli.good_delivered),
                "lo": _dt(lo_us),
                "hi": _dt(hi_us),
                "memory": _dt(lo_us - STREAM_MEMORY_US),
            },
            role="slo",
        )
        return _per_slice(rows, ("system", "carrier", "flow"))
    if sli.kind == "freshness":
        return _freshness(store, tenant, sli, lo_min, hi_min)
    raise ValueError(f"unknown SLI kind {sli.kind!r}")


def _latency(store: Store, tenant: str, sli: SliSpec, lo_us: int, hi_us: int) -> list[Row]:
    """Read in pieces of at most LATENCY_PIECE_US: one read's memory grows with the journeys it judges."""
    rows: list[tuple] = []
    for start in range(lo_us, hi_us, LATENCY_PIECE_US):
        rows += _latency_piece(store, tenant, sli, start, min(hi_us, start + LATENCY_PIECE_US))
    return _per_slice(rows, ("channel", "warehouse", "carrier"))


def _latency_piece(store: Store, tenant: str, sli: SliSpec, lo_us: int, hi_us: int) -> list[tuple]:
    lo_from_us = lo_us - sli.threshold_s * 1_000_000
    return store.query(
        LATENCY_SQL,
        {
            "tenant": tenant,
            "from": list(sli.from_types),
            "to": list(sli.to_types),
            "stop": list(sli.stop_types),
            "types": sorted({*sli.from_types, *sli.to_types, *sli.stop_types}),
            "lo_from": _dt(lo_from_us),
            "lo_from_us": lo_from_us,
            "hi": _dt(hi_us),
            "thr": sli.threshold_s * 1_000_000,
            "after_from": int(sli.after_from),
            "lo_us": lo_us,
            "hi_us": hi_us,
        },
        role="slo",
    )


def _per_slice(rows: list[tuple], names: tuple[str, ...]) -> list[Row]:
    """(minute, dims, good, bad) from rows of (minute, *one value per name, good, bad). One dims tuple
    per slice, not per row: a month of minutes is 100k+ rows, and building their tuples cost more
    than the query."""
    dims: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
    out: list[Row] = []
    for row in rows:
        values = tuple(row[1:-2])
        key = dims.get(values)
        if key is None:
            key = dims[values] = tuple(zip(names, values, strict=True))
        out.append((int(row[0]), key, int(row[-2]), int(row[-1])))
    return out


def _freshness(store: Store, tenant: str, sli: SliSpec, lo_min: int, hi_min: int) -> list[Row]:
    thr_us = sli.threshold_s * 1_000_000
    lo_from_us = lo_min * MINUTE_US - thr_us
    rows = store.query(
        FRESHNESS_SQL,
        {
            "tenant": tenant,
            "event": sli.event,
            "hi": _dt(hi_min * MINUTE_US),
            "lo_from_min": lo_from_us // MINUTE_US,
            "memory": _dt(lo_from_us - STREAM_MEMORY_US),
        },
        role="slo",
    )
    streams: dict[tuple[str, str], tuple[int, list[tuple[int, int]]]] = {}
    for system, warehouse, first_us, carried, points in rows:
        key = (system if "system" in sli.stream_by else "", warehouse if "warehouse" in sli.stream_by else "")
        first, pts = streams.get(key, (int(first_us), []))
        pts = pts + [(int(m), int(n)) for m, n in points]
        if carried:
            pts.append((lo_min - 1, int(carried)))
        streams[key] = (min(first, int(first_us)), pts)
    out: list[Row] = []
    n = hi_min - lo_min
    ends = (np.arange(lo_min, hi_min, dtype=np.int64) + 1) * MINUTE_US  # each minute judged at its end
    for (system, warehouse), (first_us, points) in streams.items():
        newest = np.full(n, -1, dtype=np.int64)
        carried = -1
        for minute, as_of in sorted(points):
            if minute < lo_min:
                carried = max(carried, as_of)
            elif minute < hi_min:
                newest[minute - lo_min] = max(newest[minute - lo_min], as_of)
        newest[0] = max(newest[0], carried)
        newest = np.maximum.accumulate(newest)
        alive = ends > first_us
        fresh = (newest >= 0) & (ends - newest <= thr_us)
        stream = "@".join(v for v in (system, warehouse) if v)
        dims = (("system", system), ("warehouse", warehouse), ("stream", stream))
        for i in np.flatnonzero(alive):
            good = bool(fresh[i])
            out.append((lo_min + int(i), dims, int(good), int(not good)))
    return out


def bad_journeys(
    store: Store, tenant: str, sli: SliSpec, labels: dict[str, str], lo_min: int, hi_min: int, limit: int = 50
) -> tuple[list[str], int]:
    """The journeys a latency SLO counted bad in [lo_min, hi_min) in a slice: what an alert links to."""
    if sli.kind != "latency":
        return [], 0
    head = LATENCY_SQL[: LATENCY_SQL.index("SELECT intDiv(at")]
    where = "".join(f" AND j.{d} = {{dim_{d}:String}}" for d in ("channel", "warehouse", "carrier") if d in labels)
    tail = LATENCY_SQL[LATENCY_SQL.index("FROM judged") : LATENCY_SQL.index("GROUP BY minute")]
    sql = (
        head
        + "SELECT journey_id, count() OVER () AS total FROM ("
        + "SELECT journey_id, at "
        + tail
        + f" AND NOT ok {where}) ORDER BY at DESC LIMIT {{limit:UInt32}}"
    )
    lo_us, hi_us = lo_min * MINUTE_US, hi_min * MINUTE_US
    lo_from_us = lo_us - sli.threshold_s * 1_000_000
    rows = store.read(
        sql,
        tenant,
        {
            "from": list(sli.from_types),
            "to": list(sli.to_types),
            "stop": list(sli.stop_types),
            "types": sorted({*sli.from_types, *sli.to_types, *sli.stop_types}),
            "lo_from": _dt(lo_from_us),
            "lo_from_us": lo_from_us,
            "hi": _dt(hi_us),
            "thr": sli.threshold_s * 1_000_000,
            "after_from": int(sli.after_from),
            "lo_us": lo_us,
            "hi_us": hi_us,
            "limit": limit,
            **{f"dim_{d}": v for d, v in labels.items() if d in ("channel", "warehouse", "carrier")},
        },
    )
    return [r["journey_id"] for r in rows], (int(rows[0]["total"]) if rows else 0)
