"""Retention's reads and drops as they reach ClickHouse: on a cluster, the parts of every replica of
every shard, counted once per shard, and drops aimed at the local tables ON CLUSTER (no live cluster
here: a recording client stands in for the driver behind a real `Store`); on chDB, as before."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import REPO
from tower.retention import Retention, shard_totals
from tower.store import Store

APRIL = datetime(2026, 4, 15, tzinfo=UTC)  # 30 days back: January and February are past, March is not

# (shard, replica, partition, rows) of dead_letters_local, as each replica's system.parts sums them
REPLICA_PARTS = [
    ("01", "r1", "202601", 100),
    ("01", "r2", "202601", 100),  # the other copy of shard 01's January
    ("01", "r1", "202602", 5),
    ("01", "r2", "202602", 5),
    ("02", "r1", "202601", 40),
    ("02", "r2", "202601", 30),  # behind on fetches: 10 of shard 02's January rows not here yet
    ("02", "r1", "202603", 7),  # March lives on shard 02 only
    ("02", "r2", "202603", 7),
]


class RecordingClient:
    """Stands in for a clickhouse-connect client: records every statement, answers `system.parts`
    reads with `parts` and every other query with no rows."""

    def __init__(self, parts: list[tuple[Any, ...]]) -> None:
        self.parts = parts
        self.queries: list[tuple[str, dict[str, Any]]] = []
        self.commands: list[str] = []

    def query(self, sql: str, parameters: dict[str, Any] | None = None, column_formats: Any = None) -> Any:
        self.queries.append((sql, parameters or {}))
        return SimpleNamespace(result_rows=self.parts if "system.parts" in sql else [])

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self.commands.append(sql)

    def close(self) -> None:
        pass


def recorded_store(
    monkeypatch: pytest.MonkeyPatch, cluster: str | None, parts: list[tuple[Any, ...]]
) -> tuple[Store, RecordingClient]:
    store = Store("http://clickhouse.invalid:8123", "tower", cluster=cluster)
    client = RecordingClient(parts)
    monkeypatch.setattr(store, "_connect", lambda: client)
    return store, client


def test_a_shard_counts_once_as_its_fullest_replica() -> None:
    assert shard_totals(REPLICA_PARTS) == [("202601", 140), ("202602", 5), ("202603", 7)]
    # a partition only an empty covering part is left of, or one that is not a month, is no partition to drop
    assert shard_totals([("01", "r1", "202601", 0), ("01", "r1", "all", 9)]) == []


def test_on_a_cluster_the_parts_of_every_replica_of_every_shard_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    store, client = recorded_store(monkeypatch, "prod's", REPLICA_PARTS)
    assert Retention(store, {}).partitions("dead_letters") == [("202601", 140), ("202602", 5), ("202603", 7)]
    [(sql, parameters)] = client.queries
    assert "FROM clusterAllReplicas('prod\\'s', system.parts)" in sql  # quoted as tower/cluster.py quotes it
    assert "GROUP BY shard, replica, partition_id" in sql
    assert "getMacro('shard') AS shard" in sql and "getMacro('replica') AS replica" in sql
    assert parameters == {"database": "tower", "table": "dead_letters_local"}


def test_on_a_cluster_a_drop_goes_to_the_local_tables_on_every_node(monkeypatch: pytest.MonkeyPatch) -> None:
    store, client = recorded_store(monkeypatch, "main", REPLICA_PARTS)
    drops = Retention(store, {"dead_letters": 30}).apply(APRIL)
    assert [(d.table, d.partition, d.rows) for d in drops] == [
        ("dead_letters", "202601", 140),
        ("dead_letters", "202602", 5),
    ]
    assert client.commands == [
        "ALTER TABLE tower.dead_letters_local ON CLUSTER 'main' DROP PARTITION ID '202601'",
        "ALTER TABLE tower.dead_letters_local ON CLUSTER 'main' DROP PARTITION ID '202602'",
    ]


def test_on_one_server_the_parts_are_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    store, client = recorded_store(monkeypatch, None, [("202601", 3)])
    assert Retention(store, {}).partitions("dead_letters") == [("202601", 3)]
    [(sql, parameters)] = client.queries
    assert "FROM system.parts WHERE" in sql and "cluster" not in sql.lower()
    assert parameters == {"database": "tower", "table": "dead_letters"}


def on_chdb(path: str, statements: str) -> None:
    """Run in a child (chDB hosts one engine path per process): dead letters in three months on a
    migrated store, the plan for April with a 30-day TTL, the drops applied; and ClickHouse's parser
    on the cluster path's statements (JSON [sql, parameters] pairs). Print what is left."""
    from collector.app import MIGRATIONS

    store = Store(f"chdb://{path}")
    store.migrate(MIGRATIONS)
    store.command(
        "INSERT INTO {db}.dead_letters (tenant, received_at, id, reason) VALUES "
        "('t', '2026-01-05 00:00:00', 'a', 'r'), ('t', '2026-01-06 00:00:00', 'b', 'r'), "
        "('t', '2026-02-05 00:00:00', 'c', 'r'), ('t', '2026-03-30 00:00:00', 'd', 'r')"
    )
    retention = Retention(store, {"dead_letters": 30})
    before = retention.partitions("dead_letters")
    drops = retention.apply(APRIL)
    left = store.query("SELECT id FROM {db}.dead_letters ORDER BY id", role="admin")
    for sql, parameters in json.loads(statements):
        store.query("EXPLAIN AST " + sql, parameters, role="admin")
    print(json.dumps({"before": before, "drops": [[d.table, d.partition, d.rows] for d in drops], "left": left}))
    store.close()


def test_on_chdb_old_months_are_dropped_as_before_and_the_cluster_reads_parse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store, client = recorded_store(monkeypatch, "main", REPLICA_PARTS)
    Retention(store, {"dead_letters": 30}).plan(APRIL)
    statements = json.dumps(client.queries)
    code = "import sys; from tests.tower.test_retention import on_chdb; on_chdb(sys.argv[1], sys.argv[2])"
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ch"), statements],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == [["202601", 2], ["202602", 1], ["202603", 1]]
    assert result["drops"] == [["dead_letters", "202601", 2], ["dead_letters", "202602", 1]]
    assert result["left"] == [["d"]]
