"""The dashboard's settings: a refused one is a notice on the page and a line in the log, never a
traceback carrying the values."""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import client
from tests.dashboard.conftest import APP

BAD_KEYS = "sekrit-key-1=write"
REFUSED = "TOWER_API_KEYS entry for key sekr…: unknown scope(s) ['write']; use admin+ingest+read"


def test_the_connection_comes_from_the_dashboard_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWER_DASHBOARD_API", "http://tower.example:8000/")
    monkeypatch.setenv("TOWER_DASHBOARD_API_KEY", "dash-key")
    monkeypatch.setenv("TOWER_DASHBOARD_TENANT", "acme")
    monkeypatch.setenv("TOWER_DASHBOARD_REFRESH_SECONDS", "0")
    assert client.connection() == client.Connection("http://tower.example:8000", "dash-key", "acme")
    assert client.refresh_seconds() is None


def test_refused_settings_raise_misconfigured_and_are_logged_without_values(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TOWER_API_KEYS", BAD_KEYS)
    monkeypatch.setenv("TOWER_DASHBOARD_REFRESH_SECONDS", "often")
    with caplog.at_level(logging.ERROR, logger="dashboard.client"), pytest.raises(client.Misconfigured) as refused:
        client.connection()
    assert refused.value.lines == [
        REFUSED,
        "TOWER_DASHBOARD_REFRESH_SECONDS: Input should be a valid number, unable to parse string as a number",
    ]
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert [r.getMessage() for r in caplog.records] == [f"settings refused: {'; '.join(refused.value.lines)}"]
    assert "sekrit" not in caplog.text and "often" not in caplog.text


def test_the_app_shows_refused_settings_as_an_error_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWER_API_KEYS", BAD_KEYS)
    monkeypatch.setenv("TOWER_DASHBOARD_API", "http://127.0.0.1:9")  # never asked: the app stops first
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"The dashboard's TOWER_* settings were refused:\n\n- {REFUSED}\n\n"
        "Fix them in the dashboard's environment and restart it (`tower dashboard` checks them first)."
    ]
    assert not at.sidebar.caption  # the page stopped before the sidebar and the pages
