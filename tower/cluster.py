"""Cluster mode: the same table definitions, made ON CLUSTER as replicated local tables plus
Distributed tables under the original names.

`TOWER_CLICKHOUSE_CLUSTER=name` turns every migration's `CREATE TABLE IF NOT EXISTS {db}.t (…)
ENGINE = E(args) …` into

- `{db}.t_local ON CLUSTER name`, engine `ReplicatedE('/clickhouse/tables/{shard}/{database}/t_local',
  '{replica}', args)`, columns, keys and settings unchanged; and
- `{db}.t ON CLUSTER name AS {db}.t_local ENGINE = Distributed(name, db, t_local, cityHash64(<ORDER BY>))`.

Sharding by the hash of the sorting key keeps every version of one row (ReplacingMergeTree) on
one shard, so replacement works as on one server. Reads and inserts go through the Distributed
tables with unchanged SQL; mutations (`ALTER TABLE … DELETE/UPDATE/MODIFY`, retention's `DROP
PARTITION`) go to the local tables ON CLUSTER (`cluster_command`); a migration that changes columns
(`ALTER TABLE … ADD COLUMN`) changes the local tables, then the Distributed table (which has
columns of its own, and computes a DEFAULT for an insert that leaves the column out);
re-partitioning migrations (`DROP TABLE`, `INSERT … SELECT`, `EXCHANGE TABLES`) are turned as
`_moving_rows` says.

A read of a Distributed table filtered by `IN (SELECT … FROM {db}.<Distributed>)`, or joining one,
keeps its SQL too, by a setting: every client a cluster `Store` opens sends `SESSION_SETTINGS`. By
default ClickHouse refuses such a read on more than one shard (`distributed_product_mode = 'deny'`),
and running the subquery on each shard against that shard's rows would be wrong here, since every
table is sharded by its own key (a journey's `journey_events` rows are not on the shard of its
`journeys` row). `'global'` has the server rewrite the IN/JOIN to `GLOBAL IN`/`GLOBAL JOIN`: the
subquery runs once, on the node queried, and its rows go to every shard with the query (so its
result is held in memory and sent once per shard: keep it to the keys needed).

Only strings are transformed here: no cluster is contacted.
"""

from __future__ import annotations

import re

# Session settings of every client a cluster Store opens (Store._connect): IN/JOIN subqueries over
# Distributed tables become GLOBAL (the module's docstring says why).
SESSION_SETTINGS = {"distributed_product_mode": "global"}

CREATE = re.compile(
    r"^\s*CREATE TABLE IF NOT EXISTS (?P<table>\{db\}\.(?P<name>\w+))\s*\((?P<body>.*)\)\s*"
    r"ENGINE\s*=\s*(?P<engine>\w*MergeTree)(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$",
    re.DOTALL,
)
ORDER_BY = re.compile(r"ORDER BY\s+")
ALTER = re.compile(r"^\s*ALTER TABLE \{db\}\.(?P<name>\w+)\s+(?!ON CLUSTER\b)(?P<rest>.*)$", re.DOTALL)
COLUMNS = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN\b", re.IGNORECASE)
DROP = re.compile(r"^\s*DROP TABLE IF EXISTS \{db\}\.(?P<name>\w+)\s*$")
EXCHANGE = re.compile(r"^\s*EXCHANGE TABLES \{db\}\.(?P<a>\w+) AND \{db\}\.(?P<b>\w+)\s*$")
INSERT_SELECT = re.compile(r"^\s*INSERT INTO \{db\}\.\w+ SELECT .*$", re.DOTALL)


def quote(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cluster_statements(statement: str, cluster: str, database: str) -> list[str]:
    """One migration statement as it runs on a cluster (a CREATE TABLE becomes two statements)."""
    create = CREATE.match(statement)
    if create is None:
        alter = ALTER.match(statement)
        if alter is not None:
            if COLUMNS.match(alter["rest"]):
                distributed = f"ALTER TABLE {{db}}.{alter['name']} ON CLUSTER {quote(cluster)} {alter['rest']}"
                return [cluster_command(statement, cluster), distributed]
            return [cluster_command(statement, cluster)]
        return _moving_rows(statement, cluster)
    name, engine, rest = create["name"], create["engine"], create["rest"]
    key = sorting_key(rest)
    if key is None:
        raise ValueError(f"table {name}: cluster mode needs an ORDER BY to shard by")
    local = f"{name}_local"
    path = f"'/clickhouse/tables/{{shard}}/{{database}}/{local}'"
    args = ", ".join(a for a in (path, "'{replica}'", (create["args"] or "").strip()) if a)
    sharding = f"cityHash64{key}" if key.startswith("(") else f"cityHash64({key})"
    return [
        f"CREATE TABLE IF NOT EXISTS {{db}}.{local} ON CLUSTER {quote(cluster)} ({create['body']}) "
        f"ENGINE = Replicated{engine}({args}){rest}",
        f"CREATE TABLE IF NOT EXISTS {{db}}.{name} ON CLUSTER {quote(cluster)} AS {{db}}.{local} "
        f"ENGINE = Distributed({quote(cluster)}, {quote(database)}, {quote(local)}, {sharding})",
    ]


def _moving_rows(statement: str, cluster: str) -> list[str]:
    """The statements that re-partition a table (tower/retention.py `repartitioned`): drop a
    Distributed table and its local tables, exchange the local tables on every node (each
    Distributed table keeps pointing at its `_local` name, now the new data), and copy rows
    through the Distributed tables, waiting for the shards to have them before the exchange."""
    drop = DROP.match(statement)
    if drop is not None:
        name = drop["name"]
        return [
            f"DROP TABLE IF EXISTS {{db}}.{name} ON CLUSTER {quote(cluster)} SYNC",
            f"DROP TABLE IF EXISTS {{db}}.{name}_local ON CLUSTER {quote(cluster)} SYNC",
        ]
    exchange = EXCHANGE.match(statement)
    if exchange is not None:
        return [
            f"EXCHANGE TABLES {{db}}.{exchange['a']}_local AND {{db}}.{exchange['b']}_local ON CLUSTER {quote(cluster)}"
        ]
    if INSERT_SELECT.match(statement):
        return [statement.rstrip() + " SETTINGS insert_distributed_sync = 1"]
    raise ValueError(f"cluster mode cannot transform this statement: {statement.strip()[:120]!r}")


def sorting_key(rest: str) -> str | None:
    """The ORDER BY expression after the engine: a parenthesised tuple (nested calls and all) or one
    column or call."""
    found = ORDER_BY.search(rest)
    if found is None:
        return None
    text = rest[found.end() :]
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and text.startswith("("):
                return text[: i + 1]
        elif depth == 0 and (ch.isspace() or ch == ","):
            return text[:i]
    return text.strip() or None


def cluster_command(statement: str, cluster: str) -> str:
    """A mutation of a table, aimed at its local tables on every node (one already ON CLUSTER is
    left as it is: `Store.command` sees migrations' statements after `cluster_statements`)."""
    alter = ALTER.match(statement)
    if alter is None:
        return statement
    return f"ALTER TABLE {{db}}.{alter['name']}_local ON CLUSTER {quote(cluster)} {alter['rest']}"
