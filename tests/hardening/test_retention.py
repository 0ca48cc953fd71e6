"""Retention by advancing the tower's clock: whole month partitions dropped past their TTL, never
what an open journey still needs, no `ALTER … DELETE` mutation; the migrations that partition the
existing tables keep their rows and turn into valid ON CLUSTER DDL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
import pytest

from collector.app import MIGRATIONS
from tests.conftest import REPO, ServerProcess, correlated, post_events, wait_for
from tests.support.ocel import FIXTURES
from tower.cluster import cluster_statements
from tower.retention import RULES, month_end, repartitioned

RETENTION = {
    f"TOWER_RETENTION_{group}_DAYS": "30" for group in ("EVENTS", "DEAD_LETTERS", "TELEMETRY", "JOURNEYS", "SLO")
}
JSON_BODY = {"Content-Type": "application/json"}


def event(eid: str, etype: str, time: str, order: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": eid,
        "source": "erp/netsuite",
        "type": etype,
        "time": time,
        "data": {"objects": [{"type": "order", "ids": {"erp": order}}], **data},
    }


BUSINESS = [
    # SO-1 delivered in January; SO-2 received in January and still open; SO-3 delivered in October
    event("1a", "order.received", "2026-01-10T10:00:00Z", "SO-1"),
    event("1b", "shipment.delivered", "2026-01-14T10:00:00Z", "SO-1"),
    event("2a", "order.received", "2026-01-11T10:00:00Z", "SO-2"),
    event("3a", "order.received", "2026-10-10T10:00:00Z", "SO-3"),
    event("3b", "shipment.delivered", "2026-10-14T10:00:00Z", "SO-3"),
    # an integration failure in February, in no journey
    {
        "specversion": "1.0",
        "id": "f1",
        "source": "erp/netsuite",
        "type": "sync.failed",
        "time": "2026-02-10T10:00:00Z",
        "data": {"facts": {"system": "erp", "operation": "post order", "error": "HTTP 503"}},
    },
]


def january_trace() -> bytes:
    """The OTLP/JSON trace fixture, its span moved to January 2026."""
    document = json.loads((FIXTURES / "otlp" / "opentelemetry-proto" / "trace.json").read_text())
    start = int(datetime(2026, 1, 10, 10, tzinfo=UTC).timestamp()) * 1_000_000_000
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                span["startTimeUnixNano"], span["endTimeUnixNano"] = str(start), str(start + 1_000_000_000)
    return json.dumps(document).encode()


def journey_of(client: httpx.Client, order: str) -> int:
    """The status of GET /v1/journeys/{id} for the journey an ERP order number resolves to (404: none)."""
    matches = client.get("/v1/lookup", params={"q": order}).json()["matches"]
    if not matches or not matches[0]["journeys"]:
        return 404
    return client.get(f"/v1/journeys/{matches[0]['journeys'][0]}").status_code


def failures(client: httpx.Client) -> int:
    body = client.get("/v1/integration/failures", params={"from": "2026-01-01T00:00:00Z", "to": "2026-12-31T00:00:00Z"})
    return sum(int(i.get("failed", 0)) for i in body.json()["items"])


def cli_retention(data_dir: Path, clock: str, *args: str) -> str:
    env = {**os.environ, **RETENTION, "TOWER_CLOCK": clock}
    done = subprocess.run(
        [sys.executable, "-m", "tower.cli", "retention", "--data-dir", str(data_dir), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "tower"


@pytest.mark.slow
def test_advancing_the_clock_drops_whole_months_but_never_what_an_open_journey_needs(
    start_server: Callable[..., ServerProcess], data_dir: Path
) -> None:
    # 1. Everything arrives while the clock is in January: nothing is old yet.
    first = start_server(data_dir, env={"TOWER_CLOCK": "2026-01-20T00:00:00Z", "TOWER_SLO_ENGINE": "false"})
    with httpx.Client(base_url=first.url, timeout=60) as c:
        post_events(c, BUSINESS)
        assert c.post("/v1/traces", content=january_trace(), headers=JSON_BODY).status_code == 200
        # a dead letter, stamped by the tower's clock: received in January
        assert c.post("/v1/events", json={"specversion": "1.0"}).status_code == 400
        wait_for(lambda: correlated(c), timeout=60)
    first.stop()

    # 2. What April would drop, listed without dropping anything.
    listed = cli_retention(data_dir, "2026-04-01T00:00:00Z", "--dry-run")
    assert "would drop events 202602" in listed  # the integration failure's month
    assert "would drop otel_traces 202601" in listed
    assert "keep events 202601: holds events of journeys still open" in listed  # SO-2
    assert "keep journeys 202601" in listed and "keep journey_events 202601" in listed
    assert "would drop dead_letters 202601" in listed  # received on January's clock: past 30 days
    assert "202610" not in listed  # within the 30 days

    # 3. The server on April's clock runs retention every second.
    env = {**RETENTION, "TOWER_CLOCK": "2026-04-01T00:00:00Z", "TOWER_RETENTION_INTERVAL_S": "1"}
    server = start_server(data_dir, env={**env, "TOWER_SLO_ENGINE": "false"})
    with httpx.Client(base_url=server.url, timeout=60) as c:
        wait_for(lambda: c.get("/v1/traces").json()["total"] == 0, timeout=30)
        wait_for(lambda: failures(c) == 0, timeout=30)
        # January is kept whole for SO-2, so SO-1 (delivered, old) is still there too
        assert [journey_of(c, o) for o in ("SO-1", "SO-2", "SO-3")] == [200, 200, 200]
        wait_for(lambda: c.get("/v1/dead-letters").json()["total"] == 0, timeout=30)
        # one refused in April is April's, and stays
        assert c.post("/v1/events", json={"specversion": "1.0"}).status_code == 400
        assert c.get("/v1/dead-letters").json()["total"] == 1

        # 4. SO-2 is cancelled (in January): nothing open is left in January, and it goes.
        post_events(c, [event("2b", "order.cancelled", "2026-01-12T10:00:00Z", "SO-2")])
        wait_for(lambda: journey_of(c, "SO-2") == 404, timeout=60)
        assert journey_of(c, "SO-1") == 404
        assert journey_of(c, "SO-3") == 200
        # a late word about a dropped order is accepted and correlated: the order starts over from it
        post_events(c, [event("1c", "order.invoiced", "2026-03-30T10:00:00Z", "SO-1")])
        wait_for(lambda: correlated(c), timeout=60)
        wait_for(lambda: journey_of(c, "SO-1") == 200, timeout=30)
        matches = c.get("/v1/lookup", params={"q": "SO-1"}).json()["matches"]
        late = c.get(f"/v1/journeys/{matches[0]['journeys'][0]}").json()
        assert [e["id"] for e in late["events"]] == ["1c"]

        # 5. A year on: October's closed journey and April's dead letter are past 30 days too.
        moved = c.post("/v1/admin/clock", json={"now": "2027-02-01T00:00:00Z"})
        assert moved.status_code == 200, moved.text
        wait_for(lambda: journey_of(c, "SO-3") == 404, timeout=60)
        wait_for(lambda: c.get("/v1/dead-letters").json()["total"] == 0, timeout=30)
        # its memberships go in the same run or, when that run still saw them in use, the next one
        wait_for(lambda: "dropped journey_events partition 202610" in server.log_path.read_text(), timeout=30)
    server.stop()

    # 6. Whole partitions went; no mutation ran; the identity graph stays.
    store = clickhouse_connect.get_client(dsn=f"chdb://{(data_dir / 'clickhouse').resolve()}")
    try:
        mutations = store.query(
            "SELECT table, command FROM system.mutations WHERE database = 'tower' AND table IN {tables:Array(String)}",
            parameters={"tables": [r.table for r in RULES]},
        ).result_rows
        assert mutations == []  # (the correlator prunes its own old snapshots with a DELETE; not retention)
        parts = store.query(
            # rows > 0: a dropped partition can show for a moment as the empty part that covers it
            "SELECT table, groupUniqArray(partition_id) FROM system.parts WHERE database = 'tower' AND active "
            "AND rows > 0 "
            "AND table IN ('events', 'journeys', 'journey_events', 'otel_traces', 'dead_letters') GROUP BY table"
        ).result_rows
        # all that is left is March: SO-1, started over by its late invoice, is open, so its month stays
        assert {t: sorted(p) for t, p in parts} == {t: ["202603"] for t in ("events", "journeys", "journey_events")}
        identifiers = store.query("SELECT count() FROM tower.identifiers").result_rows[0][0]
        assert identifiers >= 3
    finally:
        store.close()


def test_repartitioning_keeps_every_row_and_runs_twice(tmp_path: Path) -> None:
    """The migration's statements on a table with rows, then again (a run cut short is started over)."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path}")
    try:
        client.command("CREATE DATABASE IF NOT EXISTS tower ENGINE = Atomic")
        ddl = next(sql for m in MIGRATIONS if m.number == 1 for sql in m.sql)
        client.command(ddl.replace("{db}", "tower"))
        client.command(
            "INSERT INTO tower.events (tenant, source, id, seq, time) VALUES "
            "('a', 's', '1', 1, '2026-01-05 00:00:00'), ('a', 's', '2', 2, '2026-02-05 00:00:00'), "
            "('b', 's', '1', 3, '2026-02-06 00:00:00')"
        )
        statements = repartitioned(ddl, "events", "toYYYYMM(time)")
        for _ in range(2):
            for statement in statements:
                client.command(statement.replace("{db}", "tower"))
        rows = client.query("SELECT tenant, id, _partition_id FROM tower.events ORDER BY seq").result_rows
        assert rows == [("a", "1", "202601"), ("a", "2", "202602"), ("b", "1", "202602")]
        assert client.query("EXISTS TABLE tower.events_repartition").result_rows[0][0] == 0
    finally:
        client.close()


MOVES = [
    (m.number, s)
    for m in MIGRATIONS
    for s in m.sql
    if m.number in range(40, 50) or m.number in range(150, 160) or m.number in range(350, 360)
]


@pytest.mark.parametrize(("number", "sql"), MOVES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(MOVES)])
def test_retention_migrations_become_valid_on_cluster_ddl(number: int, sql: str, tmp_path: Path) -> None:
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path}")
    try:
        for statement in cluster_statements(sql, "main", "tower"):
            assert "ON CLUSTER 'main'" in statement or statement.lstrip().startswith("INSERT INTO")
            client.command("EXPLAIN AST " + statement.replace("{db}", "tower"))
    finally:
        client.close()


def test_a_month_partition_ends_with_its_last_microsecond() -> None:
    assert month_end("202601") == datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert month_end("202612") == datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
