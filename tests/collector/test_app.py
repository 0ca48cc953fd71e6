"""The API server's composition: `create_app` loads its settings, and refuses bad ones before anything starts."""

from __future__ import annotations

import traceback
from pathlib import Path

import httpx
import pytest

from collector.app import create_app
from tower import compiled
from tower.settings import SettingsError
from tower.timing import server_ms


def test_create_app_loads_the_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOWER_DATA_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("TOWER_KAFKA_STAGES", "writer")
    app = create_app()
    assert app.state.settings.data_dir == tmp_path / "store"
    assert app.state.settings.kafka_stage_names == {"writer"}
    assert not (tmp_path / "store").exists()  # nothing is made before the lifespan starts


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"TOWER_API_KEYS": "sekrit-key-1=ingest+write"},
            "TOWER_API_KEYS entry for key sekr…: unknown scope(s) ['write']; use admin+ingest+read",
        ),
        # Parsed only when the server started, before: a traceback out of the lifespan.
        (
            {"TOWER_KAFKA_STAGES": "writer,collector", "TOWER_API_KEYS": "sekrit-key-1=ingest"},
            "TOWER_KAFKA_STAGES: unknown stage(s) ['collector']; use writer, correlator, both (writer,correlator) "
            "or empty (the collector alone)",
        ),
    ],
    ids=["api-keys", "kafka-stages"],
)
def test_create_app_refuses_a_bad_setting_without_its_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], line: str
) -> None:
    monkeypatch.setenv("TOWER_DATA_DIR", str(tmp_path / "store"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        create_app()
    assert refused.value.lines == [line]
    shown = "".join(traceback.format_exception(refused.value))
    assert shown.rstrip().endswith(f"tower.settings.SettingsError: {line}")
    assert "sekrit" not in shown
    assert not (tmp_path / "store").exists()


def test_every_response_says_how_long_the_server_took(api: httpx.Client) -> None:
    # Server-Timing (W3C): the server's own time, so a client can tell it from the network's and its own
    for response in (
        api.get("/healthz"),
        api.get("/v1/lookup", params={"q": "no-such-identifier"}),
        api.get("/v1/journeys/order-0000000000000000"),  # 404: errors are timed too
        api.post("/v1/events", content=b"{", headers={"Content-Type": "application/json"}),  # 400
    ):
        took = server_ms(response.headers.get("server-timing"))
        assert took is not None and 0 < took < 60_000, (response.status_code, response.headers)


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("app;dur=12.3", 12.3),
        ('db;dur=4, app;desc="whole";dur=7', 7.0),
        ("app", None),
        ("app;dur=soon", None),
        (None, None),
        ("cache;dur=1", None),
    ],
)
def test_the_server_timing_header_is_read_for_its_app_duration(value: str | None, ms: float | None) -> None:
    assert server_ms(value) == ms


def test_metrics_say_whether_the_compiled_speedups_run(api: httpx.Client) -> None:
    metrics = api.get("/metrics").text
    assert f"tower_compiled_speedups {int(compiled.STATUS.compiled)}" in metrics.splitlines()
