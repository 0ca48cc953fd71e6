"""Operations: SLOs and alerts, stuck orders, reconciliation, integration failures, dead letters."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboard import client, data
from dashboard.notices import problem, section

reader = client.reader()
LINK = st.column_config.LinkColumn("order", display_text=r"journey=(.*)$")
st.title("Operations")


def acted(message: str) -> None:
    """After an action: forget cached answers and run the page again to show its effect, with a toast
    saying what was done (kept in the session so the rerun shows it)."""
    client.forget()
    st.session_state.acted = message
    st.rerun()


def flash() -> None:
    """The toast of the action that caused this run, if any."""
    if "acted" in st.session_state:
        st.toast(st.session_state.pop("acted"), icon=":material/check:")


flash()


@st.fragment(run_every=client.refresh_seconds())
def service_levels() -> None:
    st.subheader("Service levels")
    with section():
        slos = data.slos(reader)
        left, right = st.columns([2, 3])
        left.plotly_chart(data.budget_figure(slos), key="budgets")
        right.dataframe(
            data.slo_frame(slos),
            hide_index=True,
            column_config={
                "budget remaining": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
                "attainment": st.column_config.NumberColumn(format="percent"),
                "objective": st.column_config.NumberColumn(format="percent"),
            },
        )
        names = {s["name"]: s.get("display_name") or s["name"] for s in data.least_budget_first(slos)}
        chosen = st.selectbox("Budget over time", list(names), format_func=names.__getitem__, key="slo_series")
        with section():
            st.plotly_chart(data.budget_series_figure(reader, chosen, names[chosen]), key="slo_budget_series")
        for slo in slos:
            with st.expander(f"{slo.get('display_name') or slo['name']}: slices and burn rates"):
                st.caption(slo.get("description") or "")
                st.dataframe(data.slice_frame(slo), hide_index=True)

    st.subheader("Active alerts")
    with section():
        alerts = data.active_alerts(reader)
        if not alerts:
            st.success("No alert is firing or pending.", icon=":material/check_circle:")
            return
        st.dataframe(data.alerts_frame(alerts), hide_index=True)
        alert = st.selectbox("Alert", alerts, format_func=data.alert_line, key="alert_pick")
        st.write((alert.get("annotations") or {}).get("description") or "")
        journeys = alert.get("journeys") or []
        if journeys:
            with st.columns([2, 3])[0]:
                st.caption(f"{alert.get('journeys_total', len(journeys)):,} orders affected; the first:")
                st.dataframe(data.journey_links(journeys), hide_index=True, column_config={"order": LINK}, height=180)
                st.page_link(
                    "app_pages/order_trace.py",
                    label=f"Trace {journeys[0]}",
                    query_params={"journey": journeys[0]},
                    icon=":material/timeline:",
                )
        with st.form(f"act_{alert['id']}"), st.container(horizontal=True, vertical_alignment="bottom"):
            by = st.text_input("Your name", key=f"by_{alert['id']}")
            hours = st.number_input("Silence for hours", 1.0, 168.0, 4.0, key=f"h_{alert['id']}")
            ack = st.form_submit_button("Acknowledge", icon=":material/done:")
            mute = st.form_submit_button("Silence alerts like it", icon=":material/notifications_off:")
        if ack or mute:
            try:
                if ack:
                    data.acknowledge(client.api(), alert["id"], by or "dashboard")
                    acted(f"Acknowledged {alert['id']}")
                else:
                    data.silence(client.api(), alert, hours, by or "dashboard")
                    acted(f"Silenced alerts like {alert['id']} for {hours:g} h")
            except client.ApiProblem as p:
                problem(p)


@st.fragment(run_every=client.refresh_seconds())
def stuck_orders() -> None:
    st.subheader("Stuck orders")
    st.caption("Open orders waiting in their stage past its threshold, by stage and warehouse.")
    with section():
        heat = data.stuck_heatmap(reader)
        left, right = st.columns([3, 2])
        left.plotly_chart(heat.figure, key="stuck_heatmap")
        with right:
            st.metric("Stuck orders", f"{heat.total:,}")
            labels = [f"{s} · {w or data.NONE_LABEL} ({n:,})" for s, w, n in heat.cells]
            choice = st.selectbox("Drill into", range(len(labels)), format_func=lambda i: labels[i], key="drill")
            stage, warehouse, _ = heat.cells[choice or 0]
            pages = st.session_state.setdefault("drill_pages", {})  # cell → cursors of the pages shown so far
            cursors = pages.setdefault((stage, warehouse), [None])
            frame, total, nxt = data.journeys_page(
                reader, cursors[-1], status="stuck", stage=stage, warehouse=warehouse
            )
            if warehouse is None:
                st.caption(f"Orders stuck at {stage} in every warehouse (the API filters by a named warehouse only).")
            st.dataframe(frame, hide_index=True, column_config={"order": LINK})
            with st.container(horizontal=True):
                first = (len(cursors) - 1) * data.PAGE
                st.caption(f"{first + 1:,}–{first + len(frame):,} of {total:,}, newest orders first.")
                if len(cursors) > 1:
                    st.button("Newer", key="drill_prev", on_click=cursors.pop)
                if nxt:
                    st.button("Older", key="drill_next", on_click=cursors.append, args=(nxt,))


def reconciliation() -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Inventory mismatches")
        with section():
            items, by_warehouse, total = data.inventory_mismatches(reader)
            st.plotly_chart(data.inventory_figure(by_warehouse), key="inventory")
            st.dataframe(items, hide_index=True)
            st.caption(f"{len(items):,} of {total:,} open mismatches shown.")
    with right:
        st.subheader("Shipments missing tracking")
        with section():
            frame, total = data.missing_tracking(reader)
            st.dataframe(frame, hide_index=True, column_config={"order": LINK})
            st.caption(f"{len(frame):,} of {total:,} shown.")
    st.subheader("Integration failures by system")
    with section():
        frame, figure = data.integration_failures(reader, data.server_now(reader) - timedelta(days=7))
        st.plotly_chart(figure, key="integration")
        st.dataframe(frame, hide_index=True)


CURSOR = "dead_letters_cursor"


def dead_letters() -> None:
    st.subheader("Dead letters")
    with section():
        cursor = st.session_state.get(CURSOR)
        items, total, nxt = data.dead_letters(reader, cursor)
        if not items:
            st.success("No rejected input.", icon=":material/check_circle:")
            return
        st.dataframe(data.dead_letter_frame(items), hide_index=True)
        with st.container(horizontal=True):
            st.caption(f"{len(items)} of {total:,}, newest first.")
            if cursor:
                st.button("Newest", key="dl_first", on_click=st.session_state.update, args=({CURSOR: None},))
            if nxt:
                st.button("Older", key="dl_next", on_click=st.session_state.update, args=({CURSOR: nxt},))
        waiting = [i for i in items if not i.get("replayed_at")]
        if not waiting:
            return
        chosen = st.selectbox(
            "Dead letter", waiting, format_func=lambda i: f"{i['id']}: {i['reason'][:90]}", key="dl_pick"
        )
        with st.expander("Raw input"):
            st.code(chosen["raw"][:20_000], language="json" if chosen["raw"][:1] in "{[" else None)
        if st.button("Replay", icon=":material/replay:", key="dl_replay", help="Send it through intake again"):
            try:
                result = data.replay(client.api(), chosen["id"])
                acted(f"Replayed {chosen['id']}: {result['accepted']} accepted, {result['duplicates']} duplicates")
            except client.ApiProblem as p:
                problem(p)


service_levels()
stuck_orders()
reconciliation()
dead_letters()
