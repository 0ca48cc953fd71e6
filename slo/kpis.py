"""Business KPIs over the journeys the correlator keeps, by channel, warehouse and carrier, over time.

Read from the `journeys` rows (one per order, with received/departed/delivered times and the on-time
verdicts `correlator/state.py` computed from the promised dates): one grouped query with GROUPING
SETS gives the totals, the series per day or week and the breakdowns. Perfect order = delivered
on time, no damage reported (`damaged` on a delivery or exception), documents not reported wrong
(`documents_ok: false`), no shipment exception, and complete: where shipments tell their `lines`,
they cover every line's ordered quantity (orders whose shipments say nothing of lines count as
complete, "as far as the data tells"). Inventory accuracy = share of warehouse × SKU pairs whose
newest ERP and WMS on-hand agree.

Targets default to WERC DC Measures best-in-class values and can be changed per tenant.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from slo import detections
from tower.api import rfc3339
from tower.store import Store

WERC = "WERC DC Measures, best-in-class"
DEFAULT_TARGETS: dict[str, tuple[float, str]] = {
    "on_time_shipment": (0.997, WERC),
    "perfect_order": (0.985, WERC),
    "order_picking_accuracy": (0.999, WERC),
}
KPI_META: dict[str, tuple[str, str, str]] = {  # name → label, unit, direction
    "orders": ("Orders", "count", "higher"),
    "order_cycle_time_p50": ("Order cycle time, median", "hours", "lower"),
    "order_cycle_time_p90": ("Order cycle time, 90th percentile", "hours", "lower"),
    "internal_cycle_time_p50": ("Internal order cycle time (to ship), median", "hours", "lower"),
    "on_time_shipment": ("On-time shipment", "ratio", "higher"),
    "on_time_delivery": ("On-time delivery", "ratio", "higher"),
    "perfect_order": ("Perfect order rate", "ratio", "higher"),
    "inventory_accuracy": ("Inventory accuracy (ERP = WMS)", "ratio", "higher"),
    "exception_volume": ("Exceptions", "count", "lower"),
}
CYCLE_BUCKETS = (12, 24, 48, 72, 96, 120, 168, 240)
DIMS = ("channel", "warehouse", "carrier")

KPI_SQL = """
WITH j AS (
    SELECT journey_id, argMax(alive, version) AS alive, argMax(status, version) AS status,
           argMax(channel, version) AS channel, argMax(warehouse, version) AS warehouse,
           argMax(carrier, version) AS carrier, argMax(started_at, version) AS first_at,
           argMax(received_at, version) AS received_at, argMax(departed_at, version) AS departed_at,
           argMax(delivered_at, version) AS delivered_at, argMax(on_time_ship, version) AS on_time_ship,
           argMax(on_time_delivery, version) AS on_time_delivery, argMax(anomaly_count, version) AS anomalies
    FROM {db}.journeys
    WHERE tenant = {tenant:String} AND started_at >= {start:DateTime64(6, 'UTC')}
      AND started_at < {end:DateTime64(6, 'UTC')}
    GROUP BY journey_id
),
flawed AS (
    SELECT DISTINCT journey_id FROM {db}.journey_events
    WHERE tenant = {tenant:String} AND type IN ('shipment.delivered', 'shipment.exception', 'order.invoiced',
                                               'sync.acknowledged')
      AND (type = 'shipment.exception' OR (source, event_id) IN (
          SELECT source, id FROM {db}.events
          WHERE tenant = {tenant:String} AND type IN ('shipment.delivered', 'order.invoiced')
            AND (position(payload, 'damaged') > 0 OR position(payload, 'documents_ok') > 0)
            AND (JSONExtractBool(payload, 'data', 'facts', 'damaged')
                 OR JSONExtractString(payload, 'data', 'facts', 'documents_ok') = 'false')))
),
incomplete AS (
    -- shipments that tell their lines and do not cover every ordered line's quantity
    SELECT journey_id FROM (
        SELECT m.journey_id AS journey_id,
               argMinIf(e.lines, e.at, m.type = 'order.received') AS ordered_lines,
               argMinIf(e.qty, e.at, m.type = 'order.received') AS ordered_qty,
               sumMapIf(e.lines, e.qty, m.type = 'shipment.manifested') AS shipped,
               countIf(m.type = 'shipment.manifested') AS shipments
        FROM {db}.journey_events AS m
        INNER JOIN (
            SELECT source, id, time AS at,
                   arrayMap(x -> JSONExtractRaw(x, 'line'), JSONExtractArrayRaw(payload, 'data', 'facts', 'lines'))
                       AS lines,
                   arrayMap(x -> JSONExtractFloat(x, 'quantity'),
                            JSONExtractArrayRaw(payload, 'data', 'facts', 'lines')) AS qty
            FROM {db}.events
            WHERE tenant = {tenant:String} AND type IN ('order.received', 'shipment.manifested')
              AND time >= {start:DateTime64(6, 'UTC')} AND position(payload, '"lines"') > 0
        ) AS e ON m.source = e.source AND m.event_id = e.id
        WHERE m.tenant = {tenant:String} AND m.type IN ('order.received', 'shipment.manifested')
        GROUP BY m.journey_id
    )
    WHERE shipments > 0 AND notEmpty(ordered_lines)
      AND NOT arrayAll((l, q) -> arrayElement(shipped.2, indexOf(shipped.1, l)) >= q, ordered_lines, ordered_qty)
)
SELECT
    if({bucket:String} = 'week', toStartOfWeek(first_at, 1), toStartOfDay(first_at)) AS t,
    channel, warehouse, carrier,
    grouping(t, channel, warehouse, carrier) AS g,
    count() AS orders,
    quantileIf(0.5)(dateDiff('second', received_at, delivered_at) / 3600,
                    received_at IS NOT NULL AND delivered_at IS NOT NULL) AS cycle_p50,
    quantileIf(0.9)(dateDiff('second', received_at, delivered_at) / 3600,
                    received_at IS NOT NULL AND delivered_at IS NOT NULL) AS cycle_p90,
    quantileIf(0.5)(dateDiff('second', received_at, departed_at) / 3600,
                    received_at IS NOT NULL AND departed_at IS NOT NULL) AS internal_p50,
    countIf(on_time_ship = 1) AS ots_n, countIf(on_time_ship IS NOT NULL) AS ots_d,
    countIf(on_time_delivery = 1) AS otd_n, countIf(on_time_delivery IS NOT NULL) AS otd_d,
    countIf(status = 'delivered' AND on_time_delivery = 1 AND journey_id NOT IN (SELECT journey_id FROM flawed)
            AND journey_id NOT IN (SELECT journey_id FROM incomplete)) AS perfect_n,
    countIf(status = 'delivered' AND on_time_delivery IS NOT NULL) AS perfect_d,
    countIf(anomalies > 0 OR status = 'exception') AS exceptions
FROM j
WHERE alive = 1 AND ({channel:String} = '' OR channel = {channel:String})
  AND ({warehouse:String} = '' OR warehouse = {warehouse:String})
  AND ({carrier:String} = '' OR carrier = {carrier:String})
GROUP BY GROUPING SETS ((), (t), (channel), (warehouse), (carrier))
ORDER BY t
"""

HISTOGRAM_SQL = """
SELECT countIf(h <= 12) AS b12, countIf(h <= 24) AS b24, countIf(h <= 48) AS b48, countIf(h <= 72) AS b72,
       countIf(h <= 96) AS b96, countIf(h <= 120) AS b120, countIf(h <= 168) AS b168, countIf(h <= 240) AS b240,
       count() AS total
FROM (
    SELECT dateDiff('second', argMax(received_at, version), argMax(delivered_at, version)) / 3600 AS h,
           argMax(alive, version) AS alive, argMax(channel, version) AS channel,
           argMax(warehouse, version) AS warehouse, argMax(carrier, version) AS carrier
    FROM {db}.journeys
    WHERE tenant = {tenant:String} AND started_at >= {start:DateTime64(6, 'UTC')}
      AND started_at < {end:DateTime64(6, 'UTC')}
    GROUP BY journey_id
)
WHERE alive = 1 AND h IS NOT NULL AND ({channel:String} = '' OR channel = {channel:String})
  AND ({warehouse:String} = '' OR warehouse = {warehouse:String})
  AND ({carrier:String} = '' OR carrier = {carrier:String})
"""

EXCEPTIONS_SQL = """
SELECT kind, count() AS n FROM (
    SELECT journey_id, argMax(alive, version) AS alive, argMax(anomaly_kinds, version) AS kinds,
           argMax(status, version) AS status, argMax(channel, version) AS channel,
           argMax(warehouse, version) AS warehouse, argMax(carrier, version) AS carrier
    FROM {db}.journeys
    WHERE tenant = {tenant:String} AND started_at >= {start:DateTime64(6, 'UTC')}
      AND started_at < {end:DateTime64(6, 'UTC')}
    GROUP BY journey_id
)
ARRAY JOIN arrayConcat(kinds, if(status = 'exception', ['shipment_exception'], [])) AS kind
WHERE alive = 1 AND ({channel:String} = '' OR channel = {channel:String})
  AND ({warehouse:String} = '' OR warehouse = {warehouse:String})
  AND ({carrier:String} = '' OR carrier = {carrier:String})
GROUP BY kind ORDER BY n DESC
"""


def _ratio(n: int, d: int) -> float | None:
    return n / d if d else None


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else round(value, 3)  # NaN when nothing to take a quantile of


def _values(r: dict[str, Any]) -> dict[str, tuple[float | None, int | None, int | None]]:
    return {
        "orders": (r["orders"], None, None),
        "order_cycle_time_p50": (_num(r["cycle_p50"]), None, None),
        "order_cycle_time_p90": (_num(r["cycle_p90"]), None, None),
        "internal_cycle_time_p50": (_num(r["internal_p50"]), None, None),
        "on_time_shipment": (_ratio(r["ots_n"], r["ots_d"]), r["ots_n"], r["ots_d"]),
        "on_time_delivery": (_ratio(r["otd_n"], r["otd_d"]), r["otd_n"], r["otd_d"]),
        "perfect_order": (_ratio(r["perfect_n"], r["perfect_d"]), r["perfect_n"], r["perfect_d"]),
        "exception_volume": (r["exceptions"], None, None),
    }


def targets(store: Store, tenant: str) -> dict[str, dict[str, Any]]:
    out = {name: {"value": v, "source": src} for name, (v, src) in DEFAULT_TARGETS.items()}
    for r in store.read(
        "SELECT name, argMax(value, version) AS value, argMax(source, version) AS source FROM {db}.kpi_targets "
        "WHERE tenant = {tenant:String} GROUP BY name",
        tenant,
    ):
        out[r["name"]] = {"value": r["value"], "source": r["source"]}
    return out


def set_targets(store: Store, tenant: str, values: dict[str, float]) -> None:
    version = time.time_ns()
    store.insert_rows(
        "kpi_targets",
        [[tenant, name, version, float(v), "user"] for name, v in values.items()],
        ["tenant", "name", "version", "value", "source"],
        role="slo",
    )


def kpis(
    store: Store,
    tenant: str,
    start: datetime,
    end: datetime,
    now: datetime,
    filters: dict[str, str | None],
    bucket: str = "day",
) -> dict[str, Any]:
    params = {"start": start, "end": end, "bucket": bucket, **{d: filters.get(d) or "" for d in DIMS}}
    rows = store.read(KPI_SQL, tenant, params)
    # grouping() sets a bit per column NOT grouped by, in argument order (t, channel, warehouse, carrier)
    totals = next((r for r in rows if r["g"] == 0b1111), None)
    by_time = [r for r in rows if r["g"] == 0b0111]
    breakdowns: dict[str, list[dict[str, Any]]] = {d: [] for d in DIMS}
    for r in rows:
        for i, dim in enumerate(DIMS):
            if r["g"] == 0b1111 ^ (1 << (2 - i)):
                item = {"key": r[dim] or None}
                item.update({name: value for name, (value, _, _) in _values(r).items()})
                breakdowns[dim].append(item)
    for items in breakdowns.values():
        items.sort(key=lambda i: -(i["orders"] or 0))
    accuracy_items = detections.inventory(store, tenant, now, filters.get("warehouse"), open_only=False)
    accurate = sum(1 for i in accuracy_items if not (i["difference"] and i["confirmed"]))
    goals = targets(store, tenant)
    values: dict[str, tuple[float | None, int | None, int | None]] = (
        _values(totals) if totals else {name: (None, None, None) for name in KPI_META if name != "inventory_accuracy"}
    )
    values["inventory_accuracy"] = (_ratio(accurate, len(accuracy_items)), accurate, len(accuracy_items))
    if totals is None:
        values["orders"] = (0, None, None)
    out = []
    for name, (label, unit, direction) in KPI_META.items():
        value, numerator, denominator = values[name]
        goal = goals.get(name)
        series = []
        if name != "inventory_accuracy":
            series = [{"t": rfc3339(r["t"]), "value": _values(r)[name][0]} for r in by_time]
        out.append(
            {
                "name": name,
                "label": label,
                "value": value,
                "unit": unit,
                "direction": direction,
                "target": goal["value"] if goal else None,
                "target_source": goal["source"] if goal else None,
                "numerator": numerator,
                "denominator": denominator,
                "series": series,
            }
        )
    hist = store.read(HISTOGRAM_SQL, tenant, params)[0]
    buckets = [{"le": le, "count": hist[f"b{le}"]} for le in CYCLE_BUCKETS]
    buckets.append({"le": None, "count": hist["total"]})
    exceptions = store.read(EXCEPTIONS_SQL, tenant, params)
    return {
        "from": rfc3339(start),
        "to": rfc3339(end),
        "filters": {d: filters.get(d) for d in DIMS},
        "bucket": bucket,
        "kpis": out,
        "breakdowns": breakdowns,
        "cycle_time_hours": {"buckets": buckets},
        "exceptions_by_type": [{"type": r["kind"], "count": r["n"]} for r in exceptions],
        "targets": goals,
    }
