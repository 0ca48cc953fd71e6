"""DDL of what the collector writes: the raw event log and the dead letters."""

from collector.otlp.schema import MIGRATIONS as OTLP
from tower.retention import repartitioned
from tower.store import POINT_READ_BLOCKS, Migration

_TABLES = (
    Migration(
        1,
        "events",
        (
            # ORDER BY (tenant, source, id): the idempotency key is the lookup the collector makes to
            # confirm a duplicate and the one the journey API makes to fetch a journey's events, so
            # both are primary-key range reads. A journey's events are scattered keys, each costing a
            # granule of payloads and the compressed block around it: 256-row granules in blocks of
            # 8-64 KB (instead of 8192 rows in 64 KB-1 MB) make that read 30 % faster at 1M events
            # for the same bytes on disk; a scan of every payload costs ~5 % more.
            # `seq` (the order of acceptance) is what the correlator resumes from; parts are written
            # in seq order, so its minmax index skips old parts.
            """
            CREATE TABLE IF NOT EXISTS {db}.events (
                tenant LowCardinality(String),
                source LowCardinality(String),
                id String,
                seq UInt64,
                type LowCardinality(String),
                time DateTime64(6, 'UTC'),
                ingested_at DateTime64(6, 'UTC'),
                traceparent String,
                key_hash UInt64,
                payload String CODEC(ZSTD(3)),
                INDEX seq_minmax seq TYPE minmax GRANULARITY 1
            ) ENGINE = MergeTree
            ORDER BY (tenant, source, id)
            SETTINGS index_granularity = 256, min_compress_block_size = 8192, max_compress_block_size = 65536
            """,
        ),
    ),
    Migration(
        2,
        "dead_letters",
        (
            # ORDER BY (tenant, received_at, id): operators page through the newest first, per tenant.
            """
            CREATE TABLE IF NOT EXISTS {db}.dead_letters (
                tenant LowCardinality(String),
                received_at DateTime64(6, 'UTC'),
                id String,
                endpoint LowCardinality(String),
                content_type String,
                status UInt16,
                event_index Int32,
                event_id String,
                field String,
                reason String,
                raw String CODEC(ZSTD(3)),
                headers String,
                replayed_at Nullable(DateTime64(6, 'UTC'))
            ) ENGINE = MergeTree
            ORDER BY (tenant, received_at, id)
            """,
        ),
    ),
    Migration(
        20,
        "kafka_epochs",
        (
            # One row per partition each time the writers found the topic's log begun again (a broker
            # that lost it): that epoch's offsets count on from `base`, so seqs never repeat.
            # ORDER BY (topic, partition, base): the current base is the largest, read on assignment.
            """
            CREATE TABLE IF NOT EXISTS {db}.kafka_epochs (
                topic String,
                partition UInt16,
                base UInt64,
                detected_at DateTime64(6, 'UTC')
            ) ENGINE = MergeTree
            ORDER BY (topic, partition, base)
            """,
        ),
    ),
    Migration(
        40,
        "webhook_deliveries",
        (
            # ORDER BY (tenant, adapter, digest): a signed delivery is looked up by its body's SHA-256
            # (the same body under another delivery id is a replay) and by its id (bloom filter).
            # Partitioned by month from the start, so retention drops whole months (tower/retention.py).
            """
            CREATE TABLE IF NOT EXISTS {db}.webhook_deliveries (
                tenant LowCardinality(String),
                adapter LowCardinality(String),
                digest String,
                delivery String,
                received_at DateTime64(6, 'UTC'),
                INDEX delivery_bloom delivery TYPE bloom_filter(0.01) GRANULARITY 1
            ) ENGINE = MergeTree
            PARTITION BY toYYYYMM(received_at)
            ORDER BY (tenant, adapter, digest)
            """,
        ),
    ),
)


# What `tower.events.event_system`, `Event.carrier` and `Event.operation` compute at ingest, as SQL
# over the payload: the columns' DEFAULTs, read for rows of parts written before migration 50 and
# filled in an insert that leaves the columns out. Keep each pair the same
# (tests/collector/test_event_columns.py checks).
# Only a string names a system: JSONExtractString would read `"system": 7` as '7' (dims are strings
# already: the collector refuses any other value there).
EVENT_SYSTEM_SQL = (
    "coalesce(if(JSONType(payload, 'data', 'facts', 'system') = 'String', "
    "nullIf(JSONExtractString(payload, 'data', 'facts', 'system'), ''), NULL), "
    "nullIf(JSONExtractString(payload, 'data', 'dims', 'system'), ''), splitByChar('/', toString(source))[1])"
)
EVENT_CARRIER_SQL = "JSONExtractString(payload, 'data', 'dims', 'carrier')"
EVENT_OPERATION_SQL = (
    "if(JSONType(payload, 'data', 'facts', 'operation') = 'String', "
    "JSONExtractString(payload, 'data', 'facts', 'operation'), '')"
)


def _ddl(migrations: tuple[Migration, ...], table: str) -> str:
    return next(sql for m in migrations for sql in m.sql if f"{{db}}.{table} (" in sql)


# Retention drops whole months (tower/retention.py): the tables made unpartitioned above get a
# PARTITION BY, rows kept (a copy swapped in with EXCHANGE TABLES; idempotent).
MIGRATIONS = (
    *_TABLES,
    Migration(41, "events_by_month", repartitioned(_ddl(_TABLES, "events"), "events", "toYYYYMM(time)")),
    Migration(
        42,
        "dead_letters_by_month",
        repartitioned(_ddl(_TABLES, "dead_letters"), "dead_letters", "toYYYYMM(received_at)"),
    ),
    Migration(43, "span_links_by_month", repartitioned(_ddl(OTLP, "span_links"), "span_links", "toYYYYMM(Timestamp)")),
    # The system, carrier and operation an event is about, as columns: the success-ratio SLIs read
    # them for every event in a month-long window, and reading them out of each payload (decompressing
    # it) cost a hundred times a scan. After 41: re-partitioning copies `events` with migration 1's columns.
    Migration(
        50,
        "events_system_carrier_operation",
        (
            "ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS system LowCardinality(String) "
            f"DEFAULT {EVENT_SYSTEM_SQL}",
            "ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS carrier LowCardinality(String) "
            f"DEFAULT {EVENT_CARRIER_SQL}",
            "ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS operation LowCardinality(String) "
            f"DEFAULT {EVENT_OPERATION_SQL}",
        ),
    ),
    # Stores made before the events' DDL asked for small compressed blocks: new parts and merges get
    # them (the granule size of an existing table cannot change).
    Migration(51, "events_small_blocks", (f"ALTER TABLE {{db}}.events MODIFY SETTING {POINT_READ_BLOCKS}",)),
)
