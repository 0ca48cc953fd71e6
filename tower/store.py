"""ClickHouse through clickhouse-connect: chDB in-process by default, an HTTP server by DSN.

One `Store` per process owns the clients, one per role (writer, correlator, reads), because a
clickhouse-connect client serialises its calls and chDB allows many handles on its one engine.
Every read that answers an API request goes through `Store.read`, which refuses SQL that does not
bind `{tenant:String}`: the tenant filter is added in one place and cannot be forgotten.
Driver errors become `StoreError`; only errors known to be transient are retried.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from pyarrow import ipc as pa_ipc

from tower.cluster import SESSION_SETTINGS, cluster_command, cluster_statements, quote

log = logging.getLogger(__name__)

ROLES = ("admin", "writer", "correlator", "slo", "read", "quarantine", "health", "telemetry")  # one client each
TABLE_READ = re.compile(r"\b(?:FROM|JOIN)\s+\{db\}\.", re.IGNORECASE)  # every table a read touches
TRANSIENT_CODES = {"TIMEOUT_EXCEEDED", "NETWORK_ERROR", "SOCKET_TIMEOUT", "TOO_MANY_SIMULTANEOUS_QUERIES"}


def _setting(value: Any) -> str:
    """A setting's value as SQL: numbers as they are, anything else a quoted string."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return quote(str(value))


class StoreError(RuntimeError):
    """A ClickHouse call failed; the message names the operation."""


# MergeTree settings of tables read by key (events, objects, identifiers, journeys; their DDL says
# so): a point read decompresses the blocks around its granules, so they are kept small.
POINT_READ_BLOCKS = "min_compress_block_size = 8192, max_compress_block_size = 65536"


# Point reads fetch their rows as they lie and pick and order them here, not with ClickHouse's
# `ORDER BY … LIMIT 1 BY key`: the sort sets up a merge of every part's stream, which cost chDB
# 1.5-3 ms of a 6-10 ms read at 10M events, while a point read returns a handful of rows.


def newest(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, dict[str, Any]]:
    """Each key's row with the highest `version` (every version not yet merged away is read)."""
    found: dict[Any, dict[str, Any]] = {}
    for row in rows:
        k = key(row)
        held = found.get(k)
        if held is None or row["version"] > held["version"]:
            found[k] = row
    return found


def firsts(
    rows: Iterable[dict[str, Any]], order: Callable[[dict[str, Any]], Any], key: Callable[[dict[str, Any]], Any]
) -> list[dict[str, Any]]:
    """The first row of each key in `order`, in that order: `ORDER BY order LIMIT 1 BY key`."""
    first: dict[Any, dict[str, Any]] = {}
    for row in sorted(rows, key=order):
        first.setdefault(key(row), row)
    return list(first.values())


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered, idempotent schema step. `sql` statements must use IF NOT EXISTS / IF EXISTS, or be
    idempotent as a whole (tower.retention.repartitioned: a copy made afresh on every run)."""

    number: int
    name: str
    sql: tuple[str, ...]


class Store:
    """The ClickHouse clients of one process and the database they work in."""

    def __init__(self, dsn: str, database: str = "tower", readers: int = 4, cluster: str | None = None) -> None:
        self.dsn = dsn
        self.database = database
        self.cluster = cluster  # tables made ON CLUSTER as replicated local + Distributed (tower/cluster.py)
        self.embedded = dsn.startswith("chdb:")
        if cluster and self.embedded:
            raise StoreError(
                f"cluster {cluster!r} needs a ClickHouse server DSN (http://host:8123/db), not {dsn}: "
                "embedded chDB is one engine, with no cluster to make tables ON CLUSTER on"
            )
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()
        # API reads run on a small pool of clients: one shared client would serialise every request.
        self._readers: queue.LifoQueue[Client] = queue.LifoQueue()
        self._reader_slots = threading.Semaphore(readers)
        self._all_readers: list[Client] = []

    @contextmanager
    def _reader(self) -> Iterator[Client]:
        with self._reader_slots:
            try:
                client = self._readers.get_nowait()
            except queue.Empty:
                client = self._connect()
                with self._lock:
                    self._all_readers.append(client)
            try:
                yield client
            finally:
                self._readers.put(client)

    def client(self, role: str) -> Client:
        with self._lock:
            client = self._clients.get(role)
            if client is None:
                client = self._connect()
                self._clients[role] = client
            return client

    def _connect(self) -> Client:
        try:
            if self.embedded:
                return clickhouse_connect.get_client(dsn=self.dsn)
            parsed = urlparse(self.dsn)
            return clickhouse_connect.get_client(
                dsn=self.dsn,
                database=(parsed.path.strip("/") or None),
                settings=dict(SESSION_SETTINGS) if self.cluster else None,  # sent with every request
            )
        except Exception as exc:  # the driver raises many types; one domain error says where
            raise StoreError(f"cannot connect to ClickHouse at {redact(self.dsn)}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for client in [*self._clients.values(), *self._all_readers]:
                try:
                    client.close()
                except Exception:  # closing is best effort at shutdown
                    log.debug("closing a ClickHouse client failed", exc_info=True)
            self._clients.clear()
            self._all_readers.clear()

    # --- calls -----------------------------------------------------------------------------------

    def command(self, sql: str, parameters: dict[str, Any] | None = None, role: str = "admin") -> Any:
        if self.cluster:
            sql = cluster_command(sql, self.cluster)
        return self._retry(lambda: self.client(role).command(self._qualify(sql), parameters=parameters), sql)

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        role: str = "read",
        binary: tuple[str, ...] = (),
    ) -> list[tuple]:
        """Rows as tuples. Columns named in `binary` come back as bytes instead of decoded text."""
        return list(self._query(sql, parameters, role, binary).result_rows)

    def query_dicts(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        role: str = "read",
        binary: tuple[str, ...] = (),
    ) -> list[dict]:
        """Rows as dicts by column name; `binary` as for `query`."""
        return list(self._query(sql, parameters, role, binary).named_results())

    def _query(self, sql: str, parameters: dict[str, Any] | None, role: str, binary: tuple[str, ...]) -> Any:
        formats: dict[str, str | dict[str, str]] | None = {name: "bytes" for name in binary} or None
        if role == "read":

            def pooled() -> Any:
                with self._reader() as client:
                    return client.query(self._qualify(sql), parameters=parameters, column_formats=formats)

            return self._retry(pooled, sql)
        return self._retry(
            lambda: self.client(role).query(self._qualify(sql), parameters=parameters, column_formats=formats), sql
        )

    def query_column(self, sql: str, parameters: dict[str, Any] | None = None, role: str = "read") -> Any:
        """The first column of the result as a numpy array (no Python object per row)."""
        result = self._retry(lambda: self.client(role).query_np(self._qualify(sql), parameters=parameters), sql)
        return result[:, 0] if result.size else result.reshape(0)

    def read(
        self, sql: str, tenant: str, parameters: dict[str, Any] | None = None, binary: tuple[str, ...] = ()
    ) -> list[dict]:
        """A tenant-scoped read for the query API: the SQL must filter on `{tenant:String}`, once for
        every table it reads (`FROM`/`JOIN {db}.…`), so a subquery cannot read another tenant's rows."""
        tables = len(TABLE_READ.findall(sql))
        if "{tenant:String}" not in sql or sql.count("{tenant:String}") < tables:
            raise StoreError(
                f"a tenant-scoped read must filter every table it reads on {{tenant:String}}: it reads {tables} "
                f"table(s) and binds the tenant {sql.count('{tenant:String}')} time(s)"
            )
        return self.query_dicts(sql, {**(parameters or {}), "tenant": tenant}, role="read", binary=binary)

    def insert_arrow(self, table: str, data: Any, role: str = "writer", settings: dict[str, Any] | None = None) -> None:
        if self.embedded:
            self._insert_arrow_stream(table, data, role, settings or {})
            return
        self._retry(
            lambda: self.client(role).insert_arrow(f"{self.database}.{table}", data, settings=settings),
            f"INSERT {table}",
        )

    def _insert_arrow_stream(self, table: str, data: Any, role: str, settings: dict[str, Any]) -> None:
        """Embedded: the table written as an Arrow stream to a file chDB reads, batch by batch.

        clickhouse-connect's `insert_arrow` makes an Arrow file in memory, copies it into bytes and
        writes those to a file chDB reads whole. For a 34 MB table (a correlator step's journey rows)
        that took 118-743 ms and up to 194 MB more memory; this way, 64-86 ms and 33 MB."""
        columns = ", ".join(quote_identifier(name) for name in data.schema.names)
        clause = ", ".join(f"{name} = {_setting(value)}" for name, value in settings.items())
        with tempfile.NamedTemporaryFile(prefix="tower-insert-", suffix=".arrows", delete=False) as sink:
            path = sink.name
            with pa_ipc.new_stream(sink, data.schema) as writer:
                writer.write_table(data)
        try:
            sql = (
                f"INSERT INTO {self.database}.{table} ({columns}) FROM INFILE {quote(path)}"
                f"{f' SETTINGS {clause}' if clause else ''} FORMAT ArrowStream"
            )
            self._retry(lambda: self.client(role).command(sql), f"INSERT {table}")
        finally:
            os.unlink(path)

    def insert_rows(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], role: str) -> None:
        if not rows:
            return
        self._retry(
            lambda: self.client(role).insert(f"{self.database}.{table}", rows, column_names=list(columns)),
            f"INSERT {table}",
        )

    def _qualify(self, sql: str) -> str:
        return sql.replace("{db}", self.database)

    def _retry(self, call: Any, what: str) -> Any:
        delay = 0.05
        for attempt in range(4):
            try:
                return call()
            except (ClickHouseError, OperationalError) as exc:
                transient = isinstance(exc, OperationalError) or any(c in str(exc) for c in TRANSIENT_CODES)
                if not transient or attempt == 3:
                    raise StoreError(f"ClickHouse failed on {_first_line(what)}: {exc}") from exc
                log.warning("transient ClickHouse error on %s, retrying: %s", _first_line(what), exc)
                time.sleep(delay)
                delay *= 4
        raise AssertionError("unreachable")

    # --- schema ----------------------------------------------------------------------------------

    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations not yet recorded, in number order; return the numbers applied."""
        check_migrations(migrations)
        engine = " ENGINE = Atomic" if self.embedded else ""
        on_cluster = f" ON CLUSTER {quote(self.cluster)}" if self.cluster else ""
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.database}{on_cluster}{engine}")
        for statement in self._statements(
            "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (number UInt32, name String, "
            "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY number"
        ):
            self.command(statement)
        done = {row[0] for row in self.query("SELECT number FROM {db}.schema_migrations", role="admin")}
        applied = []
        for migration in sorted(migrations, key=lambda m: m.number):
            if migration.number in done:
                continue
            # Said before, too: a migration that copies rows (13 on a store full of spans) runs minutes.
            log.info("applying migration %04d %s", migration.number, migration.name)
            for sql in migration.sql:
                for statement in self._statements(sql):
                    self.command(statement)
            self.command(
                "INSERT INTO {db}.schema_migrations (number, name) VALUES ({n:UInt32}, {name:String})",
                {"n": migration.number, "name": migration.name},
            )
            applied.append(migration.number)
            log.info("applied migration %04d %s", migration.number, migration.name)
        return applied

    def unmaterialized(self) -> list[tuple[str, str]]:
        """(table, column) of the columns with a DEFAULT that some active part does not store: a
        migration added them after the part was written, so every read of it computes them again
        (migration 50's `events.system`, say, from each payload). On a cluster: this node's parts."""
        defaults = self.query(
            "SELECT table, name FROM system.columns WHERE database = {db:String} "
            "AND default_kind IN ('DEFAULT', 'MATERIALIZED') ORDER BY table, name",
            {"db": self.database},
            role="admin",
        )
        # One read of the parts, so a merge finishing between two reads cannot look like a part
        # without the column.
        parts: dict[str, set[str]] = {}
        stored: dict[tuple[str, str], set[str]] = {}
        for table, part, column in self.query(
            "SELECT table, name, column FROM system.parts_columns WHERE database = {db:String} AND active",
            {"db": self.database},
            role="admin",
        ):
            parts.setdefault(table, set()).add(part)
            stored.setdefault((table, column), set()).add(part)
        return [(t, c) for t, c in defaults if stored.get((t, c), set()) != parts.get(t, set())]

    def materialize(self) -> list[tuple[str, str]]:
        """Write the `unmaterialized` columns into every part, waiting for it (a rewrite of those
        columns: 10 s for `events`' three at 10M rows here); return what was written."""
        done = self.unmaterialized()
        for table, column in done:
            if self.cluster and table.endswith("_local"):
                table = table.removesuffix("_local")  # `command` aims the ALTER at the local tables
            self.command(
                f"ALTER TABLE {{db}}.{table} MATERIALIZE COLUMN {quote_identifier(column)} SETTINGS mutations_sync = 2"
            )
            log.info("materialized column %s of %s", column, table)
        return done

    def _statements(self, sql: str) -> list[str]:
        return cluster_statements(sql, self.cluster, self.database) if self.cluster else [sql]


def stored_seqs(store: Store, keys: Sequence[tuple[str, str, str]], role: str) -> dict[tuple[str, str, str], int]:
    """Of these idempotency keys (tenant, source, id), the ones in `events`, with the seq each is stored under."""
    found: dict[tuple[str, str, str], int] = {}
    by_tenant: dict[str, list[tuple[str, str]]] = {}
    for tenant, source, event_id in keys:
        by_tenant.setdefault(tenant, []).append((source, event_id))
    for tenant, pairs in by_tenant.items():
        for start in range(0, len(pairs), 5_000):
            rows = store.query(
                "SELECT source, id, min(seq) FROM {db}.events WHERE tenant = {tenant:String} "
                "AND (source, id) IN {keys:Array(Tuple(String, String))} GROUP BY source, id",
                {"tenant": tenant, "keys": pairs[start : start + 5_000]},
                role=role,
            )
            found.update(((tenant, s, i), int(seq)) for s, i, seq in rows)
    return found


def check_migrations(migrations: Sequence[Migration]) -> None:
    seen: dict[int, str] = {}
    for migration in migrations:
        if migration.number in seen:
            raise ValueError(
                f"migrations {seen[migration.number]!r} and {migration.name!r} share number {migration.number}"
            )
        seen[migration.number] = migration.name


def redact(dsn: str) -> str:
    parsed = urlparse(dsn)
    if parsed.password:
        return dsn.replace(f":{parsed.password}@", ":***@")
    return dsn


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:120] if text.strip() else text
