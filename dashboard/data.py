"""What the pages show, fetched from the API and shaped into tables and Plotly figures.

Plain functions of a `Reader` (anything with `get` and `has`): pages pass the cached Streamlit
reader, tests pass an `Api` on a real server. Every list is paged and every count aggregated by the
server; nothing here pulls a whole table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.client import Api, ApiProblem, Reader

# The fulfilment path, in order: the funnel's steps and the heatmap's rows.
PATH_STAGES = (
    "received",
    "accepted",
    "allocated",
    "released",
    "picked",
    "packed",
    "manifested",
    "in_transit",
    "out_for_delivery",
    "delivered",
)
NONE_LABEL = "(none)"
LATE = "#d62728"
ON_TIME = "#2ca02c"
PAGE = 50


class NoData(Exception):
    """The server answered, but has nothing to show yet."""


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def server_now(reader: Reader) -> datetime:
    """'Now' as the server evaluates it: a tower replaying simulated time lives in its own month, and
    date ranges, open segments and silences must be counted from its clock, not ours."""
    try:
        state = reader.get("/v1/admin/clock")
    except ApiProblem:  # a server without the clock endpoint evaluates on the system clock
        return datetime.now(UTC)
    return parse_time(state.get("evaluated_to") or state.get("now")) or datetime.now(UTC)


def _layout(fig: go.Figure, title: str | None = None, height: int = 320) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10})
    return fig


# --------------------------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """The executive page's date range and dimensions, as the API's query parameters."""

    start: date | None = None
    end: date | None = None  # inclusive: the whole last day
    channel: str | None = None
    warehouse: str | None = None
    carrier: str | None = None

    def params(self) -> dict[str, str | None]:
        return {
            "from": f"{self.start.isoformat()}T00:00:00Z" if self.start else None,
            "to": f"{(self.end + timedelta(days=1)).isoformat()}T00:00:00Z" if self.end else None,
            "channel": self.channel,
            "warehouse": self.warehouse,
            "carrier": self.carrier,
        }


def summary(
    reader: Reader, by: str, status: str = "all", filters: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """`GET /v1/journeys/summary`: journey counts grouped on the server."""
    return list(reader.get("/v1/journeys/summary", {"by": by, "status": status, **(filters or {})})["items"])


DIMENSIONS = ("channel", "warehouse", "carrier")


@dataclass
class FilterOptions:
    values: dict[str, list[str]]  # per dimension, most journeys first
    journeys: int  # in the tenant, all told


def filter_options(reader: Reader) -> FilterOptions:
    """The values each filter can take and how many journeys there are, from one summary query: the
    combinations of channel, warehouse and carrier, counted by the server."""
    items = summary(reader, ",".join(DIMENSIONS))
    counts: dict[str, dict[str, int]] = {d: {} for d in DIMENSIONS}
    for item in items:
        for d in DIMENSIONS:
            if item[d]:
                counts[d][item[d]] = counts[d].get(item[d], 0) + item["count"]
    return FilterOptions({d: _most_first(c) for d, c in counts.items()}, sum(i["count"] for i in items))


def _most_first(counts: dict[str, int]) -> list[str]:
    return sorted(counts, key=lambda v: (-counts[v], v))


# --------------------------------------------------------------------------------------------- executive


@dataclass
class KpiTile:
    name: str
    label: str
    value: str
    target: str | None
    delta: str | None  # against the target, as st.metric shows it
    delta_color: str  # "normal" when higher is better, "inverse" when lower is
    met: bool | None
    series: list[float]
    help: str


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "hours":
        return f"{value:.1f} h"
    return f"{value:,.0f}"


def _delta(value: float | None, target: float | None, unit: str) -> str | None:
    if value is None or target is None:
        return None
    diff = value - target
    if unit == "ratio":
        return f"{diff * 100:+.1f} pts vs target"
    if unit == "hours":
        return f"{diff:+.1f} h vs target"
    return f"{diff:+,.0f} vs target"


def kpi_tiles(report: dict[str, Any]) -> list[KpiTile]:
    tiles = []
    for kpi in report.get("kpis", []):
        value, target, unit = kpi.get("value"), kpi.get("target"), kpi.get("unit", "count")
        higher = kpi.get("direction", "higher") == "higher"
        met = None
        if value is not None and target is not None:
            met = value >= target if higher else value <= target
        source = kpi.get("target_source")
        basis = ""
        if kpi.get("numerator") is not None and kpi.get("denominator") is not None:
            basis = f" ({kpi['numerator']:,} of {kpi['denominator']:,})"
        tiles.append(
            KpiTile(
                name=kpi["name"],
                label=kpi.get("label") or kpi["name"].replace("_", " "),
                value=format_value(value, unit),
                target=format_value(target, unit) if target is not None else None,
                delta=_delta(value, target, unit),
                delta_color="normal" if higher else "inverse",
                met=met,
                series=[p["value"] for p in kpi.get("series", []) if p.get("value") is not None],
                help=(
                    f"{kpi.get('label') or kpi['name']}{basis}; target "
                    + (f"{format_value(target, unit)} ({source or 'set by you'})" if target is not None else "not set")
                ),
            )
        )
    return tiles


def kpi_report(reader: Reader, filters: Filters) -> dict[str, Any]:
    """`GET /v1/kpis` for the filters, daily buckets."""
    reader.require("/v1/kpis")
    report: dict[str, Any] = reader.get("/v1/kpis", {**filters.params(), "bucket": "day"})
    return report


def cycle_time_figure(report: dict[str, Any]) -> go.Figure:
    """Orders per cycle-time band. The report's buckets are cumulative, as in Prometheus histograms:
    `{"le": 48, "count": n}` counts orders done within 48 h, and `le: null` counts them all."""
    buckets = report.get("cycle_time_hours", {}).get("buckets", [])
    if not any(b.get("count") for b in buckets):
        raise NoData("no delivered orders in this range yet, so no cycle times")
    labels, counts = [], []
    lower, below = 0.0, 0
    for b in buckets:
        le = b.get("le")
        upper = float(le) if le is not None else None
        labels.append(f"{lower:g}–{upper:g} h" if upper is not None else f"> {lower:g} h")
        counts.append(b["count"] - below)
        below = b["count"]
        lower = upper if upper is not None else lower
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color="#1f77b4", text=counts))
    fig.update_xaxes(title="order cycle time (received → last delivery)", type="category")
    fig.update_yaxes(title="orders")
    return _layout(fig)


def on_time_figure(report: dict[str, Any], dimension: str) -> go.Figure:
    metrics = ("on_time_shipment", "on_time_delivery")
    rows = [r for r in report.get("breakdowns", {}).get(dimension, []) if any(r.get(m) is not None for m in metrics)]
    if not rows:
        raise NoData(f"no shipped orders by {dimension} in this range yet")
    keys = [r.get("key") or NONE_LABEL for r in rows]
    fig = go.Figure()
    for metric, name, color in (
        ("on_time_shipment", "shipped on time", "#1f77b4"),
        ("on_time_delivery", "delivered on time", "#ff7f0e"),
    ):
        values = [r.get(metric) for r in rows]
        fig.add_bar(
            x=keys,
            y=values,
            name=name,
            marker_color=color,
            text=[f"{v:.0%}" if v is not None else "" for v in values],
            customdata=[r.get("orders") for r in rows],
            hovertemplate="%{x}: %{y:.1%} of %{customdata} orders<extra>" + name + "</extra>",
        )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.2})
    return _layout(fig)


def kpi_trend_figure(report: dict[str, Any], name: str) -> go.Figure:
    kpi = next((k for k in report.get("kpis", []) if k["name"] == name), None)
    points = [p for p in (kpi or {}).get("series", []) if p.get("value") is not None]
    if kpi is None or not points:
        raise NoData(f"no {name.replace('_', ' ')} figures in this range yet")
    fig = go.Figure(
        go.Scatter(x=[p["t"] for p in points], y=[p["value"] for p in points], mode="lines+markers", name="actual")
    )
    if kpi.get("target") is not None:
        fig.add_hline(y=kpi["target"], line_dash="dash", line_color=LATE, annotation_text=f"target {kpi['target']:.0%}")
    if kpi.get("unit") == "ratio":
        values = [p["value"] for p in points] + ([kpi["target"]] if kpi.get("target") is not None else [])
        low = max(0.0, min(values) - 0.02)
        fig.update_yaxes(tickformat=".1%", range=[low, min(1.0, max(values)) + 0.005])
    return _layout(fig)


def exceptions_figure(report: dict[str, Any]) -> go.Figure:
    rows = sorted(report.get("exceptions_by_type", []), key=lambda r: r["count"])
    if not rows:
        raise NoData("no exceptions in this range")
    fig = go.Figure(go.Bar(x=[r["count"] for r in rows], y=[r["type"] for r in rows], orientation="h"))
    fig.update_xaxes(title="exceptions", tickformat=",d", dtick=max(1, -(-max(r["count"] for r in rows) // 5)))
    return _layout(fig, height=max(240, 40 * len(rows)))


def funnel(reader: Reader, filters: Filters) -> tuple[pd.DataFrame, go.Figure]:
    """Orders that reached each stage of the path (a delivered order passed every stage before it)."""
    counts = {item["stage"]: item["count"] for item in summary(reader, "stage", filters=filters.params())}
    if not counts:
        raise NoData("no orders match these filters")
    rank = {stage: i for i, stage in enumerate(PATH_STAGES)}
    reached = [sum(n for s, n in counts.items() if rank.get(s, -1) >= i) for i in range(len(PATH_STAGES))]
    frame = pd.DataFrame({"stage": PATH_STAGES, "reached": reached, "now at": [counts.get(s, 0) for s in PATH_STAGES]})
    fig = go.Figure(go.Funnel(y=list(PATH_STAGES), x=reached, textinfo="value+percent initial"))
    off_path = {s: n for s, n in counts.items() if s not in rank}
    title = ", ".join(f"{n:,} {s}" for s, n in sorted(off_path.items())) if off_path else None
    return frame, _layout(fig, f"not on the path: {title}" if title else None, height=420)


# --------------------------------------------------------------------------------------------- operations


def slos(reader: Reader) -> list[dict[str, Any]]:
    reader.require("/v1/slos")
    items = list(reader.get("/v1/slos")["items"])
    if not items:
        raise NoData("no SLOs are defined on this server")
    return items


def slo_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per SLO: attainment, budget remaining, and the worst slice's burn rate per window."""
    rows = []
    for slo in items:
        burns: dict[str, float] = {}
        for s in slo.get("slices", []):
            for window, rate in (s.get("burn_rates") or {}).items():
                if rate is not None:
                    burns[window] = max(burns.get(window, 0.0), rate)
        rows.append(
            {
                "SLO": slo.get("display_name") or slo["name"],
                "status": slo.get("status"),
                "objective": slo.get("objective"),
                "attainment": slo.get("attainment"),
                "budget remaining": slo.get("budget_remaining"),
                **{f"burn {w}": burns.get(w) for w in ("5m", "1h", "6h", "3d")},
                "window": slo.get("window"),
                "slices": len(slo.get("slices", [])),
            }
        )
    return pd.DataFrame(rows)


def slice_frame(slo: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for s in slo.get("slices", []):
        labels = ", ".join(f"{k}={v}" for k, v in sorted((s.get("labels") or {}).items())) or "all"
        rows.append(
            {
                "slice": labels,
                "status": s.get("status"),
                "good": s.get("good"),
                "bad": s.get("bad"),
                "attainment": s.get("attainment"),
                "budget remaining": s.get("budget_remaining"),
                **{f"burn {w}": r for w, r in (s.get("burn_rates") or {}).items()},
            }
        )
    return pd.DataFrame(rows)


def budget_figure(items: list[dict[str, Any]]) -> go.Figure:
    names = [s.get("display_name") or s["name"] for s in items]
    budgets = [s.get("budget_remaining") or 0.0 for s in items]
    colors = [
        LATE if s.get("status") == "page" or b < 0 else "#ff7f0e" if s.get("status") == "ticket" else ON_TIME
        for s, b in zip(items, budgets, strict=True)
    ]
    text = [f"{b:.0%}" for b in budgets]
    shown = [max(-1.0, min(1.0, b)) for b in budgets]  # an overspent budget is drawn at -100%, labelled true
    fig = go.Figure(go.Bar(x=shown, y=names, orientation="h", marker_color=colors, text=text))
    fig.update_xaxes(tickformat=".0%", title="error budget remaining", range=[-1 if min(shown) < 0 else 0, 1])
    return _layout(fig, height=max(200, 36 * len(items)))


def least_budget_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SLOs by error budget left, least first; those without a figure yet last."""

    def left(slo: dict[str, Any]) -> float:
        budget = slo.get("budget_remaining")
        return float(budget) if budget is not None else float("inf")

    return sorted(items, key=left)


def budget_series_figure(reader: Reader, name: str, label: str | None = None) -> go.Figure:
    """An SLO's error budget left over time (`GET /v1/slos/{name}/series`), whole SLO, hourly."""
    points = reader.get(f"/v1/slos/{name}/series", {"step": "1h"})["items"]
    points = [p for p in points if p.get("budget_remaining") is not None]
    if not points:
        raise NoData(f"no evaluations of {label or name} yet")
    fig = go.Figure(
        go.Scatter(
            x=[p["t"] for p in points],
            y=[p["budget_remaining"] for p in points],
            mode="lines",
            line_shape="hv",
            name="budget left",
        )
    )
    fig.add_hline(y=0, line_dash="dash", line_color=LATE, annotation_text="budget spent")
    fig.update_yaxes(tickformat=".0%", title="error budget left")
    return _layout(fig, height=260)


def active_alerts(reader: Reader) -> list[dict[str, Any]]:
    reader.require("/v1/alerts")
    firing = reader.get("/v1/alerts", {"state": "firing"})["items"]
    pending = reader.get("/v1/alerts", {"state": "pending"})["items"]
    return sorted([*firing, *pending], key=lambda a: (a.get("state") != "firing", a.get("severity") != "page"))


def alert_line(alert: dict[str, Any]) -> str:
    labels = alert.get("labels", {})
    scope = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "slo", "severity"))
    summary_text = (alert.get("annotations") or {}).get("summary") or labels.get("alertname", alert["id"])
    return f"{alert.get('severity', '').upper()} · {alert.get('state')} · {summary_text}" + (
        f" ({scope})" if scope else ""
    )


def alerts_frame(alerts: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "severity": a.get("severity"),
                "state": a.get("state"),
                "alert": (a.get("annotations") or {}).get("summary") or a.get("labels", {}).get("alertname"),
                "since": parse_time(a.get("starts_at")),
                "orders": a.get("journeys_total", len(a.get("journeys") or [])),
                "acknowledged by": a.get("acknowledged_by"),
                "silenced": bool(a.get("silenced_by")),
            }
            for a in alerts
        ]
    )


def acknowledge(api: Api, alert_id: str, by: str, comment: str = "") -> Any:
    return api.post(f"/v1/alerts/{alert_id}/ack", {"by": by, "comment": comment})


def silence(api: Api, alert: dict[str, Any], hours: float, by: str, comment: str = "") -> Any:
    """Silence alerts with this alert's labels (all of them) for `hours`, counted from now or from the
    alert's last update, whichever is later (a server replaying simulated time may be ahead of us)."""
    seen = parse_time(alert.get("updated_at")) or datetime.now(UTC)
    ends = max(datetime.now(UTC), seen) + timedelta(hours=hours)
    matchers = [{"name": k, "value": v, "is_regex": False} for k, v in sorted(alert.get("labels", {}).items())]
    return api.post(
        "/v1/silences",
        {
            "matchers": matchers,
            "ends_at": ends.isoformat().replace("+00:00", "Z"),
            "created_by": by,
            "comment": comment,
        },
    )


@dataclass
class Heatmap:
    frame: pd.DataFrame  # stages × warehouses
    figure: go.Figure
    cells: list[tuple[str, str | None, int]]  # (stage, warehouse, count), most first
    total: int


def stuck_heatmap(reader: Reader, filters: Mapping[str, Any] | None = None) -> Heatmap:
    items = summary(reader, "stage,warehouse", status="stuck", filters=filters)
    if not items:
        raise NoData("no order is waiting past its stage's threshold")
    cells = [(i["stage"], i["warehouse"], int(i["count"])) for i in items]
    stages = [s for s in PATH_STAGES if any(c[0] == s for c in cells)]
    stages += sorted({c[0] for c in cells} - set(stages))
    warehouses = sorted({c[1] or NONE_LABEL for c in cells})
    frame = pd.DataFrame(0, index=stages, columns=warehouses)
    for stage, warehouse, n in cells:
        frame.loc[stage, warehouse or NONE_LABEL] = n
    fig = go.Figure(
        go.Heatmap(
            z=frame.values,
            x=warehouses,
            y=stages,
            colorscale="Reds",
            text=frame.values,
            texttemplate="%{text}",
            hovertemplate="%{z} orders stuck at %{y} in %{x}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="stage")
    fig.update_xaxes(title="warehouse", side="top")
    return Heatmap(frame, _layout(fig, height=max(260, 50 * len(stages) + 80)), cells, sum(c[2] for c in cells))


def journeys_page(reader: Reader, cursor: str | None = None, **filters: Any) -> tuple[pd.DataFrame, int, str | None]:
    """One page of `GET /v1/journeys` as a table with a link to each order's trace."""
    body = reader.get("/v1/journeys", {"limit": PAGE, "cursor": cursor, **filters})
    frame = pd.DataFrame(
        [
            {
                "order": f"order_trace?journey={item['id']}",
                "stage": item["stage"],
                "status": item["status"],
                "since": parse_time(item["stage_at"]),
                "warehouse": item.get("warehouse"),
                "channel": item.get("channel"),
                "carrier": item.get("carrier"),
                "anomalies": ", ".join(item.get("anomalies") or []),
            }
            for item in body["items"]
        ]
    )
    return frame, int(body["total"]), body.get("next")


def journey_links(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"order": [f"order_trace?journey={i}" for i in ids]})


def inventory_mismatches(reader: Reader) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Open ERP/WMS mismatches (first page) and their count by warehouse."""
    reader.require("/v1/reconciliation/inventory")
    body = reader.get("/v1/reconciliation/inventory", {"open": "true", "limit": 200})
    if not body["items"]:
        raise NoData("ERP and WMS agree on every SKU they both reported")
    items = pd.DataFrame(
        [
            {
                "warehouse": i.get("warehouse") or NONE_LABEL,
                "sku": i.get("sku"),
                "ERP on hand": (i.get("erp") or {}).get("on_hand"),
                "WMS on hand": (i.get("wms") or {}).get("on_hand"),
                "difference": i.get("difference"),
                "open for (h)": round((i.get("open_seconds") or 0) / 3600, 1),
            }
            for i in body["items"]
        ]
    )
    by_warehouse = (
        items.groupby("warehouse")
        .agg(skus=("sku", "count"), units=("difference", lambda d: d.abs().sum()))
        .reset_index()
        .sort_values("skus", ascending=False)
    )
    return items, by_warehouse, int(body.get("total", len(items)))


def inventory_figure(by_warehouse: pd.DataFrame) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=by_warehouse["skus"],
            y=by_warehouse["warehouse"],
            orientation="h",
            text=[
                f"{n} SKUs, {u:,.0f} units" for n, u in zip(by_warehouse["skus"], by_warehouse["units"], strict=True)
            ],
            marker_color="#ff7f0e",
        )
    )
    fig.update_xaxes(
        title="SKUs where ERP and WMS disagree", tickformat=",d", dtick=max(1, -(-int(by_warehouse["skus"].max()) // 5))
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=max(160, 40 * len(by_warehouse) + 80))


def missing_tracking(reader: Reader) -> tuple[pd.DataFrame, int]:
    reader.require("/v1/reconciliation/tracking")
    body = reader.get("/v1/reconciliation/tracking", {"limit": PAGE})
    if not body["items"]:
        raise NoData("every manifested shipment has had a carrier scan")
    frame = pd.DataFrame(
        [
            {
                "order": f"order_trace?journey={i['journey_id']}",
                "tracking": i.get("tracking"),
                "carrier": i.get("carrier"),
                "warehouse": i.get("warehouse"),
                "manifested": parse_time(i.get("manifested_at")),
                "waiting (h)": round((i.get("waiting_seconds") or 0) / 3600, 1),
            }
            for i in body["items"]
        ]
    )
    return frame, int(body.get("total", len(frame)))


def integration_failures(reader: Reader, start: datetime | None = None) -> tuple[pd.DataFrame, go.Figure]:
    reader.require("/v1/integration/failures")
    params = {"from": start.isoformat().replace("+00:00", "Z")} if start else {}
    items = reader.get("/v1/integration/failures", params)["items"]
    if not items:
        raise NoData("no sync failures, retries or dead-lettered messages reported")
    frame = pd.DataFrame(items)
    for column in ("failures", "retries", "dead_lettered"):
        if column not in frame:
            frame[column] = 0
    by_system = frame.groupby("system")[["failures", "retries", "dead_lettered"]].sum().reset_index()
    fig = go.Figure()
    for column, color in (("failures", LATE), ("retries", "#ff7f0e"), ("dead_lettered", "#9467bd")):
        fig.add_bar(x=by_system["system"], y=by_system[column], name=column.replace("_", " "), marker_color=color)
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.2})
    return frame, _layout(fig)


def dead_letters(reader: Reader, cursor: str | None = None) -> tuple[list[dict[str, Any]], int, str | None]:
    body = reader.get("/v1/dead-letters", {"limit": 20, "cursor": cursor})
    return list(body["items"]), int(body["total"]), body.get("next")


def dead_letter_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": i["id"],
                "received": parse_time(i["received_at"]),
                "endpoint": i["endpoint"],
                "event": i.get("event_id"),
                "field": i.get("field"),
                "reason": i.get("reason"),
                "replayed": parse_time(i.get("replayed_at")),
            }
            for i in items
        ]
    )


def replay(api: Api, letter_id: str) -> Any:
    return api.post(f"/v1/dead-letters/{letter_id}/replay")


# --------------------------------------------------------------------------------------------- order trace


@dataclass
class Match:
    journey_id: str
    object_type: str
    object_id: str
    matched: str  # the namespace(s) the identifier was found in
    ids: dict[str, str] = field(default_factory=dict)


def find(reader: Reader, q: str) -> list[Match]:
    """Journeys of every object any system knows by `q`, one entry per journey. NoData when `q` names
    only objects outside every journey (a product, a customer)."""
    found: dict[str, Match] = {}
    outside: list[str] = []
    for m in reader.get("/v1/lookup", {"q": q.strip()})["matches"]:
        namespaces = ", ".join(sorted({x["namespace"] for x in m.get("matched", [])}))
        if not m["journeys"]:
            outside.append(f"{m['object']['type']} {m['object']['id']}")
        for journey_id in m["journeys"]:
            found.setdefault(
                journey_id, Match(journey_id, m["object"]["type"], m["object"]["id"], namespaces, m["object"]["ids"])
            )
    if not found and outside:
        raise NoData(f"`{q}` names {', '.join(outside)}, which belongs to no order's journey")
    return list(found.values())


def journey(reader: Reader, journey_id: str) -> dict[str, Any]:
    return dict(reader.get(f"/v1/journeys/{journey_id}"))


def _labels(j: dict[str, Any]) -> dict[str, str]:
    """A readable name per object id: its tracking number or first identifier."""
    labels = {}
    for obj in j.get("objects", []):
        ids = obj.get("ids", {})
        tracking = next((v for k, v in sorted(ids.items()) if k.startswith("tracking")), None)
        labels[obj["id"]] = tracking or next(iter(sorted(ids.values())), obj["id"])
    return labels


def segments(j: dict[str, Any], now: datetime | None = None) -> pd.DataFrame:
    """Time spent between consecutive milestones, per lane (the order, then each shipment), against the
    threshold of the stage being waited in. An open journey's last stage runs until now."""
    thresholds: dict[str, float] = j.get("stage_thresholds") or {}
    labels = _labels(j)
    order_level: dict[str, dict[str, Any]] = {}
    shipments: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in j.get("milestones", []):
        if m["type"].startswith("shipment."):
            shipments[m.get("scope") or ""].append(m)
        elif m["type"] not in order_level or m["first"] < order_level[m["type"]]["first"]:
            order_level[m["type"]] = m
    lanes: list[tuple[str, list[dict[str, Any]]]] = [("order", sorted(order_level.values(), key=lambda m: m["first"]))]
    on_path = [m for m in lanes[0][1] if m["stage"] in PATH_STAGES]
    for scope, ms in sorted(shipments.items()):
        ms = sorted(ms, key=lambda m: m["first"])
        before = [m for m in on_path if m["first"] <= ms[0]["first"]]
        lanes.append((f"shipment {labels.get(scope, scope) or '?'}", before[-1:] + ms))
    now = now or datetime.now(UTC)
    rows = []
    for lane, ms in lanes:
        path = [m for m in ms if m["stage"] in PATH_STAGES]
        for i, a in enumerate(path):
            b = path[i + 1] if i + 1 < len(path) else None
            start = parse_time(a["first"])
            if b is None and (j.get("status") != "open" or a["stage"] != j.get("stage")):
                continue
            end = parse_time(b["first"]) if b else now
            assert start is not None and end is not None
            hours = (end - start).total_seconds() / 3600
            limit = thresholds.get(a["stage"])
            limit_h = limit / 3600 if limit is not None else None
            rows.append(
                {
                    "lane": lane,
                    "segment": f"{a['stage']} → {b['stage'] if b else 'now (waiting)'}",
                    "start": start,
                    "end": end,
                    "hours": round(hours, 2),
                    "threshold (h)": limit_h,
                    "late": limit_h is not None and hours > limit_h,
                    "waiting": b is None,
                }
            )
    return pd.DataFrame(rows, columns=["lane", "segment", "start", "end", "hours", "threshold (h)", "late", "waiting"])


def segments_figure(frame: pd.DataFrame) -> go.Figure:
    """Each segment a bar on its lane, red when it took longer than its stage's threshold, with the
    threshold drawn as a tick where the segment should have ended."""
    if frame.empty:
        raise NoData("this journey has fewer than two milestones on the path yet")
    fig = go.Figure()
    for late, color, name in ((False, ON_TIME, "within threshold"), (True, LATE, "late")):
        part = frame[frame["late"] == late]
        if part.empty:
            continue
        fig.add_bar(
            base=part["start"],
            x=[(e - s).total_seconds() * 1000 for s, e in zip(part["start"], part["end"], strict=True)],
            y=part["lane"],
            orientation="h",
            marker_color=color,
            marker_line_color="white",
            name=name,
            text=part["segment"],
            textposition="inside",
            customdata=list(zip(part["hours"], part["threshold (h)"].fillna(-1), strict=True)),
            hovertemplate="%{text}: %{customdata[0]:.1f} h (threshold %{customdata[1]} h)<extra></extra>",
        )
    limits = frame.dropna(subset=["threshold (h)"])
    fig.add_scatter(
        x=[s + timedelta(hours=h) for s, h in zip(limits["start"], limits["threshold (h)"], strict=True)],
        y=limits["lane"],
        mode="markers",
        marker={"symbol": "line-ns-open", "size": 26, "color": "black", "line": {"width": 3, "color": "black"}},
        name="stage threshold",
        text=[f"{seg}: threshold {h:g} h" for seg, h in zip(limits["segment"], limits["threshold (h)"], strict=True)],
        hovertemplate="%{text}<extra></extra>",
    )
    fig.update_xaxes(type="date")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(barmode="overlay", legend={"orientation": "h", "y": -0.25})
    return _layout(fig, height=max(220, 70 * frame["lane"].nunique() + 100))


def systems_figure(j: dict[str, Any]) -> go.Figure:
    """Every event of the journey on the lane of the system that sent it."""
    events = j.get("events", [])
    if not events:
        raise NoData("this journey has no events")
    fig = go.Figure(
        go.Scatter(
            x=[e["time"] for e in events],
            y=[e["source"] for e in events],
            mode="markers+text",
            text=[e["type"] for e in events],
            textposition=["top center" if i % 2 else "bottom center" for i in range(len(events))],
            marker={"size": 12, "symbol": "diamond"},
            customdata=[e["id"] for e in events],
            hovertemplate="%{text} from %{y} at %{x} (event %{customdata})<extra></extra>",
        )
    )
    fig.update_yaxes(title=None, type="category")
    return _layout(fig, height=max(200, 60 * len({e["source"] for e in events}) + 80))


def identifiers_frame(j: dict[str, Any]) -> pd.DataFrame:
    """Every identifier of every object in the journey, with the system and event that gave it."""
    return pd.DataFrame(
        [
            {
                "object": f"{obj['type']} {obj['id']}",
                "namespace": ident["namespace"],
                "identifier": ident["value"],
                "from system": ident.get("source"),
                "event": ident.get("event_id"),
                "seen at": parse_time(ident.get("time")),
            }
            for obj in j.get("objects", [])
            for ident in obj.get("identifiers", [])
        ]
    )


SPAN_COLUMNS = ["start", "service", "name", "duration (ms)", "status", "linked by", "span", "parent", "trace"]


def spans_frame(spans: list[dict[str, Any]]) -> pd.DataFrame:
    """Spans as the journey document carries them (OTel names: trace_id, span_id, parent_span_id,
    name, service, start, end, duration_ns, status {code, message}), one row each, by start."""
    rows = []
    for s in spans:
        status = s.get("status")
        start, end = parse_time(s.get("start")), parse_time(s.get("end"))
        duration_ns = s.get("duration_ns")
        if duration_ns is None and start and end:
            duration_ns = (end - start).total_seconds() * 1e9
        rows.append(
            {
                "start": start,
                "service": s.get("service"),
                "name": s.get("name"),
                "duration (ms)": round(duration_ns / 1e6, 3) if duration_ns is not None else None,
                "status": (status.get("code") if isinstance(status, dict) else status) or None,
                "linked by": s.get("linked_by"),
                "span": s.get("span_id"),
                "parent": s.get("parent_span_id"),
                "trace": s.get("trace_id"),
            }
        )
    frame = pd.DataFrame(rows, columns=SPAN_COLUMNS)
    return frame.sort_values("start", kind="stable") if not frame.empty else frame


def spans_figure(frame: pd.DataFrame) -> go.Figure:
    """A waterfall: each span a bar from its start for its duration, on a row of its service and name."""
    if frame.empty:
        raise NoData("no spans")
    labels = [f"{svc}: {name}" for svc, name in zip(frame["service"], frame["name"], strict=True)]
    errors = [str(code).upper() in ("ERROR", "STATUS_CODE_ERROR", "2") for code in frame["status"]]
    fig = go.Figure(
        go.Bar(
            base=frame["start"],
            x=frame["duration (ms)"].fillna(0),
            y=labels,
            orientation="h",
            marker_color=[LATE if e else "#1f77b4" for e in errors],
            hovertemplate="%{y}: %{x:.1f} ms<extra></extra>",
        )
    )
    fig.update_xaxes(type="date")
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, height=max(160, 28 * len(frame) + 60))


def spans_by_milestone(j: dict[str, Any]) -> tuple[dict[tuple[str, str], pd.DataFrame], pd.DataFrame]:
    """The spans beneath each milestone's event (keyed by milestone type and scope), and the journey's
    spans beneath no milestone (linked by an identifier in their attributes, or under other events)."""
    events = {(e["source"], e["id"]): e for e in j.get("events", [])}
    grouped: dict[tuple[str, str], pd.DataFrame] = {}
    placed: set[tuple[str, str]] = set()
    for m in j.get("milestones", []):
        event = events.get((m["source"], m["event_id"])) or {}
        spans = event.get("spans") or []
        if spans:
            grouped[(m["type"], m.get("scope") or "")] = spans_frame(
                [s | {"linked_by": s.get("linked_by") or "traceparent"} for s in spans]
            )
            placed |= {(s.get("trace_id"), s.get("span_id")) for s in spans}
    rest = [s for s in j.get("spans", []) if (s.get("trace_id"), s.get("span_id")) not in placed]
    return grouped, spans_frame(rest)


def events_frame(j: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "time": parse_time(e["time"]),
                "system": e["source"],
                "type": e["type"],
                "event": e["id"],
                "ingested": parse_time(e.get("ingested_at")),
                "trace": (e.get("traceparent") or "").split("-")[1] if e.get("traceparent") else None,
            }
            for e in j.get("events", [])
        ]
    )
