"""Settings: TOWER_* variables, their defaults, and precise errors for bad values."""

from __future__ import annotations

import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import REPO
from tower.settings import (
    DEFAULT_OBJECT_LEVELS,
    Settings,
    SettingsError,
    load_settings,
    parse_alert_webhooks,
    parse_api_keys,
    parse_object_levels,
    parse_partner_zones,
    settings_table,
)


def test_defaults_match_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, _, _ in settings_table():
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert s.data_dir == Path("./.tower")
    assert s.dsn == f"chdb://{(Path('./.tower') / 'clickhouse').resolve()}"
    assert s.embedded
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.kafka_bootstrap is None
    assert not s.auth_enabled
    assert s.levels == DEFAULT_OBJECT_LEVELS


def test_every_setting_is_documented() -> None:
    rows = settings_table()
    assert {
        "TOWER_DATA_DIR",
        "TOWER_CLICKHOUSE_DSN",
        "TOWER_KAFKA_BOOTSTRAP",
        "TOWER_HOST",
        "TOWER_PORT",
        "TOWER_OBJECT_LEVELS",
        "TOWER_API_KEYS",
    } <= {r[0] for r in rows}
    assert all(meaning for _, _, meaning in rows)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWER_CLICKHOUSE_DSN", "http://u:p@ch:8123/tower")
    monkeypatch.setenv("TOWER_OBJECT_LEVELS", "pallet=4, order_line=reference ,quote=0")
    s = Settings()
    assert not s.embedded
    assert s.levels["pallet"] == 4
    assert s.levels["order_line"] is None
    assert s.levels["quote"] == 0
    assert s.levels["shipment"] == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("pallet", "expected type=level or type=reference"),
        ("pallet=high", "level must be a whole number or 'reference'"),
    ],
)
def test_bad_object_levels_are_named(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_object_levels(spec)


def test_api_keys_with_scopes_and_tenant() -> None:
    keys = parse_api_keys("k1=ingest, k2=read+admin@acme")
    assert keys["k1"].scopes == {"ingest"} and keys["k1"].tenant is None
    assert keys["k2"].scopes == {"read", "admin"} and keys["k2"].tenant == "acme"
    with pytest.raises(ValueError, match="unknown scope"):
        parse_api_keys("k=write")
    with pytest.raises(ValueError, match="expected key=scope") as caught:
        parse_api_keys("k1=read, justakey-secret-value")
    # a bare key is a secret written in the wrong place: the error says where, not what
    assert "justakey-secret-value" not in str(caught.value) and "entry 2 (just…)" in str(caught.value)
    with pytest.raises(ValueError, match=r"for key 3 characters: unknown scope") as caught:
        parse_api_keys("abc=write")


def test_object_levels_from_a_file_then_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    levels = tmp_path / "levels.toml"
    levels.write_text('[object_levels]\npallet = 4\nquote = "reference"\nwave = 2\n')
    monkeypatch.setenv("TOWER_OBJECT_LEVELS_FILE", str(levels))
    monkeypatch.setenv("TOWER_OBJECT_LEVELS", "wave=reference")
    s = Settings()
    assert s.levels["pallet"] == 4
    assert s.levels["quote"] is None
    assert s.levels["wave"] is None
    assert s.levels["order"] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"TOWER_OBJECT_LEVELS_FILE {path}: no such file; name an existing TOML file or unset it$"),
        (b"\xff\xfe[object_levels]", r"TOWER_OBJECT_LEVELS_FILE {path}: is not UTF-8 text"),
        (b"[object_levels\npallet = 4\n", r"TOWER_OBJECT_LEVELS_FILE {path}: is not valid TOML \(.*line 1"),
        (b"object_levels = 4\n", r"TOWER_OBJECT_LEVELS_FILE {path}: object_levels must be a table"),
        (b"[object_levels]\npallet = 4.5\n", r"TOWER_OBJECT_LEVELS_FILE {path}: pallet = 4\.5; use a whole number"),
        (b"[object_levels]\npallet = true\n", r"TOWER_OBJECT_LEVELS_FILE {path}: pallet = True; use a whole number"),
    ],
    ids=["missing", "not-utf8", "not-toml", "not-a-table", "fraction", "bool"],
)
def test_a_missing_or_bad_levels_file_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | None, message: str
) -> None:
    levels = tmp_path / "levels.toml"
    if content is not None:
        levels.write_bytes(content)
    monkeypatch.setenv("TOWER_OBJECT_LEVELS_FILE", str(levels))
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert len(refused.value.lines) == 1
    assert refused.value.lines[0] == str(refused.value)
    assert re.match(message.format(path=re.escape(str(levels))), str(refused.value)), str(refused.value)


def test_a_missing_relative_levels_file_says_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOWER_OBJECT_LEVELS_FILE", "levels.toml")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert refused.value.lines == [
        f"TOWER_OBJECT_LEVELS_FILE levels.toml: no such file ({tmp_path.resolve() / 'levels.toml'}); "
        "name an existing TOML file or unset it"
    ]


def test_a_levels_file_that_is_a_folder_is_refused_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWER_OBJECT_LEVELS_FILE", str(tmp_path))
    with pytest.raises(SettingsError, match=f"TOWER_OBJECT_LEVELS_FILE {tmp_path}: is a folder; name a TOML file"):
        load_settings()


def test_an_empty_levels_file_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWER_OBJECT_LEVELS_FILE", "")
    monkeypatch.delenv("TOWER_OBJECT_LEVELS", raising=False)
    s = load_settings()
    assert s.object_levels_file is None
    assert s.levels == DEFAULT_OBJECT_LEVELS


@pytest.mark.parametrize("stages", ["writer,slo", "collector", "writer;correlator"])
def test_unknown_kafka_stages_are_refused_at_load(monkeypatch: pytest.MonkeyPatch, stages: str) -> None:
    monkeypatch.setenv("TOWER_KAFKA_STAGES", stages)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert refused.value.lines == [
        f"TOWER_KAFKA_STAGES: unknown stage(s) {sorted(set(stages.split(',')) - {'writer', 'correlator'})}; "
        "use writer, correlator, both (writer,correlator) or empty (the collector alone)"
    ]


@pytest.mark.parametrize(
    ("stages", "names"),
    [("writer,correlator", {"writer", "correlator"}), (" writer ", {"writer"}), ("", set())],
)
def test_kafka_stages_load_and_name_their_stages(monkeypatch: pytest.MonkeyPatch, stages: str, names: set[str]) -> None:
    monkeypatch.setenv("TOWER_KAFKA_STAGES", stages)
    assert load_settings().kafka_stage_names == names


def test_edi_partner_zones_default_to_utc_and_parse_trimmed_upper_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOWER_EDI_PARTNER_ZONES", raising=False)
    assert Settings().edi_partner_zones == ""
    assert parse_partner_zones("") == {}
    zones = parse_partner_zones(" acme = America/Chicago ,WALMART=America/Chicago,*=UTC,")
    named = {k: str(v) for k, v in zones.items()}
    assert named == {"ACME": "America/Chicago", "WALMART": "America/Chicago", "*": "UTC"}
    monkeypatch.setenv("TOWER_EDI_PARTNER_ZONES", "ACME=Europe/Berlin")
    assert Settings().edi_partner_zones == "ACME=Europe/Berlin"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ACME=America/Chicgo", r"partner 'ACME' has zone 'America/Chicgo', which is no IANA time zone"),
        ("ACME=America/Chicago,*=Mars/Olympus", r"partner '\*' has zone 'Mars/Olympus'"),
        ("ACME=../../etc/passwd", r"partner 'ACME' has zone '\.\./\.\./etc/passwd'"),
        ("ACME", r"entry 'ACME': expected partner=Area/City"),
        ("=America/Chicago", r"entry '=America/Chicago': expected partner=Area/City"),
    ],
)
def test_bad_edi_partner_zones_refuse_to_load(monkeypatch: pytest.MonkeyPatch, spec: str, message: str) -> None:
    monkeypatch.setenv("TOWER_EDI_PARTNER_ZONES", spec)
    with pytest.raises(ValueError, match=message):
        Settings()


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("TOWER_CLOCK", "yesterday", "TOWER_CLOCK='yesterday': expected 'system' or an RFC 3339 instant"),
        (
            "TOWER_WAREHOUSE_SHIFTS",
            "*=06:00-22:00,dc-west=8-16",
            "TOWER_WAREHOUSE_SHIFTS entry 'dc-west=8-16': '8' is not HH:MM",
        ),
        (
            "TOWER_WAREHOUSE_SHIFTS",
            "dc-east=22:00-06:00",
            "TOWER_WAREHOUSE_SHIFTS entry 'dc-east=22:00-06:00': a shift ends after it starts (same day)",
        ),
        ("TOWER_CARRIER_CUTOFFS", "*=17:00,fedex", "TOWER_CARRIER_CUTOFFS entry 'fedex': expected carrier=HH:MM"),
        ("TOWER_CARRIER_CUTOFFS", "ups=5pm", "TOWER_CARRIER_CUTOFFS entry 'ups=5pm': '5pm' is not HH:MM"),
        (
            "TOWER_ALERT_WEBHOOKS",
            "json=https://a.example/hook,slak=https://hooks.slack.com/services/T0/B0/sekrit",
            "TOWER_ALERT_WEBHOOKS entry 2 of 2: expected format=http(s)://…, the format one of json, slack, "
            "alertmanager",
        ),
        (
            "TOWER_ALERT_WEBHOOKS",
            "slack=hooks.slack.com/services/T0/B0/sekrit",
            "TOWER_ALERT_WEBHOOKS entry 1 of 1 (slack): the URL must start with http:// or https://",
        ),
    ],
    ids=["clock", "shift-hours", "overnight-shift", "cutoff-entry", "cutoff-time", "webhook-format", "webhook-url"],
)
def test_settings_parsed_where_they_are_used_are_refused_at_load(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, line: str
) -> None:
    """Before, these failed only when the server built its clock or its SLO engine, in the lifespan."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert refused.value.lines == [line]
    assert "sekrit" not in str(refused.value)  # a webhook URL is a secret of its own


def test_clock_calendars_and_webhooks_load_when_good(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWER_CLOCK", "2026-03-02T08:00:00Z")
    monkeypatch.setenv("TOWER_WAREHOUSE_SHIFTS", "*=06:00-22:00,dc-west=08:00-12:00+13:00-17:00")
    monkeypatch.setenv("TOWER_CARRIER_CUTOFFS", "*=17:00,fedex=18:30")
    monkeypatch.setenv("TOWER_ALERT_WEBHOOKS", "slack=https://hooks.example/x, alertmanager=http://am:9093/hook")
    s = load_settings()
    assert s.clock == "2026-03-02T08:00:00Z"
    assert parse_alert_webhooks(s.alert_webhooks) == [
        ("slack", "https://hooks.example/x"),
        ("alertmanager", "http://am:9093/hook"),
    ]


def test_a_cluster_on_embedded_chdb_refuses_to_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOWER_CLICKHOUSE_CLUSTER", "main")
    monkeypatch.setenv("TOWER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TOWER_CLICKHOUSE_DSN", raising=False)
    with pytest.raises(ValueError) as refused:
        Settings()
    message = str(refused.value)
    assert "TOWER_CLICKHOUSE_CLUSTER=main needs a ClickHouse server" in message
    assert f"TOWER_CLICKHOUSE_DSN is unset, so chdb://{tmp_path.resolve()}/clickhouse" in message
    assert "Unset TOWER_CLICKHOUSE_CLUSTER, or set TOWER_CLICKHOUSE_DSN to a node of the cluster" in message
    monkeypatch.setenv("TOWER_CLICKHOUSE_DSN", "chdb:///var/lib/tower/ch")
    with pytest.raises(ValueError, match="TOWER_CLICKHOUSE_DSN is chdb:///var/lib/tower/ch: embedded chDB"):
        Settings()


def test_a_cluster_on_a_server_and_chdb_without_one_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWER_CLICKHOUSE_CLUSTER", "main")
    monkeypatch.setenv("TOWER_CLICKHOUSE_DSN", "http://u:p@ch-1:8123/tower")
    on_cluster = Settings()
    assert (on_cluster.clickhouse_cluster, on_cluster.dsn, on_cluster.embedded) == (
        "main",
        "http://u:p@ch-1:8123/tower",
        False,
    )
    monkeypatch.delenv("TOWER_CLICKHOUSE_DSN")
    monkeypatch.setenv("TOWER_CLICKHOUSE_CLUSTER", "")  # set but empty: no cluster, as the Store reads it
    assert Settings().embedded
    monkeypatch.delenv("TOWER_CLICKHOUSE_CLUSTER")
    embedded = Settings()
    assert embedded.embedded and embedded.clickhouse_cluster is None


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"TOWER_API_KEYS": "sekrit-key-1=write"}, "TOWER_API_KEYS entry for key sekr…: unknown scope(s) ['write']"),
        # A check across settings: pydantic's text repeats every variable set, the secrets among them.
        (
            {
                "TOWER_CLICKHOUSE_CLUSTER": "main",
                "TOWER_API_KEYS": "sekrit-key-1=ingest",
                "TOWER_SHOPIFY_WEBHOOK_SECRET": "sekrit-hmac",
            },
            "TOWER_CLICKHOUSE_CLUSTER=main needs a ClickHouse server",
        ),
    ],
    ids=["bad-key", "across-settings"],
)
def test_load_settings_refuses_without_the_values_in_its_text_or_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], line: str
) -> None:
    monkeypatch.setenv("TOWER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TOWER_CLICKHOUSE_DSN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raw:
        Settings()
    assert "sekrit" in str(raw.value)  # what load_settings must not pass on
    with pytest.raises(SettingsError) as refused:
        load_settings()
    error = refused.value
    shown = "".join(traceback.format_exception(error))
    assert len(error.lines) == 1 and error.lines[0].startswith(line)
    assert f"tower.settings.SettingsError: {error.lines[0]}" in shown
    for text in (str(error), repr(error), shown):
        assert "sekrit" not in text
    assert "ValidationError" not in shown and "During handling" not in shown
    assert error.__cause__ is None and error.__context__ is None


def test_the_cli_prints_a_refused_setting_without_a_traceback_or_the_other_values(tmp_path: Path) -> None:
    """pydantic's own text of a check across settings repeats every variable set: an API key here."""
    result = subprocess.run(
        [sys.executable, "-m", "tower.cli", "migrate", "--data-dir", str(tmp_path / "store")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "TOWER_CLICKHOUSE_CLUSTER": "main",
            "TOWER_API_KEYS": "sekrit-key-1=ingest",
        },
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: TOWER_CLICKHOUSE_CLUSTER=main needs a ClickHouse server, but ")
    assert result.stderr.count("\n") == 1
    assert "sekrit" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "store").exists()  # refused before anything was made


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"TOWER_API_KEYS": "sekrit-key-1=write"}, "error: TOWER_API_KEYS entry for key sekr…: unknown scope(s)"),
        ({"TOWER_PORT": "eighty"}, "error: TOWER_PORT: Input should be a valid integer"),
    ],
    ids=["api-keys", "port"],
)
def test_the_cli_names_a_bad_setting_on_one_line_without_its_value(env: dict[str, str], line: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tower.cli", "serve"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
    )
    assert result.returncode == 2
    assert result.stderr.startswith(line)
    assert result.stderr.count("\n") == 1
    assert "sekrit-key-1" not in result.stderr and "eighty" not in result.stderr
