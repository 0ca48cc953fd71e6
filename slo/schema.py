"""DDL of the SLO engine's state: alerts, silences, the notification log and KPI targets (migrations 301–399)."""

from tower.retention import repartitioned
from tower.store import Migration

_TABLES = (
    Migration(
        301,
        "slo_alerts",
        (
            # ORDER BY (tenant, id): the engine rewrites an alert's row on every change (newest version
            # wins); the API lists a tenant's alerts and acknowledges one by id.
            """
            CREATE TABLE IF NOT EXISTS {db}.slo_alerts (
                tenant LowCardinality(String),
                id String,
                version UInt64,
                fingerprint String,
                labels Map(String, String),
                annotations Map(String, String),
                state LowCardinality(String),
                severity LowCardinality(String),
                starts_at DateTime64(3, 'UTC'),
                fired_at Nullable(DateTime64(3, 'UTC')),
                ends_at Nullable(DateTime64(3, 'UTC')),
                updated_at DateTime64(3, 'UTC'),
                silenced_by Array(String),
                inhibited_by Array(String),
                acknowledged_by Nullable(String),
                acknowledged_at Nullable(DateTime64(3, 'UTC')),
                comment String
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (tenant, id)
            """,
        ),
    ),
    Migration(
        302,
        "slo_silences",
        (
            # ORDER BY (tenant, id): few rows; read whole per tenant, replaced on expiry or deletion.
            """
            CREATE TABLE IF NOT EXISTS {db}.slo_silences (
                tenant LowCardinality(String),
                id String,
                version UInt64,
                matchers String,
                starts_at DateTime64(3, 'UTC'),
                ends_at DateTime64(3, 'UTC'),
                created_by String,
                comment String,
                deleted UInt8
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (tenant, id)
            """,
        ),
    ),
    Migration(
        303,
        "slo_notifications",
        (
            # ORDER BY (tenant, at): an append-only log read newest first.
            """
            CREATE TABLE IF NOT EXISTS {db}.slo_notifications (
                tenant LowCardinality(String),
                at DateTime64(3, 'UTC'),
                receiver String,
                url String,
                group_key String,
                status LowCardinality(String),
                alerts UInt32,
                attempt UInt16,
                ok UInt8,
                error String
            ) ENGINE = MergeTree
            ORDER BY (tenant, at)
            """,
        ),
    ),
    Migration(
        304,
        "kpi_targets",
        (
            # ORDER BY (tenant, name): one current target per KPI, replaced when a user changes it.
            """
            CREATE TABLE IF NOT EXISTS {db}.kpi_targets (
                tenant LowCardinality(String),
                name String,
                version UInt64,
                value Float64,
                source String
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (tenant, name)
            """,
        ),
    ),
)


def _ddl(table: str) -> str:
    return next(sql for m in _TABLES for sql in m.sql if f"{{db}}.{table} (" in sql)


# Retention drops whole months of SLO history (tower/retention.py), rows kept. An alert's id
# carries its start, so every version of one alert is in one month.
MIGRATIONS = (
    *_TABLES,
    Migration(350, "slo_alerts_by_month", repartitioned(_ddl("slo_alerts"), "slo_alerts", "toYYYYMM(starts_at)")),
    Migration(
        351, "slo_notifications_by_month", repartitioned(_ddl("slo_notifications"), "slo_notifications", "toYYYYMM(at)")
    ),
)
