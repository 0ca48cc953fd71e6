"""DDL of the correlator's state: objects, identifiers, relations, journeys, membership, merges.

The correlator writes new versions of rows rather than updating them: every table that holds a
current state is a ReplacingMergeTree on a `version`. Point reads take the newest version with
`ORDER BY version DESC LIMIT 1 BY key` (cheaper than FINAL on a few keys); scans use FINAL.
Tables read by key use small granules (256 rows) in small compressed blocks (8-64 KB): a journey
page reads a handful of keys, and 8192-row granules of wide rows made each key cost megabytes of
decompression (the blocks alone: a journey row 13 %, its objects 20 % faster at 1M events).
"""

from tower.retention import repartitioned
from tower.store import POINT_READ_BLOCKS, Migration

_TABLES = (
    Migration(
        101,
        "objects",
        (
            # ORDER BY (tenant, object_id): a journey lists its object ids, the API fetches them by id.
            """
            CREATE TABLE IF NOT EXISTS {db}.objects (
                tenant LowCardinality(String),
                object_id String,
                version UInt64,
                alive UInt8,
                merged_into String,
                type LowCardinality(String),
                level Int16,
                ids Map(String, String),
                provenance String,
                journeys Array(String),
                first_seen DateTime64(6, 'UTC'),
                conflicts UInt32
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (tenant, object_id)
            SETTINGS index_granularity = 256, min_compress_block_size = 8192, max_compress_block_size = 65536
            """,
            # ORDER BY (tenant, value, namespace, type): `GET /v1/lookup?q=` knows only the identifier,
            # not which system issued it, so the value leads the key.
            """
            CREATE TABLE IF NOT EXISTS {db}.identifiers (
                tenant LowCardinality(String),
                value String,
                namespace LowCardinality(String),
                type LowCardinality(String),
                object_id String,
                version UInt64
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (tenant, value, namespace, type)
            SETTINGS index_granularity = 256, min_compress_block_size = 8192, max_compress_block_size = 65536
            """,
        ),
    ),
    Migration(
        102,
        "relations",
        (
            # ORDER BY (tenant, a, b, qualifier): one row per related pair, read from either object.
            """
            CREATE TABLE IF NOT EXISTS {db}.relations (
                tenant LowCardinality(String),
                a String,
                b String,
                qualifier LowCardinality(String),
                source LowCardinality(String),
                event_id String,
                event_time DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree
            ORDER BY (tenant, a, b, qualifier)
            """,
        ),
    ),
    Migration(
        103,
        "journeys",
        (
            # ORDER BY (tenant, journey_id, time, …): one journey's events come out in event-time
            # order from one primary-key range.
            """
            CREATE TABLE IF NOT EXISTS {db}.journey_events (
                tenant LowCardinality(String),
                journey_id String,
                time DateTime64(6, 'UTC'),
                source LowCardinality(String),
                event_id String,
                seq UInt64,
                type LowCardinality(String)
            ) ENGINE = ReplacingMergeTree
            ORDER BY (tenant, journey_id, time, source, event_id)
            SETTINGS index_granularity = 1024
            """,
            # ORDER BY (tenant, journey_id): the journey page reads one row by id; searches filter
            # the (small, one row per order) table by stage, status and dimensions.
            """
            CREATE TABLE IF NOT EXISTS {db}.journeys (
                tenant LowCardinality(String),
                journey_id String,
                version UInt64,
                alive UInt8,
                merged_into String,
                stage LowCardinality(String),
                status LowCardinality(String),
                channel LowCardinality(String),
                warehouse LowCardinality(String),
                carrier LowCardinality(String),
                customer String,
                started_at DateTime64(6, 'UTC'),
                stage_at Nullable(DateTime64(6, 'UTC')),
                received_at Nullable(DateTime64(6, 'UTC')),
                departed_at Nullable(DateTime64(6, 'UTC')),
                delivered_at Nullable(DateTime64(6, 'UTC')),
                last_event_at DateTime64(6, 'UTC'),
                event_count UInt32,
                anomaly_count UInt32,
                anomaly_kinds Array(LowCardinality(String)),
                on_time_ship Nullable(UInt8),
                on_time_delivery Nullable(UInt8),
                objects Array(String),
                state String CODEC(ZSTD(3))
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (tenant, journey_id)
            SETTINGS index_granularity = 256, min_compress_block_size = 8192, max_compress_block_size = 65536
            """,
        ),
    ),
    Migration(
        104,
        "merges",
        (
            # ORDER BY (tenant, object_id, …): the audit is read per surviving object; the event
            # key makes a re-applied event (after a crash) replace its own row, not add one.
            """
            CREATE TABLE IF NOT EXISTS {db}.merges (
                tenant LowCardinality(String),
                object_id String,
                merged_id String,
                type LowCardinality(String),
                reason LowCardinality(String),
                source LowCardinality(String),
                event_id String,
                event_time DateTime64(6, 'UTC'),
                detail String,
                recorded_at DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree
            ORDER BY (tenant, object_id, merged_id, reason, source, event_id)
            """,
        ),
    ),
    Migration(
        105,
        "correlator_progress",
        (
            # ORDER BY name: one row per correlator instance, the newest wins.
            """
            CREATE TABLE IF NOT EXISTS {db}.correlator_checkpoint (
                name String,
                seq UInt64,
                at DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree(at)
            ORDER BY name
            """,
            # ORDER BY (name, seq, chunk): the newest complete snapshot is the last seq with all chunks.
            """
            CREATE TABLE IF NOT EXISTS {db}.correlator_snapshots (
                name String,
                seq UInt64,
                chunk UInt32,
                chunks UInt32,
                data String,
                taken_at DateTime64(6, 'UTC')
            ) ENGINE = MergeTree
            ORDER BY (name, seq, chunk)
            """,
        ),
    ),
)


def _ddl(table: str) -> str:
    return next(sql for m in _TABLES for sql in m.sql if f"{{db}}.{table} (" in sql)


# Retention drops whole months of closed journeys (tower/retention.py): journey state gets a
# PARTITION BY, rows kept. A journey's started_at can move earlier with a late event, leaving an
# older version in a later month; reads take the newest version across months (FINAL, LIMIT 1 BY),
# and retention drops a month only with every month holding that journey's versions.
MIGRATIONS = (
    *_TABLES,
    Migration(
        150, "journey_events_by_month", repartitioned(_ddl("journey_events"), "journey_events", "toYYYYMM(time)")
    ),
    Migration(151, "journeys_by_month", repartitioned(_ddl("journeys"), "journeys", "toYYYYMM(started_at)")),
    # Stores made before the DDL above asked for small compressed blocks: new parts and merges get them.
    Migration(
        152,
        "point_read_small_blocks",
        tuple(
            f"ALTER TABLE {{db}}.{table} MODIFY SETTING {POINT_READ_BLOCKS}"
            for table in ("objects", "identifiers", "journeys")
        ),
    ),
    # A membership row carries its event as stored (payload, time of storage, traceparent), so the
    # journey page reads a journey's events as one primary-key range instead of picking each from
    # `events` by key. Rows written without (before this, or by a correlator fed from Kafka, which
    # does not see the time of storage) keep the defaults, and their events are read from `events`.
    Migration(
        153,
        "journey_events_payload",
        (
            "ALTER TABLE {db}.journey_events ADD COLUMN IF NOT EXISTS traceparent String DEFAULT ''",
            "ALTER TABLE {db}.journey_events ADD COLUMN IF NOT EXISTS ingested_at DateTime64(6, 'UTC') DEFAULT 0",
            "ALTER TABLE {db}.journey_events ADD COLUMN IF NOT EXISTS payload String DEFAULT '' CODEC(ZSTD(3))",
        ),
    ),
    # An identifier's row carries what a lookup shows of its object (every identifier, the journeys
    # reaching it), written with the object's row and its version, so a lookup is one read. Rows from
    # before have no ids (an object always has one): their objects are read from `objects`.
    Migration(
        154,
        "identifiers_carry_their_object",
        (
            "ALTER TABLE {db}.identifiers ADD COLUMN IF NOT EXISTS ids Map(String, String) DEFAULT map()",
            "ALTER TABLE {db}.identifiers ADD COLUMN IF NOT EXISTS journeys Array(String) DEFAULT []",
        ),
    ),
    # A correlator fed from Kafka applies each partition in order but the partitions in none: its
    # checkpoint records each partition's next virtual offset, so retention can tell which events
    # it has not applied (its highest seq says nothing of a partition behind the others).
    Migration(
        155,
        "checkpoint_positions",
        (
            "ALTER TABLE {db}.correlator_checkpoint "
            "ADD COLUMN IF NOT EXISTS positions Map(UInt32, UInt64) DEFAULT map()",
        ),
    ),
    # Since its rows carry their payloads (153), the journey page's read of `journey_events` is a
    # point read of wide rows too: small compressed blocks, as 152 gave the other tables, for the
    # parts written or merged from now on. At 10M events (one part each, in process): a journey's
    # events 6.1 -> 5.4 ms (p50) for 4 % more bytes on disk; 256-row granules would add 0.2 ms, but a
    # table's granule size cannot change.
    Migration(
        156,
        "journey_events_small_blocks",
        (f"ALTER TABLE {{db}}.journey_events MODIFY SETTING {POINT_READ_BLOCKS}",),
    ),
)
