"""docker-compose.yml is a valid Compose file whose commands and settings exist in this project.

There is no Docker engine here: Debian's `docker-compose` validates the file offline (`config`),
and the rest is checked against the code itself.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO
from tower.cli import app
from tower.settings import Settings

COMPOSE = REPO / "docker-compose.yml"
# Read by the CLI rather than Settings: the log level, and the API key of client commands.
CLI_VARIABLES = {"TOWER_LOG_LEVEL", "TOWER_API_KEY"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_validates() -> None:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed: `apt-get install -y docker-compose` (.ci/run does it)"
    result = subprocess.run([binary, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_it_runs_the_stack_the_issue_names(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"kafka", "clickhouse", "collector", "writer", "correlator", "slo", "dashboard"}
    assert services["kafka"]["image"].startswith("apache/kafka:3.9")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:25.")
    assert services["collector"]["deploy"]["replicas"] == 2
    for name, service in services.items():
        assert "healthcheck" in service, name
    assert set(compose["volumes"]) == {"kafka-data", "clickhouse-data"}


def test_every_tower_command_and_setting_exists(compose: dict) -> None:
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    settings = {f"TOWER_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose["services"].items():
        command = service.get("command", [])
        if command and command[0] == "tower":
            assert command[1] in commands, (name, command)
        for variable in service.get("environment", {}):
            if variable.startswith("TOWER_"):
                assert variable in settings | CLI_VARIABLES, (name, variable)
    env = compose["services"]["writer"]["environment"]
    assert env["TOWER_CLICKHOUSE_DSN"].startswith("http://")  # a server: writers and correlator are processes
