"""`/healthz` (the process answers), `/readyz` (the store answers and the stages run), `/metrics`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from slo.metrics import exposition as slo_exposition
from tower import compiled
from tower.api import JSON, api_router, metrics_tenants
from tower.kafka import LAG_HELP
from tower.responses import Count, documented

router = api_router("health")


class Alive(BaseModel):
    status: Literal["ok"]


class WriterCheck(BaseModel):
    pending: Count = Field(description="events waiting for the writer")
    next_seq: Count
    failure: str | None = Field(None, description="why the last commit (or the broker) failed, while it does")


class Checks(BaseModel):
    """What answered: the store (`ok` or `failed: why`, where this process owns it), the writer,
    and, where this process runs them, the Kafka writer and the correlator with its lag."""

    store: str | None = Field(None, description="`ok`, or `failed: <why>`; absent where another process owns it")
    writer: WriterCheck
    kafka_writer: dict[str, Any] | None = None
    correlator: dict[str, Any] | None = Field(None, description="`lag_events`: committed events not yet applied")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: Checks


METRICS_RESPONSE = {
    "description": "The Prometheus text exposition format 0.0.4: `# HELP`/`# TYPE` lines and samples",
    "content": {"text/plain": {"schema": {"type": "string", "pattern": "^# HELP tower_"}}},
}


@router.get("/healthz", summary="Liveness", responses={200: documented(Alive, "The process answers")})
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the store answers and the writer and correlator run",
    responses={200: documented(Readiness, "Ready: every check passed")},
)
async def readyz(request: Request) -> JSON:
    services = request.app.state.services
    checks: dict[str, Any] = {}
    ready = True
    if services.owns_store:
        try:
            await asyncio.to_thread(services.store.query, "SELECT 1", None, "health")
            checks["store"] = "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks["store"] = f"failed: {exc}"
            ready = False
    writer = services.writer
    checks["writer"] = {"pending": writer.pending, "next_seq": writer.next_seq}
    # Ready means this process can take events and store them: a writer whose last commit failed,
    # or a collector whose broker does not acknowledge, answers 503 to ingest, so it is not ready.
    failure = getattr(writer, "failure", None) or getattr(writer, "broker_error", None)
    if failure:
        checks["writer"]["failure"] = failure
        ready = False
    if services.kafka_writer is not None:
        k = services.kafka_writer
        checks["kafka_writer"] = {
            "stored": k.stats.events,
            "duplicates": k.stats.duplicates,
            "committed": sum(k.lag.committed.values()),
            "lag_events": k.lag.total,
        }
        if k.failure:
            checks["kafka_writer"]["failure"] = k.failure
            ready = False
    if services.feed is not None:
        checks["correlator"] = {"applied": services.correlator.stats.events, "lag_events": services.feed.lag_events}
    elif services.correlator is not None:
        lag = services.bus.high_water - services.correlator.applied_seq
        checks["correlator"] = {"applied_seq": services.correlator.applied_seq, "lag_events": lag}
        process = getattr(services.correlator, "process_state", None)
        if process is not None:  # its own process: ingest goes on while it restarts, so still ready
            checks["correlator"]["process"] = process()
    return JSON({"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503)


@router.get(
    "/metrics", summary="Prometheus exposition", response_class=PlainTextResponse, responses={200: METRICS_RESPONSE}
)
def metrics(request: Request) -> PlainTextResponse:
    s = request.app.state.services
    w = s.writer.stats
    lines = [
        "# HELP tower_events_accepted_total Events made durable.",
        "# TYPE tower_events_accepted_total counter",
        f"tower_events_accepted_total {w.events}",
        "# HELP tower_events_duplicate_total Events recognised as repeats of a stored (source, id).",
        "# TYPE tower_events_duplicate_total counter",
        f"tower_events_duplicate_total {w.duplicates}",
        "# HELP tower_dead_letters_total Rejected inputs quarantined by this process.",
        "# TYPE tower_dead_letters_total counter",
        f"tower_dead_letters_total {s.quarantine.count}",
        "# HELP tower_writer_batches_total Group commits.",
        "# TYPE tower_writer_batches_total counter",
        f"tower_writer_batches_total {w.batches}",
        "# HELP tower_writer_write_seconds_total Time spent in group commits.",
        "# TYPE tower_writer_write_seconds_total counter",
        f"tower_writer_write_seconds_total {w.write_seconds:.6f}",
        "# HELP tower_writer_pending_events Events waiting for the writer.",
        "# TYPE tower_writer_pending_events gauge",
        f"tower_writer_pending_events {s.writer.pending}",
        "# HELP tower_writer_event_lag_seconds Event time to durable, newest event of the last commit.",
        "# TYPE tower_writer_event_lag_seconds gauge",
        f"tower_writer_event_lag_seconds {w.lag_seconds:.6f}",
        "# HELP tower_telemetry_rows_total Rows stored from /v1/traces and /v1/logs, by table.",
        "# TYPE tower_telemetry_rows_total counter",
        *(f'tower_telemetry_rows_total{{table="{t}"}} {n}' for t, n in sorted(s.telemetry.stats.by_table.items())),
        "# HELP tower_telemetry_batches_total Telemetry group commits.",
        "# TYPE tower_telemetry_batches_total counter",
        f"tower_telemetry_batches_total {s.telemetry.stats.batches}",
        "# HELP tower_telemetry_write_seconds_total Time spent in telemetry group commits.",
        "# TYPE tower_telemetry_write_seconds_total counter",
        f"tower_telemetry_write_seconds_total {s.telemetry.stats.write_seconds:.6f}",
        *(slo_exposition(s.slo, metrics_tenants(request)) if s.slo is not None else []),
    ]
    if s.kafka_writer is not None:
        k = s.kafka_writer
        lines += [
            "# HELP tower_kafka_writer_stored_total Events the Kafka writer stored in ClickHouse.",
            "# TYPE tower_kafka_writer_stored_total counter",
            f"tower_kafka_writer_stored_total {k.stats.events}",
            "# HELP tower_kafka_writer_duplicates_total Repeats of a stored (source, id) the writer dropped.",
            "# TYPE tower_kafka_writer_duplicates_total counter",
            f"tower_kafka_writer_duplicates_total {k.stats.duplicates}",
            "# HELP tower_kafka_writer_reread_total Messages re-read after a crash or rebalance, found stored.",
            "# TYPE tower_kafka_writer_reread_total counter",
            f"tower_kafka_writer_reread_total {k.replayed}",
            "# HELP tower_kafka_writer_assignments_total Times the group (re)assigned this writer its partitions.",
            "# TYPE tower_kafka_writer_assignments_total counter",
            f"tower_kafka_writer_assignments_total {k.assignments}",
            "# HELP tower_kafka_writer_write_seconds_total Time spent writing batches.",
            "# TYPE tower_kafka_writer_write_seconds_total counter",
            f"tower_kafka_writer_write_seconds_total {k.stats.write_seconds:.6f}",
        ]
    lags = [x.lag for x in (s.kafka_writer, s.feed) if x is not None]
    if lags:
        lines += LAG_HELP + [line for lag in lags for line in lag.metrics()]
    if s.correlator is not None:
        c = s.correlator.stats
        correlator_lag = s.feed.lag_events if s.feed is not None else s.bus.high_water - s.correlator.applied_seq
        lines += [
            "# HELP tower_correlator_events_total Events applied by the correlator.",
            "# TYPE tower_correlator_events_total counter",
            f"tower_correlator_events_total {c.events}",
            "# HELP tower_correlator_batches_total Steps the correlator took (each writes what changed).",
            "# TYPE tower_correlator_batches_total counter",
            f"tower_correlator_batches_total {c.batches}",
            "# HELP tower_correlator_lag_events Committed events not yet applied.",
            "# TYPE tower_correlator_lag_events gauge",
            f"tower_correlator_lag_events {correlator_lag}",
            "# HELP tower_correlator_apply_seconds_total Time spent folding events into the graph.",
            "# TYPE tower_correlator_apply_seconds_total counter",
            f"tower_correlator_apply_seconds_total {c.apply_seconds:.6f}",
            "# HELP tower_correlator_write_seconds_total Time spent writing correlation state.",
            "# TYPE tower_correlator_write_seconds_total counter",
            f"tower_correlator_write_seconds_total {c.write_seconds:.6f}",
            "# HELP tower_correlator_insert_seconds_total The part of the write spent in the store's inserts.",
            "# TYPE tower_correlator_insert_seconds_total counter",
            f"tower_correlator_insert_seconds_total {c.insert_seconds:.6f}",
            "# HELP tower_correlator_late_payloads_total Events read back from the log for the membership rows of "
            "events that joined a journey after their own step.",
            "# TYPE tower_correlator_late_payloads_total counter",
            f"tower_correlator_late_payloads_total {c.late_payloads}",
            "# HELP tower_correlator_late_payload_seconds_total The part of the write spent reading them.",
            "# TYPE tower_correlator_late_payload_seconds_total counter",
            f"tower_correlator_late_payload_seconds_total {c.late_payload_seconds:.6f}",
            "# HELP tower_correlator_replayed_events_total Events the correlator read back from the log.",
            "# TYPE tower_correlator_replayed_events_total counter",
            f"tower_correlator_replayed_events_total {c.replayed_from_store}",
            "# HELP tower_correlator_failed_total Events or journey states the correlator failed on (see the log).",
            "# TYPE tower_correlator_failed_total counter",
            f'tower_correlator_failed_total{{what="event"}} {c.failed_events}',
            f'tower_correlator_failed_total{{what="journey"}} {c.failed_journeys}',
            "# HELP tower_correlator_seq_mismatches_total Steps refused because the correlator's seqs differed "
            "from the writer's (Kafka; see the log): nothing is applied until they agree.",
            "# TYPE tower_correlator_seq_mismatches_total counter",
            f"tower_correlator_seq_mismatches_total {c.seq_mismatches}",
            "# HELP tower_correlator_evictions_total Finished journeys that left memory, and ones brought back.",
            "# TYPE tower_correlator_evictions_total counter",
            f'tower_correlator_evictions_total{{what="evicted"}} {c.evicted_journeys}',
            f'tower_correlator_evictions_total{{what="rehydrated"}} {c.rehydrated_journeys}',
            "# HELP tower_correlator_restarts_total Times the correlator process died and was started again.",
            "# TYPE tower_correlator_restarts_total counter",
            f"tower_correlator_restarts_total {getattr(s.correlator, 'restarts', 0)}",
            "# HELP tower_journeys Journeys held by the correlator.",
            "# TYPE tower_journeys gauge",
            f"tower_journeys {s.correlator.journeys_in_memory}",
        ]
    lines += memory_exposition(s)
    lines += speedups_exposition()
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


def memory_exposition(s: Any) -> list[str]:
    """Resident memory of this process and of the correlator's (when it runs in its own), and what the
    embedded ClickHouse engine tracks of the server's (its caches, inserts, merges and queries); the
    rest is Python's objects and native buffers (Arrow's, the allocator's)."""
    pids = {"server": os.getpid()}
    child = getattr(s.correlator, "pid", None)
    if child is not None:
        pids["correlator"] = child
    lines = [
        "# HELP tower_process_resident_bytes Resident memory (RSS) of this server's processes.",
        "# TYPE tower_process_resident_bytes gauge",
    ]
    for name, pid in pids.items():
        rss = _resident_bytes(pid)
        if rss is not None:
            lines.append(f'tower_process_resident_bytes{{process="{name}"}} {rss}')
    if s.owns_store and s.store.embedded:
        try:
            tracked = s.store.query("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'", None, "health")
        except Exception:  # the store's health is /readyz's to report; metrics go on without this one
            tracked = []
        if tracked:
            lines += [
                "# HELP tower_clickhouse_memory_bytes Memory the embedded ClickHouse engine tracks in this process.",
                "# TYPE tower_clickhouse_memory_bytes gauge",
                f"tower_clickhouse_memory_bytes {int(tracked[0][0])}",
            ]
    return lines


def speedups_exposition() -> list[str]:
    """Whether this process runs the compiled speedups (`tower.compiled`): an upgrade that lost them
    (no C compiler where it was installed) shows as a 0 here and a slower correlator."""
    return [
        "# HELP tower_compiled_speedups Whether the correlator's hot modules run compiled (1) or from source (0).",
        "# TYPE tower_compiled_speedups gauge",
        f"tower_compiled_speedups {int(compiled.STATUS.compiled)}",
    ]


def _resident_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # no /proc (macOS), or the child just exited
        return None
    return None
