"""Control Tower's dashboard: `streamlit run dashboard/app.py` (or `tower dashboard`, `tower up`).

Builds the navigation and checks the API answers; each page in `app_pages/` is one audience's view.
"""

from __future__ import annotations

import streamlit as st

from dashboard import client, notices

st.set_page_config(page_title="Control Tower", page_icon=":material/cell_tower:", layout="wide")

pages = [
    st.Page("app_pages/executive.py", title="Executive", icon=":material/insights:", default=True),
    st.Page("app_pages/operations.py", title="Operations", icon=":material/monitor_heart:", url_path="operations"),
    st.Page("app_pages/order_trace.py", title="Order trace", icon=":material/timeline:", url_path="order_trace"),
]
page = st.navigation(pages)

try:
    api = client.api()
    refresh = client.refresh_seconds()
except client.Misconfigured as p:
    notices.problem(p)
    st.stop()
with st.sidebar:
    st.caption(
        f"API: {api.connection.base_url}" + (f" · tenant {api.connection.tenant}" if api.connection.tenant else "")
    )
    st.caption(f"Refreshes every {refresh:g} s" if refresh else "Auto-refresh off")
    if st.button("Refresh now", icon=":material/refresh:"):
        client.forget()

try:
    client.reader().get("/healthz")
except client.ApiProblem as p:
    notices.problem(p)
    st.stop()

page.run()
