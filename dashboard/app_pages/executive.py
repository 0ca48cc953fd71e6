"""Executive: KPIs against targets, cycle time, on-time by carrier and warehouse, the order funnel."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from dashboard import client, data
from dashboard.notices import SEND_HINT, section

reader = client.reader()
st.title("Executive")

today = data.server_now(reader).date()  # the server's clock: a simulated month has its own today
with st.container(horizontal=True):
    chosen = st.date_input("Orders received", (today - timedelta(days=30), today), max_value=today)
    options: data.FilterOptions | None = None
    with contextlib.suppress(client.ApiProblem):  # the sections below say what the problem is
        options = data.filter_options(reader)
    picked = {
        d: st.selectbox(d.title(), ["all", *(options.values[d] if options else [])], key=f"exec_{d}")
        for d in data.DIMENSIONS
    }
start, end = (chosen[0], chosen[1]) if isinstance(chosen, tuple) and len(chosen) == 2 else (None, None)
filters = data.Filters(start, end, **{d: None if v == "all" else v for d, v in picked.items()})

if options is not None and options.journeys == 0:
    st.info(f"No orders yet. {SEND_HINT}", icon=":material/inbox:")


def chart(title: str, draw: Callable[[], go.Figure], key: str) -> None:
    st.subheader(title)
    with section():
        st.plotly_chart(draw(), key=key)


@st.fragment(run_every=client.refresh_seconds())
def overview() -> None:
    report: dict[str, Any] | None = None
    with section():
        report = data.kpi_report(reader, filters)
        tiles = data.kpi_tiles(report)
        if not tiles:
            raise data.NoData("the server reported no KPIs for this range")
        for row in range(0, len(tiles), 5):
            for column, tile in zip(st.columns(5), tiles[row : row + 5], strict=False):
                column.metric(
                    tile.label,
                    tile.value,
                    tile.delta,
                    delta_color=tile.delta_color,  # type: ignore[arg-type]
                    help=tile.help,
                    border=True,
                    chart_data=tile.series or None,
                    chart_type="area",
                )
    if report is not None:
        kpis = report
        left, right = st.columns(2)
        with left:
            chart("Order cycle time", lambda: data.cycle_time_figure(kpis), "cycle_time")
            chart("Perfect orders", lambda: data.kpi_trend_figure(kpis, "perfect_order"), "perfect_order")
        with right:
            chart("On time by carrier", lambda: data.on_time_figure(kpis, "carrier"), "on_time_carrier")
            chart("On time by warehouse", lambda: data.on_time_figure(kpis, "warehouse"), "on_time_warehouse")
    left, right = st.columns(2)
    with left:
        st.subheader("Orders by stage")
        with section(send_hint=True):
            _, figure = data.funnel(reader, filters)
            st.plotly_chart(figure, key="funnel")
            st.page_link(
                "app_pages/operations.py", label="Stuck orders by stage and warehouse", icon=":material/arrow_forward:"
            )
    if report is not None:
        with right:
            chart("Exceptions by type", lambda: data.exceptions_figure(kpis), "exceptions")


overview()
if options is None:
    st.caption("The filter lists could not be loaded: the server's journey summary did not answer.")
