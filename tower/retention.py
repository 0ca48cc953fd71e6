"""Retention: whole partitions dropped once older than their table's TTL, never `ALTER … DELETE`.

Every table that grows with traffic is partitioned by month of a time column (the migrations of
`repartitioned` move the tables made before, rows and all). A partition is dropped when the whole
month ended more than `TOWER_RETENTION_<GROUP>_DAYS` before the tower's clock (0 keeps forever), and
only when nothing still in use lives in it:

- raw `events`: never a month holding an event of a journey not yet closed (open or exception: its
  state may still be rebuilt from the log) nor one the correlator has not applied yet;
- journey state (`journeys`, `journey_events`): only closed journeys (delivered, cancelled,
  rejected) whose last event is older than the TTL, and a month only when every journey with a row
  in it — every version — can go, so no stale version of a journey outlives its newest one;
- `slo_alerts`: never a month holding an alert still pending or firing.

The identity graph (`objects`, `identifiers`, `relations`, `merges`) is kept: reference objects
(customers, products) are shared by old and new journeys, so it cannot be aged by time; it costs a
few rows per identifier. Maintenance reads here span every tenant, so they use `Store.query`, not
the tenant-scoped `Store.read` of the API.

On a cluster (tower/cluster.py) the partitions are read from every replica of every shard, the rows
in use through the Distributed tables, and a drop goes to the local tables ON CLUSTER
(`Store.command`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tower.clock import Clock
from tower.cluster import quote
from tower.kafka import PARTITION_MASK, kafka_seq
from tower.store import Store

log = logging.getLogger(__name__)

CLOSED = ("delivered", "cancelled", "rejected")


@dataclass(frozen=True, slots=True)
class Rule:
    """A table, the retention group whose TTL applies to it, and the time column it is partitioned by."""

    table: str
    group: str  # events, dead_letters, telemetry, journeys, slo: TOWER_RETENTION_<GROUP>_DAYS
    column: str


RULES = (
    Rule("events", "events", "time"),
    Rule("webhook_deliveries", "events", "received_at"),
    Rule("dead_letters", "dead_letters", "received_at"),
    Rule("otel_traces", "telemetry", "Timestamp"),
    Rule("spans_by_trace", "telemetry", "Timestamp"),
    Rule("otel_traces_trace_id_ts", "telemetry", "Start"),
    Rule("otel_logs", "telemetry", "TimestampTime"),
    Rule("span_links", "telemetry", "Timestamp"),
    Rule("journey_events", "journeys", "time"),
    Rule("journeys", "journeys", "started_at"),
    Rule("slo_alerts", "slo", "starts_at"),
    Rule("slo_notifications", "slo", "at"),
)
GROUPS = ("events", "dead_letters", "telemetry", "journeys", "slo")


def repartitioned(create_sql: str, table: str, partition_by: str) -> tuple[str, ...]:
    """The statements that give an existing table a PARTITION BY, keeping its rows: a copy made
    with the same DDL plus the partition key, filled, swapped in with EXCHANGE TABLES, the old one
    dropped. Idempotent: a run cut short anywhere starts over from a fresh copy."""
    copy = f"{table}_repartition"
    head = f"{{db}}.{table} ("
    if head not in create_sql or "ORDER BY" not in create_sql:
        raise ValueError(f"repartitioned: the DDL given is not {table}'s CREATE TABLE with an ORDER BY")
    ddl = create_sql.replace(head, f"{{db}}.{copy} (", 1)
    ddl = re.sub(
        r"\n(\s*)ORDER BY", lambda m: f"\n{m.group(1)}PARTITION BY {partition_by}\n{m.group(1)}ORDER BY", ddl, count=1
    )
    return (
        f"DROP TABLE IF EXISTS {{db}}.{copy}",
        ddl,
        f"INSERT INTO {{db}}.{copy} SELECT * FROM {{db}}.{table}",
        f"EXCHANGE TABLES {{db}}.{table} AND {{db}}.{copy}",
        f"DROP TABLE IF EXISTS {{db}}.{copy}",
    )


@dataclass(frozen=True, slots=True)
class Drop:
    table: str
    partition: str  # partition id, YYYYMM
    rows: int
    newest: datetime  # the newest time the month can hold


@dataclass(frozen=True, slots=True)
class Kept:
    table: str
    partition: str
    reason: str


def shard_totals(rows: Iterable[tuple[Any, Any, Any, Any]]) -> list[tuple[str, int]]:
    """Rows per month partition from (shard, replica, partition, rows) of every replica of every
    shard. The replicas of a shard hold copies of the same rows, so a shard counts once, as its fullest
    replica (one behind on fetches holds fewer; one behind on merges the same rows in more parts)."""
    fullest: dict[tuple[str, str], int] = {}
    for shard, _replica, partition, n in rows:
        key = (str(shard), str(partition))
        fullest[key] = max(fullest.get(key, 0), int(n))
    totals: dict[str, int] = {}
    for (_shard, partition), n in fullest.items():
        totals[partition] = totals.get(partition, 0) + n
    return sorted((p, n) for p, n in totals.items() if n > 0 and re.fullmatch(r"\d{6}", p))


def month_end(partition: str) -> datetime:
    year, month = int(partition[:4]), int(partition[4:6])
    start = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start - timedelta(microseconds=1)


class Retention:
    """Plans and applies the drops for every table with a TTL; `ttl_days` maps group → days (0: keep)."""

    def __init__(self, store: Store, ttl_days: dict[str, float]) -> None:
        self.store = store
        self.ttl_days = ttl_days

    def partitions(self, table: str) -> list[tuple[str, int]]:
        """Month partitions holding rows (a dropped one can linger a moment as an empty covering part)."""
        if self.store.cluster:
            return self._cluster_partitions(table, self.store.cluster)
        rows = self.store.query(
            "SELECT partition_id, sum(rows) FROM system.parts WHERE database = {database:String} "
            "AND table = {table:String} AND active GROUP BY partition_id HAVING sum(rows) > 0 ORDER BY partition_id",
            {"database": self.store.database, "table": self.local(table)},
            role="admin",
        )
        return [(str(p), int(n)) for p, n in rows if re.fullmatch(r"\d{6}", str(p))]

    def _cluster_partitions(self, table: str, cluster: str) -> list[tuple[str, int]]:
        """On a cluster, the partitions of the local tables of every shard. `system.parts` of the node
        connected to holds one shard's parts at most, so every replica's are read (`clusterAllReplicas`),
        summed per replica under the `{shard}` and `{replica}` macros the replicated tables are made with
        (every node has both), and counted once per shard by `shard_totals`."""
        rows = self.store.query(
            "SELECT getMacro('shard') AS shard, getMacro('replica') AS replica, partition_id, sum(rows) "
            f"FROM clusterAllReplicas({quote(cluster)}, system.parts) "
            "WHERE database = {database:String} AND table = {table:String} AND active "
            "GROUP BY shard, replica, partition_id",
            {"database": self.store.database, "table": self.local(table)},
            role="admin",
        )
        return shard_totals(rows)

    def local(self, table: str) -> str:
        return f"{table}_local" if self.store.cluster else table

    def plan(self, now: datetime) -> tuple[list[Drop], list[Kept]]:
        """What would be dropped at `now`, and the old partitions kept because something still needs them."""
        drops: list[Drop] = []
        kept: list[Kept] = []
        expired_journeys: set[tuple[str, str]] | None = None
        for rule in RULES:
            days = self.ttl_days.get(rule.group, 0)
            if not days:
                continue
            horizon = now - timedelta(days=days)
            old = [(p, n) for p, n in self.partitions(rule.table) if month_end(p) < horizon]
            if not old:
                continue
            blocked: dict[str, str] = {}
            if rule.table == "events":
                blocked = self._events_in_use([p for p, _ in old])
            elif rule.table in ("journeys", "journey_events"):
                if expired_journeys is None:
                    expired_journeys = self._expired_journeys(horizon)
                blocked = self._journeys_in_use(rule.table, [p for p, _ in old], expired_journeys)
            elif rule.table == "slo_alerts":
                blocked = self._alerts_active([p for p, _ in old])
            for partition, rows in old:
                if partition in blocked:
                    kept.append(Kept(rule.table, partition, blocked[partition]))
                else:
                    drops.append(Drop(rule.table, partition, rows, month_end(partition)))
        return drops, kept

    def apply(self, now: datetime) -> list[Drop]:
        drops, _ = self.plan(now)
        for drop in drops:
            self.store.command(f"ALTER TABLE {{db}}.{drop.table} DROP PARTITION ID '{int(drop.partition):06d}'")
            log.info("retention: dropped %s partition %s (%d rows)", drop.table, drop.partition, drop.rows)
        return drops

    # --- what is still in use ---------------------------------------------------------------------

    def _in_subquery(self) -> str:
        """How a read of a Distributed table filters by a subquery of another: a journey's rows are not
        all on one shard (`journey_events` is sharded by its whole ORDER BY), so on a cluster the
        subquery runs once, on the node queried, and its result goes to every shard (GLOBAL IN). A
        cluster Store's clients have the server rewrite a plain IN so anyway (tower/cluster.py,
        `SESSION_SETTINGS`); these reads, which decide what is dropped, say it themselves and do not
        depend on that setting reaching the server."""
        return "GLOBAL IN" if self.store.cluster else "IN"

    def _events_in_use(self, partitions: list[str]) -> dict[str, str]:
        blocked: dict[str, str] = {}
        # Each correlator's latest checkpoint: its highest seq applied, and, fed from Kafka, each
        # log partition's next virtual offset (seqs from Kafka are in order within a partition only).
        checkpoints = self.store.query(
            "SELECT name, max(seq), argMax(positions, at) FROM {db}.correlator_checkpoint GROUP BY name",
            role="admin",
        )
        for p, log_partition, newest in self.store.query(
            "SELECT toString(toYYYYMM(time)) AS p, bitAnd(seq, {mask:UInt64}), max(seq) FROM {db}.events "
            "WHERE toString(toYYYYMM(time)) IN {parts:Array(String)} GROUP BY p, 2",
            {"parts": partitions, "mask": PARTITION_MASK},
            role="admin",
        ):
            behind = not checkpoints or any(
                newest >= kafka_seq(log_partition, positions.get(log_partition, 0)) if positions else newest > seq
                for _, seq, positions in checkpoints
            )
            if behind:
                blocked[p] = "holds events the correlator has not applied yet"
        for (p,) in self.store.query(
            "SELECT DISTINCT toString(toYYYYMM(time)) FROM {db}.journey_events "
            "WHERE toString(toYYYYMM(time)) IN {parts:Array(String)} "
            f"AND (tenant, journey_id) {self._in_subquery()} ("
            "  SELECT tenant, journey_id FROM {db}.journeys GROUP BY tenant, journey_id "
            "  HAVING argMax(alive, version) = 1 AND argMax(status, version) NOT IN {closed:Array(String)})",
            {"parts": partitions, "closed": list(CLOSED)},
            role="admin",
        ):
            blocked.setdefault(p, "holds events of journeys still open")
        return blocked

    def _expired_journeys(self, horizon: datetime) -> set[tuple[str, str]]:
        rows = self.store.query(
            "SELECT tenant, journey_id FROM {db}.journeys GROUP BY tenant, journey_id "
            "HAVING (argMax(status, version) IN {closed:Array(String)} OR argMax(alive, version) = 0) "
            "AND argMax(last_event_at, version) < {horizon:DateTime64(6, 'UTC')}",
            {"closed": list(CLOSED), "horizon": horizon},
            role="admin",
        )
        return {(t, j) for t, j in rows}

    def _journeys_in_use(self, table: str, partitions: list[str], expired: set[tuple[str, str]]) -> dict[str, str]:
        """A month of journey state goes only when every journey with a row in it has expired and every
        other month holding one of those journeys' rows goes too (a fixpoint over the candidates)."""
        column = "time" if table == "journey_events" else "started_at"
        spans = self.store.query(
            f"SELECT tenant, journey_id, groupUniqArray(toString(toYYYYMM({column}))) FROM {{db}}.{table} "
            f"WHERE journey_id {self._in_subquery()} (SELECT journey_id FROM {{db}}.{table} "
            f"WHERE toString(toYYYYMM({column})) IN {{parts:Array(String)}}) GROUP BY tenant, journey_id",
            {"parts": partitions},
            role="admin",
        )
        if table == "journey_events" and spans:
            # Memberships of journeys whose state rows are gone (dropped in an earlier run) are
            # needed by nothing: count them as expired, or they would keep their months forever.
            ids = sorted({(t, j) for t, j, _ in spans})
            present = {
                (t, j)
                for t, j in self.store.query(
                    "SELECT DISTINCT tenant, journey_id FROM {db}.journeys "
                    "WHERE (tenant, journey_id) IN {ids:Array(Tuple(String, String))}",
                    {"ids": ids},
                    role="admin",
                )
            }
            expired = expired | (set(ids) - present)
        candidates = set(partitions)
        blocked: dict[str, str] = {}
        changed = True
        while changed:
            changed = False
            for tenant, journey_id, months in spans:
                inside = candidates.intersection(months)
                if not inside:
                    continue
                alive = (tenant, journey_id) not in expired
                outside = set(months) - candidates
                if alive or outside:
                    reason = (
                        "holds journeys not closed, or closed within the TTL"
                        if alive
                        else "holds versions of journeys kept in another month"
                    )
                    for p in inside:
                        blocked.setdefault(p, reason)
                    candidates -= inside
                    changed = True
        return blocked

    def _alerts_active(self, partitions: list[str]) -> dict[str, str]:
        rows = self.store.query(
            "SELECT DISTINCT toString(toYYYYMM(starts_at)) FROM {db}.slo_alerts "
            "WHERE toString(toYYYYMM(starts_at)) IN {parts:Array(String)} "
            f"AND (tenant, id) {self._in_subquery()} ("
            "  SELECT tenant, id FROM {db}.slo_alerts GROUP BY tenant, id "
            "  HAVING argMax(state, version) IN ('pending', 'firing'))",
            {"parts": partitions},
            role="admin",
        )
        return {p: "holds alerts still pending or firing" for (p,) in rows}


def ttl_days(settings: Any) -> dict[str, float]:
    return {group: float(getattr(settings, f"retention_{group}_days")) for group in GROUPS}


async def run_retention(retention: Retention, clock: Clock, interval_s: float, stopping: Callable[[], bool]) -> None:
    """The server's retention task: apply the plan every `interval_s` seconds, on the tower's clock."""
    while not stopping():
        try:
            await asyncio.to_thread(retention.apply, clock.now())
        except Exception:  # a failed run is retried at the next interval; ingestion is not affected
            log.exception("retention run failed; retrying in %.0f s", interval_s)
        await asyncio.sleep(interval_s)
