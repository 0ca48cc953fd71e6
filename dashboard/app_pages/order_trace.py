"""Order trace: one order end to end, found by any identifier any system gave it."""

from __future__ import annotations

import streamlit as st

from dashboard import client, data
from dashboard.notices import section

reader = client.reader()
st.title("Order trace")

asked = st.query_params.get("q", "")
q = st.text_input(
    "Find an order by any identifier",
    value=asked,
    placeholder="PO, ERP order, Shopify number, tracking number…",
    key="trace_q",
).strip()
journey_id = st.query_params.get("journey")
if q and q != asked:
    st.query_params.clear()
    st.query_params["q"] = q
    journey_id = None

if not q and not journey_id:
    st.info(
        "Type an identifier any system knows the order by: `SO-1001`, `#1001`, a PO number, "
        "a tracking number like `1Z999AA10123456784`. Orders in the Operations page link here.",
        icon=":material/search:",
    )

if q and not journey_id:
    with section():
        matches = data.find(reader, q)
        if not matches:
            st.warning(
                f"No order, shipment or other object is known by `{q}`. Identifiers match exactly "
                "(`#1001`, not `1001`); check the value, or whether its events have been sent yet.",
                icon=":material/search_off:",
            )
        elif len(matches) == 1:
            journey_id = matches[0].journey_id
        else:
            st.write(f"`{q}` belongs to {len(matches)} journeys:")
            pick = st.radio(
                "Journey",
                matches,
                format_func=lambda m: f"{m.journey_id} (via {m.object_type} {m.matched or m.object_id})",
                key="trace_pick",
            )
            journey_id = pick.journey_id if pick else None

if journey_id:
    with section():
        j = data.journey(reader, journey_id)
        st.subheader(f"Journey {j['id']}")
        with st.container(horizontal=True):
            st.metric("Stage", j["stage"], border=True)
            st.metric("Status", j["status"], border=True)
            st.metric("Events", f"{j['event_count']:,}", border=True)
            st.metric("Shipped on time", {True: "yes", False: "no", None: "–"}[j.get("on_time_ship")], border=True)
            st.metric(
                "Delivered on time", {True: "yes", False: "no", None: "–"}[j.get("on_time_delivery")], border=True
            )
        dims = " · ".join(f"{k}: {v}" for k, v in sorted((j.get("dims") or {}).items()))
        promised = " · ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted((j.get("promised") or {}).items()))
        st.caption(" | ".join(x for x in (dims, promised, f"started {j.get('started_at')}") if x))
        for anomaly in j.get("anomalies", []):
            st.warning(f"**{anomaly['kind'].replace('_', ' ')}**: {anomaly.get('reason', '')}", icon=":material/flag:")

        st.subheader("Across systems")
        with section():
            st.plotly_chart(data.systems_figure(j), key="systems")

        st.subheader("Segments against their thresholds")
        with section():
            frame = data.segments(j, data.server_now(reader))
            st.plotly_chart(data.segments_figure(frame), key="segments")
            late = frame[frame["late"]]
            if not late.empty:
                worst = late.sort_values("hours", ascending=False).iloc[0]
                st.error(
                    f"Late: {worst['lane']}, {worst['segment']} took {worst['hours']:.1f} h "
                    f"against a threshold of {worst['threshold (h)']:g} h.",
                    icon=":material/schedule:",
                )
            st.dataframe(frame.drop(columns=["late", "waiting"]), hide_index=True)

        st.subheader("Milestones and their spans")
        grouped, other_spans = data.spans_by_milestone(j)
        opened = False  # the first milestone with spans starts open
        for m in j.get("milestones", []):
            scope = m.get("scope") or ""
            spans = grouped.get((m["type"], scope))
            title = f"{m['first']} · {m['type']} · from {m['source']}" + (f" ×{m['count']}" if m["count"] > 1 else "")
            with st.expander(
                title + (f" · {len(spans)} spans" if spans is not None else ""),
                expanded=spans is not None and not opened,
            ):
                opened = opened or spans is not None
                st.caption(f"event {m['event_id']}" + (f" · scope {scope}" if scope else ""))
                if spans is None:
                    st.caption("No spans linked to this milestone's event.")
                else:
                    st.plotly_chart(data.spans_figure(spans), key=f"spans_{m['type']}_{scope}")
                    st.dataframe(spans, hide_index=True)
        if not other_spans.empty:
            with st.expander(f"{len(other_spans)} spans not beneath a milestone (linked by an identifier)"):
                st.plotly_chart(data.spans_figure(other_spans), key="spans_other")
                st.dataframe(other_spans, hide_index=True)

        st.subheader("Identifiers and where they came from")
        st.table(data.identifiers_frame(j).set_index("object"))

        st.subheader("Events")
        st.dataframe(data.events_frame(j), hide_index=True)
        if st.toggle("Show raw payloads", key="raw"):
            for e in j.get("events", []):
                with st.expander(f"{e['time']} · {e['type']} · {e['source']}/{e['id']}"):
                    st.json(e.get("data") or {})
