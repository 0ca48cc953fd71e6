"""How the pages say why there is nothing to show, and what to do about it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from dashboard.client import ApiProblem, Misconfigured, NotAvailable, Unreachable
from dashboard.data import NoData

SEND_HINT = (
    "Send some traffic: `tower simulate` runs a simulated distribution business against the server, "
    "`tower import events.ndjson` loads canonical events, and systems post to `POST /v1/events` or "
    "`POST /v1/adapters/{name}`."
)


def problem(p: ApiProblem) -> None:
    if isinstance(p, NotAvailable):
        st.info(f"**Not available on this server.** {p.title} {p.hint}", icon=":material/extension_off:")
    elif isinstance(p, Misconfigured):
        st.error(f"{p.title}\n\n{p.hint}", icon=":material/settings_alert:")
    elif isinstance(p, Unreachable):
        st.error(f"**API unreachable.** {p.title}\n\n{p.hint}", icon=":material/cloud_off:")
    else:
        st.error(f"{p.title}\n\n{p.hint}", icon=":material/error:")


@contextmanager
def section(send_hint: bool = False) -> Iterator[None]:
    """Run a part of a page; an API problem or an empty answer becomes a notice in its place, and the
    rest of the page goes on."""
    try:
        yield
    except ApiProblem as p:
        problem(p)
    except NoData as empty:
        st.info(f"Nothing to show: {empty}." + (f" {SEND_HINT}" if send_hint else ""), icon=":material/inbox:")
