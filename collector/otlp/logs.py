"""ExportLogsServiceRequest → rows of `otel_logs`. Pure: message in, Arrow out.

As the ClickHouse exporter does: a record without a time takes its observed time, the body is
stored in its string form (`BodyType` keeps its OTLP type), the service is the resource's
`service.name`. A record is refused (partial success) when its trace or span id has the wrong
length, or a time does not fit DateTime64(9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from collector.otlp.columns import MapColumn
from collector.otlp.spans import MAX_REASONS, MAX_TIME, NS, STRING_MAP
from tower.otel_values import as_string, attributes

LOG_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("Timestamp", NS),
        ("TraceId", pa.string()),
        ("SpanId", pa.string()),
        ("TraceFlags", pa.uint8()),
        ("SeverityText", pa.string()),
        ("SeverityNumber", pa.uint8()),
        ("ServiceName", pa.string()),
        ("Body", pa.string()),
        ("BodyType", pa.string()),
        ("EventName", pa.string()),
        ("ResourceSchemaUrl", pa.string()),
        ("ResourceAttributes", STRING_MAP),
        ("ResourceAttributeTypes", STRING_MAP),
        ("ScopeSchemaUrl", pa.string()),
        ("ScopeName", pa.string()),
        ("ScopeVersion", pa.string()),
        ("ScopeAttributes", STRING_MAP),
        ("LogAttributes", STRING_MAP),
        ("LogAttributeTypes", STRING_MAP),
    ]
)
MAPS = ("ResourceAttributes", "ResourceAttributeTypes", "ScopeAttributes", "LogAttributes", "LogAttributeTypes")


@dataclass
class LogRows:
    logs: pa.Table
    accepted: int
    rejected: int
    reasons: list[str] = field(default_factory=list)

    def error_message(self) -> str:
        if not self.rejected:
            return ""
        more = "; …" if self.rejected > len(self.reasons) else ""
        return f"{self.rejected} log record(s) rejected: " + "; ".join(self.reasons) + more


def record_problem(record: LogRecord) -> str | None:
    if len(record.trace_id) not in (0, 16):
        return "traceId must be empty or 16 bytes (32 hex digits)"
    if len(record.span_id) not in (0, 8):
        return "spanId must be empty or 8 bytes (16 hex digits)"
    if record.time_unix_nano >= MAX_TIME or record.observed_time_unix_nano >= MAX_TIME:
        return "timeUnixNano and observedTimeUnixNano must be before the year 2262"
    return None


def log_rows(request: ExportLogsServiceRequest, tenant: str) -> LogRows:
    plain: dict[str, list[Any]] = {name: [] for name in LOG_SCHEMA.names if name not in MAPS and name != "tenant"}
    maps = {name: MapColumn() for name in MAPS}
    rejected = 0
    reasons: list[str] = []
    for r, resource_logs in enumerate(request.resource_logs):
        resource_values, resource_types = attributes(resource_logs.resource.attributes)
        service = resource_values.get("service.name", "")
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope
            scope_values = attributes(scope.attributes)[0]
            for i, record in enumerate(scope_logs.log_records):
                problem = record_problem(record)
                if problem is not None:
                    rejected += 1
                    if len(reasons) < MAX_REASONS:
                        reasons.append(f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]: {problem}")
                    continue
                body, body_type = as_string(record.body, record.body.WhichOneof("value"))
                values, types = attributes(record.attributes)
                plain["Timestamp"].append(record.time_unix_nano or record.observed_time_unix_nano)
                plain["TraceId"].append(record.trace_id.hex())
                plain["SpanId"].append(record.span_id.hex())
                plain["TraceFlags"].append(record.flags & 0xFF)
                plain["SeverityText"].append(record.severity_text)
                plain["SeverityNumber"].append(max(0, min(255, record.severity_number)))
                plain["ServiceName"].append(service)
                plain["Body"].append(body)
                plain["BodyType"].append(body_type)
                plain["EventName"].append(record.event_name)
                plain["ResourceSchemaUrl"].append(resource_logs.schema_url)
                plain["ScopeSchemaUrl"].append(scope_logs.schema_url)
                plain["ScopeName"].append(scope.name)
                plain["ScopeVersion"].append(scope.version)
                maps["ResourceAttributes"].add(resource_values)
                maps["ResourceAttributeTypes"].add(resource_types)
                maps["ScopeAttributes"].add(scope_values)
                maps["LogAttributes"].add(values)
                maps["LogAttributeTypes"].add(types)
    count = len(plain["Timestamp"])
    columns: dict[str, pa.Array] = {"tenant": pa.array([tenant] * count, pa.string())}
    for name, column in plain.items():
        columns[name] = pa.array(column, LOG_SCHEMA.field(name).type)
    for name, built in maps.items():
        columns[name] = built.array()
    logs = pa.Table.from_arrays([columns[name] for name in LOG_SCHEMA.names], schema=LOG_SCHEMA)
    return LogRows(logs, count, rejected, reasons)
