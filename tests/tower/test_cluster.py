"""Cluster mode's DDL, generated from every migration's table definitions (no live cluster here:
ClickHouse's own parser, in chDB, checks that each generated statement is valid SQL)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator

import clickhouse_connect
import pytest

from collector.app import MIGRATIONS
from tower.cluster import cluster_command, cluster_statements

CREATES = [(m.number, sql) for m in MIGRATIONS for sql in m.sql if "CREATE TABLE" in sql]


@pytest.fixture(scope="module")
def parser() -> Iterator[object]:
    with tempfile.TemporaryDirectory() as path:
        client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
        yield client
        client.close()


def written_order_by(sql: str) -> str:
    """The ORDER BY as the migration writes it: up to the end of its line (the DDL puts it on its own)."""
    line = next(line for line in sql.splitlines() if line.strip().startswith("ORDER BY"))
    return line.strip().removeprefix("ORDER BY").strip()


def normal(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


@pytest.mark.parametrize(("number", "sql"), CREATES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CREATES)])
def test_every_table_becomes_a_replicated_local_table_and_a_distributed_one(
    number: int, sql: str, parser: object
) -> None:
    name = re.search(r"\{db\}\.(\w+)", sql).group(1)  # type: ignore[union-attr]
    local, distributed = cluster_statements(sql, "main", "tower")
    engine = re.search(r"ENGINE = (\w+)(\(\w*\))?", sql)
    assert engine is not None
    args = (engine.group(2) or "()")[1:-1]
    expected_engine = (
        f"ENGINE = Replicated{engine.group(1)}('/clickhouse/tables/{{shard}}/{{database}}/{name}_local', '{{replica}}'"
        + (f", {args})" if args else ")")
    )
    assert normal(local).startswith(f"CREATE TABLE IF NOT EXISTS {{db}}.{name}_local ON CLUSTER 'main' (")
    assert expected_engine in normal(local)
    # Columns, keys and settings are the migration's own.
    assert normal(sql.split("(", 1)[1].rsplit(") ENGINE", 1)[0]) in normal(local)
    assert normal(sql.split("ENGINE", 1)[1].split("MergeTree", 1)[1].lstrip("(" + args + ")")) in normal(local)
    order = written_order_by(sql)
    shard_key = f"cityHash64{order}" if order.startswith("(") else f"cityHash64({order})"
    assert normal(distributed) == (
        f"CREATE TABLE IF NOT EXISTS {{db}}.{name} ON CLUSTER 'main' AS {{db}}.{name}_local "
        f"ENGINE = Distributed('main', 'tower', '{name}_local', {shard_key})"
    )
    for statement in (local, distributed):  # ClickHouse parses both
        parser.command("EXPLAIN AST " + statement.replace("{db}", "tower"))  # type: ignore[attr-defined]


def test_mutations_go_to_the_local_tables_on_every_node() -> None:
    sql = "ALTER TABLE {db}.correlator_snapshots DELETE WHERE name = {name:String} AND seq < {seq:UInt64}"
    assert cluster_command(sql, "main") == (
        "ALTER TABLE {db}.correlator_snapshots_local ON CLUSTER 'main' "
        "DELETE WHERE name = {name:String} AND seq < {seq:UInt64}"
    )
    assert cluster_command("SELECT 1", "main") == "SELECT 1"


def test_a_statement_it_cannot_transform_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cannot transform"):
        cluster_statements("CREATE VIEW {db}.v AS SELECT 1", "main", "tower")


ALTERS = [(m.number, sql) for m in MIGRATIONS for sql in m.sql if sql.lstrip().startswith("ALTER TABLE")]


@pytest.mark.parametrize(("number", "sql"), ALTERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALTERS)])
def test_a_migrations_alter_goes_to_the_local_tables_and_a_new_column_to_the_distributed_table_too(
    number: int, sql: str, parser: object
) -> None:
    name = re.search(r"\{db\}\.(\w+)", sql).group(1)  # type: ignore[union-attr]
    change = sql.split(name, 1)[1].strip()
    statements = cluster_statements(sql, "main", "tower")
    local = f"ALTER TABLE {{db}}.{name}_local ON CLUSTER 'main' {change}"
    if " COLUMN " in change:  # the Distributed table has columns of its own
        assert statements == [local, f"ALTER TABLE {{db}}.{name} ON CLUSTER 'main' {change}"]
    else:  # a MergeTree setting: the Distributed table has none
        assert "MODIFY SETTING" in change
        assert statements == [local]
    for statement in statements:
        # Store.command passes every statement through cluster_command: one already ON CLUSTER stays as it is
        assert cluster_command(statement, "main") == statement
        parser.command("EXPLAIN AST " + statement.replace("{db}", "tower"))  # type: ignore[attr-defined]
