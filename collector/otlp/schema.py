"""DDL of what `/v1/traces` and `/v1/logs` write: the OpenTelemetry Collector ClickHouse exporter's tables.

`otel_traces`, `otel_traces_trace_id_ts` and `otel_logs` have the
columns, types and indexes of the exporter in opentelemetry-collector-contrib
(`exporter/clickhouseexporter`), so ClickStack, HyperDX or Grafana's ClickHouse plugin can be
pointed at them as they are. What is added, each for a reason:

- `tenant` leads every table and its key: every query is tenant-scoped.
- `*AttributeTypes` maps: the exporter stores every attribute value as a string (its `AsString`
  form: ints in decimal, doubles shortest, bools `true`/`false`, bytes base64, arrays and maps as
  JSON). The type map holds the OTLP type of each value that is not a string (`Int`, `Double`,
  `Bool`, `Bytes`, `Slice`, `Map`, `Empty`), so the typed value is recoverable exactly; a key absent
  from it is a string. Tools that know only the exporter's columns read the same strings they
  would read from the exporter.
- `ScopeAttributes` on traces (the exporter's logs table has it; its traces table drops them);
  `BodyType` (the body's OTLP type, as for attributes) and `EventName` on logs.
- Times are `DateTime64(9, 'UTC')`: explicit UTC, whatever the server's time zone.
- `otel_traces_trace_id_ts` is written by the collector, not by a materialized view (see there).
- `spans_by_trace` is not the exporter's: each span again, as one JSON document in trace order, for
  Control Tower's own reads by trace id (migration 13 says why).
- Partitions are months, not days: simulated and replayed traffic spans months of span time, and a
  day partition would split every insert into one part per day.
"""

from tower.store import POINT_READ_BLOCKS, Migration

# A span as the journey page and GET /v1/traces/{id} read it (`correlator.spans.span_view`'s input):
# one JSON document, computed by the store from the columns `otel_traces` has. Written as
# `spans_by_trace.span`'s DEFAULT (the collector inserts the same Arrow rows into both tables) and
# by migration 13's copy of the spans stored before it.
SPAN_DOCUMENT_TYPE = (
    "Tuple(TraceId String, SpanId String, ParentSpanId String, TraceState String, SpanName String, "
    "SpanKind String, ServiceName String, ScopeName String, ScopeVersion String, start_ns Int64, "
    "Duration UInt64, StatusCode String, StatusMessage String, SpanAttributes Map(String, String), "
    "SpanAttributeTypes Map(String, String), ResourceAttributes Map(String, String), "
    "ResourceAttributeTypes Map(String, String), event_ns Array(Int64), event_names Array(String), "
    "event_values Array(Map(String, String)), event_types Array(Map(String, String)), "
    "link_traces Array(String), link_spans Array(String), link_states Array(String), "
    "link_values Array(Map(String, String)), link_types Array(Map(String, String)))"
)
SPAN_DOCUMENT = (
    "toJSONString(CAST(tuple("
    "TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ScopeName, ScopeVersion, "
    "toUnixTimestamp64Nano(Timestamp), Duration, StatusCode, StatusMessage, "
    "SpanAttributes, SpanAttributeTypes, ResourceAttributes, ResourceAttributeTypes, "
    "arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`), `Events.Name`, `Events.Attributes`, "
    "`Events.AttributeTypes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`, "
    f"`Links.AttributeTypes`), '{SPAN_DOCUMENT_TYPE}'))"
)

MIGRATIONS = (
    Migration(
        10,
        "otel_traces",
        (
            # ORDER BY (tenant, ServiceName, SpanName, toDateTime(Timestamp)): the exporter's key (service
            # dashboards, span search by name and time) behind the tenant. Tools that read a trace by its
            # id here go through the TraceId bloom filter; Control Tower reads `spans_by_trace` instead.
            """
            CREATE TABLE IF NOT EXISTS {db}.otel_traces (
                tenant LowCardinality(String),
                Timestamp DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
                TraceId String CODEC(ZSTD(1)),
                SpanId String CODEC(ZSTD(1)),
                ParentSpanId String CODEC(ZSTD(1)),
                TraceState String CODEC(ZSTD(1)),
                SpanName LowCardinality(String) CODEC(ZSTD(1)),
                SpanKind LowCardinality(String) CODEC(ZSTD(1)),
                ServiceName LowCardinality(String) CODEC(ZSTD(1)),
                ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
                ResourceAttributeTypes Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
                ScopeName String CODEC(ZSTD(1)),
                ScopeVersion String CODEC(ZSTD(1)),
                ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
                SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
                SpanAttributeTypes Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
                Duration UInt64 CODEC(ZSTD(1)),
                StatusCode LowCardinality(String) CODEC(ZSTD(1)),
                StatusMessage String CODEC(ZSTD(1)),
                Events Nested (
                    Timestamp DateTime64(9, 'UTC'),
                    Name LowCardinality(String),
                    Attributes Map(LowCardinality(String), String),
                    AttributeTypes Map(LowCardinality(String), LowCardinality(String))
                ) CODEC(ZSTD(1)),
                Links Nested (
                    TraceId String,
                    SpanId String,
                    TraceState String,
                    Attributes Map(LowCardinality(String), String),
                    AttributeTypes Map(LowCardinality(String), LowCardinality(String))
                ) CODEC(ZSTD(1)),
                INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
                INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
                INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
                INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
                INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
                INDEX idx_duration Duration TYPE minmax GRANULARITY 1
            ) ENGINE = MergeTree
            PARTITION BY toYYYYMM(Timestamp)
            ORDER BY (tenant, ServiceName, SpanName, toDateTime(Timestamp))
            SETTINGS index_granularity = 8192
            """,
            # ORDER BY (tenant, TraceId, Start): the exporter's trace-id → time-range lookup, which
            # Grafana's trace view reads by trace id to narrow a trace's scan to its time range. The
            # exporter fills it by a materialized view; here the collector writes the same rows (per
            # insert, each trace's first and last span start) in the same commit as the spans: in
            # chDB the view cost more than inserting the spans themselves.
            """
            CREATE TABLE IF NOT EXISTS {db}.otel_traces_trace_id_ts (
                tenant LowCardinality(String),
                TraceId String CODEC(ZSTD(1)),
                Start DateTime('UTC') CODEC(Delta, ZSTD(1)),
                End DateTime('UTC') CODEC(Delta, ZSTD(1)),
                INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
            ) ENGINE = MergeTree
            PARTITION BY toYYYYMM(Start)
            ORDER BY (tenant, TraceId, Start)
            """,
        ),
    ),
    Migration(
        11,
        "span_links",
        (
            # ORDER BY (tenant, value, …): a journey asks "which spans name any of my identifiers",
            # knowing only the values; one row per span attribute that names a business identifier
            # (TOWER_SPAN_IDENTIFIER_ATTRIBUTES). `namespace` is the namespace the attribute is
            # configured for ('' matches any), matched against the object's identifiers when read.
            """
            CREATE TABLE IF NOT EXISTS {db}.span_links (
                tenant LowCardinality(String),
                value String,
                namespace LowCardinality(String),
                attribute LowCardinality(String),
                TraceId String,
                SpanId String,
                Timestamp DateTime64(9, 'UTC')
            ) ENGINE = ReplacingMergeTree
            ORDER BY (tenant, value, namespace, attribute, TraceId, SpanId)
            SETTINGS index_granularity = 1024
            """,
        ),
    ),
    Migration(
        12,
        "otel_logs",
        (
            # ORDER BY (tenant, ServiceName, TimestampTime, Timestamp): the exporter's key behind the tenant
            # (a service's logs over time); a trace's logs go through the TraceId bloom filter.
            """
            CREATE TABLE IF NOT EXISTS {db}.otel_logs (
                tenant LowCardinality(String),
                Timestamp DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
                TimestampTime DateTime('UTC') DEFAULT toDateTime(Timestamp),
                TraceId String CODEC(ZSTD(1)),
                SpanId String CODEC(ZSTD(1)),
                TraceFlags UInt8,
                SeverityText LowCardinality(String) CODEC(ZSTD(1)),
                SeverityNumber UInt8,
                ServiceName LowCardinality(String) CODEC(ZSTD(1)),
                Body String CODEC(ZSTD(1)),
                BodyType LowCardinality(String),
                EventName String CODEC(ZSTD(1)),
                ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
                ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
                ResourceAttributeTypes Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
                ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
                ScopeName String CODEC(ZSTD(1)),
                ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
                ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
                LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
                LogAttributeTypes Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
                INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
                INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
                INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
                INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
                INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
                INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
            ) ENGINE = MergeTree
            PARTITION BY toYYYYMM(TimestampTime)
            PRIMARY KEY (tenant, ServiceName, TimestampTime)
            ORDER BY (tenant, ServiceName, TimestampTime, Timestamp)
            SETTINGS index_granularity = 8192
            """,
        ),
    ),
    Migration(
        13,
        "spans_by_trace",
        (
            # ORDER BY (tenant, TraceId, SpanId): each span of `otel_traces` again, in trace order, for the
            # reads by trace id (the journey page's spans, GET /v1/traces/{id}). In `otel_traces` a
            # trace's spans lie in as many 8,192-row granules as it has services and span names, found
            # through the TraceId bloom filter, whose index is read whole: at 10M spans here, 25 ms for
            # one trace and 100 ms for ten. Here a trace is one sort-key range of 256-row granules in
            # small compressed blocks, and a span one JSON document (`SPAN_DOCUMENT`): a read of
            # one column instead of the 25 the page shows, whose ~50 files each cost a block to
            # decompress per trace (ten traces: 7.7 ms against 18 ms for the same rows in columns). The
            # other columns are EPHEMERAL: an insert gives them (the same rows as `otel_traces`), the
            # document is made from them, they are not stored. ReplacingMergeTree: a span an exporter
            # sent twice is kept once after merges (readers pick one copy until then).
            f"""
            CREATE TABLE IF NOT EXISTS {{db}}.spans_by_trace (
                tenant LowCardinality(String),
                TraceId String CODEC(ZSTD(1)),
                SpanId String CODEC(ZSTD(1)),
                Timestamp DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
                ParentSpanId String EPHEMERAL,
                TraceState String EPHEMERAL,
                SpanName String EPHEMERAL,
                SpanKind String EPHEMERAL,
                ServiceName String EPHEMERAL,
                ResourceAttributes Map(String, String) EPHEMERAL,
                ResourceAttributeTypes Map(String, String) EPHEMERAL,
                ScopeName String EPHEMERAL,
                ScopeVersion String EPHEMERAL,
                ScopeAttributes Map(String, String) EPHEMERAL,
                SpanAttributes Map(String, String) EPHEMERAL,
                SpanAttributeTypes Map(String, String) EPHEMERAL,
                Duration UInt64 EPHEMERAL,
                StatusCode String EPHEMERAL,
                StatusMessage String EPHEMERAL,
                `Events.Timestamp` Array(DateTime64(9, 'UTC')) EPHEMERAL,
                `Events.Name` Array(String) EPHEMERAL,
                `Events.Attributes` Array(Map(String, String)) EPHEMERAL,
                `Events.AttributeTypes` Array(Map(String, String)) EPHEMERAL,
                `Links.TraceId` Array(String) EPHEMERAL,
                `Links.SpanId` Array(String) EPHEMERAL,
                `Links.TraceState` Array(String) EPHEMERAL,
                `Links.Attributes` Array(Map(String, String)) EPHEMERAL,
                `Links.AttributeTypes` Array(Map(String, String)) EPHEMERAL,
                span String DEFAULT {SPAN_DOCUMENT} CODEC(ZSTD(3))
            ) ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(Timestamp)
            ORDER BY (tenant, TraceId, SpanId)
            SETTINGS index_granularity = 256, {POINT_READ_BLOCKS}
            """,
            # The spans stored before this table existed. Run again after a crash, it copies them again,
            # and the copies collapse as above.
            f"INSERT INTO {{db}}.spans_by_trace SELECT tenant, TraceId, SpanId, Timestamp, {SPAN_DOCUMENT} "
            "FROM {db}.otel_traces",
        ),
    ),
)
