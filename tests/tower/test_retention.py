"""Retention's reads and drops as they reach ClickHouse: on a cluster, the parts of every replica of
every shard, counted once per shard, and drops aimed at the local tables ON CLUSTER (no live cluster
here: a recording client stands in for the driver behind a real `Store`); on chDB, as before."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import REPO
from tower.retention import GROUPS, RULES, Retention, shard_totals
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
    reads with `parts`, the correlator's checkpoint with nothing applied, every other query with no rows."""

    def __init__(self, parts: list[tuple[Any, ...]]) -> None:
        self.parts = parts
        self.queries: list[tuple[str, dict[str, Any]]] = []
        self.commands: list[str] = []

    def query(self, sql: str, parameters: dict[str, Any] | None = None, column_formats: Any = None) -> Any:
        self.queries.append((sql, parameters or {}))
        if "system.parts" in sql:
            return SimpleNamespace(result_rows=self.parts)
        return SimpleNamespace(result_rows=[("default", 0, {})] if "correlator_checkpoint" in sql else [])

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


def planned_queries(monkeypatch: pytest.MonkeyPatch, cluster: str | None) -> list[tuple[str, dict[str, Any]]]:
    """What a plan for April with every group's TTL at 30 days reads."""
    store, client = recorded_store(monkeypatch, cluster, REPLICA_PARTS if cluster else [("202601", 1)])
    Retention(store, dict.fromkeys(GROUPS, 30.0)).plan(APRIL)
    return client.queries


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


def test_on_a_cluster_a_read_filtered_by_a_subquery_sends_the_subquerys_rows_to_every_shard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sql = [q for q, _ in planned_queries(monkeypatch, "main")]
    # a plain IN (SELECT … FROM <Distributed>) inside a read of a Distributed table is refused on two shards
    assert [q for q in sql if re.search(r"(?<!GLOBAL) IN \(\s*SELECT", q)] == []
    subqueries = [q for q in sql if "GLOBAL IN (" in q]
    assert [re.search(r"FROM tower\.(\w+)", q).group(1) for q in subqueries] == [  # type: ignore[union-attr]
        "journey_events",  # events: months holding events of journeys still open
        "journey_events",  # journey_events: every month of the journeys with a row in a candidate month
        "journeys",  # journeys: the same
        "slo_alerts",  # slo_alerts: months holding alerts still pending or firing
    ]


def test_on_one_server_the_reads_are_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    sql = [q for q, _ in planned_queries(monkeypatch, None)]
    assert not [q for q in sql if "GLOBAL" in q or "cluster" in q.lower()]
    assert len([q for q in sql if re.search(r" IN \(\s*SELECT", q)]) == 4


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
    cluster_only = [(q, p) for q, p in planned_queries(monkeypatch, "main") if "GLOBAL" in q or "cluster" in q]
    assert len(cluster_only) == len(RULES) + 4  # every table's parts, the four subquery filters
    statements = json.dumps(cluster_only)
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


def test_a_kafka_fed_correlator_keeps_the_months_of_a_partition_it_is_behind_on(tmp_path: Path) -> None:
    """Fed from Kafka, seqs are in order within a log partition only: a correlator far along one
    partition and behind on another has a high seq, yet January holds events it has not applied.
    Its checkpoint's positions keep January until it has; an in-order correlator is judged by its seq."""
    from collector.app import MIGRATIONS
    from collector.writer import EVENT_TIME, event_table
    from tower.events import event_key_hash, validate_event
    from tower.kafka import kafka_seq

    def stored(partition: int, offset: int, time: str) -> tuple[int, Any]:
        event, problems = validate_event(
            {"specversion": "1.0", "id": f"e-{partition}-{offset}", "source": "erp", "type": "order.received",
             "time": time, "data": {"objects": [{"type": "order", "ids": {"erp": f"SO-{partition}-{offset}"}}]}}
        )  # fmt: skip
        assert event is not None, problems
        return kafka_seq(partition, offset), event

    rows = [stored(0, o, "2026-01-10T00:00:00Z") for o in range(5)]  # partition 0: January only
    rows += [stored(1, o, "2026-01-10T00:00:00Z" if o < 5 else "2026-03-10T00:00:00Z") for o in range(50)]
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        store.migrate(MIGRATIONS)
        events = [e for _, e in rows]
        hashes = [event_key_hash(e.tenant, e.source, e.id) for e in events]
        times = pa.array([e.time for e in events], EVENT_TIME)
        store.insert_arrow("events", event_table(events, [s for s, _ in rows], hashes, times, APRIL))
        retention = Retention(store, {"events": 30})

        def checkpoint(name: str, seq: int, positions: dict[int, int]) -> list[tuple[str, str, str]]:
            store.insert_rows(
                "correlator_checkpoint",
                [[name, seq, datetime.now(UTC), positions]],
                ["name", "seq", "at", "positions"],
                role="admin",
            )
            _, kept = retention.plan(APRIL)
            return [(k.table, k.partition, k.reason) for k in kept]

        behind = [("events", "202601", "holds events the correlator has not applied yet")]
        # partition 1 applied to its end, partition 0 to offset 3 of 5: the highest seq passes January's
        assert checkpoint("kafka", kafka_seq(1, 49), {0: 3, 1: 50}) == behind
        assert checkpoint("kafka", kafka_seq(1, 49), {0: 5, 1: 50}) == []
        # a partition the checkpoint does not name has had nothing applied
        assert checkpoint("kafka", kafka_seq(1, 49), {1: 50}) == behind
        assert checkpoint("kafka", kafka_seq(1, 49), {0: 5, 1: 50}) == []
        # an in-order correlator beside it (no positions): January waits for its seq too
        assert checkpoint("embedded", kafka_seq(0, 4) - 1, {}) == behind
        assert checkpoint("embedded", kafka_seq(1, 49), {}) == []
        assert [d.partition for d in retention.apply(APRIL)] == ["202601"]
    finally:
        store.close()
