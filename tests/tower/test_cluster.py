"""Cluster mode's DDL, generated from every migration's table definitions, and the session settings
of a cluster Store's clients (no live cluster here: ClickHouse's own parser, in chDB, checks that
each generated statement is valid SQL, and chDB that the settings are ones ClickHouse takes; a
recording stand-in for the driver shows which clients a Store makes with them)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import clickhouse_connect
import pytest

from collector.app import MIGRATIONS
from correlator.queries import journey_events
from tower.cluster import SESSION_SETTINGS, cluster_command, cluster_statements
from tower.store import ROLES, Store, StoreError

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


class RecordingClient:
    """Stands in for a clickhouse-connect client: keeps the arguments it was made with and the SQL it
    was sent; every query answers no rows."""

    def __init__(self, made_with: dict[str, Any]) -> None:
        self.made_with = made_with
        self.sent: list[str] = []

    def query(self, sql: str, parameters: dict[str, Any] | None = None, column_formats: Any = None) -> Any:
        self.sent.append(sql)
        return SimpleNamespace(result_rows=[], named_results=list)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self.sent.append(sql)

    def close(self) -> None:
        pass


def recording_driver(monkeypatch: pytest.MonkeyPatch) -> list[RecordingClient]:
    """Every client a Store makes from here on, in the order made."""
    made: list[RecordingClient] = []

    def get_client(**kwargs: Any) -> RecordingClient:
        made.append(RecordingClient(kwargs))
        return made[-1]

    monkeypatch.setattr(clickhouse_connect, "get_client", get_client)
    return made


def test_every_client_of_a_cluster_store_has_subqueries_over_distributed_tables_made_global(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = recording_driver(monkeypatch)
    store = Store("http://clickhouse.invalid:8123/tower", "tower", cluster="main")
    for role in ROLES:
        store.client(role)
    store.command("SELECT 1")  # admin's client, made already: not made again
    # An API read filtered by a subquery of another Distributed table, on the pool of readers beside
    # the role clients (two at once here, so two readers: each is a client of its own).
    with store._reader():
        store.read(
            "SELECT source, event_id FROM {db}.journey_events WHERE tenant = {tenant:String} AND journey_id IN "
            "(SELECT journey_id FROM {db}.journeys WHERE tenant = {tenant:String} AND stage = 'manifested')",
            "t",
        )
    assert len(made) == len(ROLES) + 2
    for client in made:
        assert client.made_with == {
            "dsn": "http://clickhouse.invalid:8123/tower",
            "database": "tower",
            "settings": {"distributed_product_mode": "global"},
        }
    [read] = made[-1].sent
    assert "AND journey_id IN (SELECT journey_id FROM tower.journeys WHERE" in read
    assert "GLOBAL" not in read  # the server rewrites it: the SQL is the one chDB runs


def test_an_embedded_store_and_a_single_server_make_their_clients_as_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made = recording_driver(monkeypatch)
    embedded = Store(f"chdb://{tmp_path}/ch")
    server = Store("http://clickhouse.invalid:8123/tower", "tower")
    for store in (embedded, server):
        for role in ROLES:
            store.client(role)
        journey_events(store, "t", "j1")
    assert [c.made_with for c in made[: len(ROLES) + 1]] == [{"dsn": f"chdb://{tmp_path}/ch"}] * (len(ROLES) + 1)
    assert [c.made_with for c in made[len(ROLES) + 1 :]] == [
        {"dsn": "http://clickhouse.invalid:8123/tower", "database": "tower", "settings": None}
    ] * (len(ROLES) + 1)


def test_the_session_settings_are_ones_clickhouse_takes_and_change_its_default(parser: Any) -> None:
    setting = "SELECT getSetting('distributed_product_mode')"
    assert parser.query(setting).result_rows == [("deny",)]  # refuses a double-distributed IN/JOIN
    assert parser.query(setting, settings=SESSION_SETTINGS).result_rows == [("global",)]
    with pytest.raises(Exception, match="UNKNOWN_DISTRIBUTED_PRODUCT_MODE"):  # a value it does not know fails
        parser.query("SELECT 1", settings={"distributed_product_mode": "globl"})


def test_a_store_on_embedded_chdb_refuses_a_cluster(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path}/ch"
    with pytest.raises(StoreError, match=rf"cluster 'main' needs a ClickHouse server DSN .*, not {re.escape(dsn)}: "):
        Store(dsn, "tower", cluster="main")
    Store(dsn, "tower", cluster="")  # empty, as an empty TOWER_CLICKHOUSE_CLUSTER reads: no cluster, not refused
