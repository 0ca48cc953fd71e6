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
- Partitions are months, not days: simulated and replayed traffic spans months of span time, and a
  day partition would split every insert into one part per day.
"""

from tower.store import Migration

MIGRATIONS = (
    Migration(
        10,
        "otel_traces",
        (
            # ORDER BY (tenant, ServiceName, SpanName, toDateTime(Timestamp)): the exporter's key (service
            # dashboards, span search by name and time) behind the tenant. Lookups by trace id — the
            # journey page, GET /v1/traces/{id} — go through the TraceId bloom filter.
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
)
