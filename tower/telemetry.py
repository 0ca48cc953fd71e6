"""Spans out: Control Tower's own, the SDK's and the simulator's, with opentelemetry-sdk.

`configure_tracing(service_name)` reads the standard OpenTelemetry variables and returns the
tracer provider it installed, or None when tracing is off:

- `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`: off.
- `OTEL_TRACES_EXPORTER` unset: `otlp` when `OTEL_EXPORTER_OTLP_ENDPOINT` or
  `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, otherwise off (the SDK would default to
  localhost:4318; a server nobody pointed anywhere should not keep failing to export). `console`
  prints spans.
- `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`: `http/protobuf` (default) or `grpc`; the Python
  exporters have no `http/json`, which falls back to `http/protobuf` with a warning.
- `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` and `_TIMEOUT` (seconds) apply; compression and
  certificates are read by the exporter itself. `OTEL_SERVICE_NAME` and
  `OTEL_RESOURCE_ATTRIBUTES` win over `service_name`.

Telemetry never blocks or breaks the host: spans go through a `BatchSpanProcessor` (bounded queue:
a full queue drops spans, never waits; `OTEL_BSP_*` override the bounds), the export runs on its
own thread with a short timeout (2 s unless `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise), an
exporter that is down only costs dropped spans, and `shutdown_tracing` waits a bounded time.

For simulated traffic: `SeededIdGenerator(seed)` makes trace and span ids a function of the seed,
and spans take explicit times (`tracer.start_span(name, start_time=nanos(t))`,
`span.end(end_time=nanos(t))`), so a seeded run emits the same spans byte for byte. A producer
faster than the export (simulated time) calls `provider.force_flush()` now and then, or raises
the queue: a full queue drops spans rather than slow the host.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

log = logging.getLogger(__name__)

EXPORT_TIMEOUT_SECONDS = 2.0
MAX_QUEUE_SIZE = 2048
MAX_EXPORT_BATCH = 512
SCHEDULE_DELAY_MS = 1000
SHUTDOWN_TIMEOUT_SECONDS = 3.0
TRUE = ("true", "1", "yes", "on")


class SeededIdGenerator(IdGenerator):
    """Trace and span ids drawn from `random.Random(seed)`: the same seed, the same ids in the same order."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def generate_span_id(self) -> int:
        with self._lock:
            value = 0
            while value == 0:
                value = self._random.getrandbits(64)
            return value

    def generate_trace_id(self) -> int:
        with self._lock:
            value = 0
            while value == 0:
                value = self._random.getrandbits(128)
            return value


def nanos(when: datetime) -> int:
    """A datetime as the nanoseconds since the epoch that span start and end times take (naive = UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _exporter_names(env: Mapping[str, str]) -> list[str]:
    configured = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if configured:
        return [name.strip() for name in configured.split(",") if name.strip() and name.strip() != "none"]
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ["otlp"]
    return []


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    """The OTLP exporter, its endpoint, headers and timeout read from `env` (the standard variables)."""
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    )
    protocol = protocol.strip().lower()
    seconds = env.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or env.get("OTEL_EXPORTER_OTLP_TIMEOUT")
    timeout = float(seconds) if seconds else EXPORT_TIMEOUT_SECONDS
    headers = _headers(env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS") or "")
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip() or None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint or base or None, headers=headers or None, timeout=timeout)
    if protocol != "http/protobuf":
        log.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL %r is not supported by the Python exporter; using http/protobuf", protocol
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    if endpoint is None and base:
        endpoint = base.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint, headers=headers or None, timeout=timeout)


def _headers(spec: str) -> dict[str, str]:
    """`key=value,key2=value2` (values URL-encoded), as OTEL_EXPORTER_OTLP_HEADERS is written."""
    headers = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[unquote(key.strip())] = unquote(value.strip())
    return headers


def _number(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(float(env[name]))
    except (KeyError, ValueError):
        return default


def configure_tracing(
    service_name: str,
    *,
    exporter: SpanExporter | None = None,
    id_generator: IdGenerator | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    set_global: bool = True,
    environ: Mapping[str, str] | None = None,
) -> TracerProvider | None:
    """A tracer provider exporting per the OTEL_* variables (or to `exporter`), or None when tracing is off.

    With `set_global` (the default) it becomes the global provider, so `trace.get_tracer` and the
    SDK's `sync_step` use it. `resource_attributes` win over the detected ones (a simulator fixes
    `service.instance.id`, which is otherwise random per process). Never raises: a misconfigured
    exporter is logged and tracing is off."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in TRUE:
        return None
    exporters: list[SpanExporter] = []
    if exporter is not None:
        exporters.append(exporter)
    else:
        for name in _exporter_names(env):
            try:
                if name == "otlp":
                    exporters.append(_otlp_exporter(env))
                elif name == "console":
                    exporters.append(ConsoleSpanExporter())
                else:
                    log.warning("OTEL_TRACES_EXPORTER %r is not supported (otlp, console, none); ignored", name)
            except Exception:  # tracing must not stop the host from starting
                log.warning("cannot create the %s span exporter; tracing is off", name, exc_info=True)
                return None
    if not exporters:
        return None
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    attributes: dict[str, Any] = {} if named else {"service.name": service_name}
    resource = Resource.create(attributes | dict(resource_attributes or {}))
    provider = TracerProvider(resource=resource, id_generator=id_generator, shutdown_on_exit=False)
    for chosen in exporters:
        provider.add_span_processor(
            BatchSpanProcessor(
                chosen,
                max_queue_size=_number(env, "OTEL_BSP_MAX_QUEUE_SIZE", MAX_QUEUE_SIZE),
                schedule_delay_millis=_number(env, "OTEL_BSP_SCHEDULE_DELAY", SCHEDULE_DELAY_MS),
                max_export_batch_size=min(
                    _number(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", MAX_EXPORT_BATCH),
                    _number(env, "OTEL_BSP_MAX_QUEUE_SIZE", MAX_QUEUE_SIZE),
                ),
            )
        )
    if set_global:
        trace.set_tracer_provider(provider)
    atexit.register(shutdown_tracing, provider)
    return provider


def shutdown_tracing(provider: TracerProvider | None, timeout: float = SHUTDOWN_TIMEOUT_SECONDS) -> bool:
    """Flush and stop `provider`, waiting at most `timeout` seconds; True when it finished in time."""
    if provider is None:
        return True
    done = threading.Event()

    def stop() -> None:
        try:
            provider.shutdown()
        except Exception:  # a failing exporter at shutdown must not fail the host's shutdown
            log.debug("tracer provider shutdown failed", exc_info=True)
        finally:
            done.set()

    threading.Thread(target=stop, name="otel-shutdown", daemon=True).start()
    finished = done.wait(timeout)
    if not finished:
        log.warning("span export did not finish within %.1fs at shutdown; the rest is dropped", timeout)
    return finished


UNTRACED_PATHS = frozenset({"/v1/traces", "/v1/logs", "/healthz", "/readyz", "/metrics"})


def untraced(scope: Mapping[str, Any]) -> bool:
    """Requests FastAPI's own request spans skip: the OTLP intake (were Control Tower's exporter
    pointed at itself, every export would make a span to export) and health polling."""
    return scope.get("path") in UNTRACED_PATHS


@contextmanager
def request_span(
    tracer: trace.Tracer, name: str, headers: Mapping[str, str], attributes: dict[str, Any] | None = None
) -> Iterator[Span]:
    """The span of one request's work, with the counts the handler sets on it.

    Inside FastAPI's own request span (FastAPI traces requests when a tracer provider is set) it
    is a child of that span; without one it is the SERVER span itself, continuing the caller's
    W3C trace context from `headers`. An exception with a `status` below 500 (a refused request)
    is the caller's error: recorded as the response status, the span's status stays unset."""
    current = trace.get_current_span()
    if current.get_span_context().is_valid:
        context, kind = None, SpanKind.INTERNAL
    else:
        context, kind = propagate.extract(headers), SpanKind.SERVER
    with tracer.start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            status = getattr(exc, "status", 500)
            status = status if isinstance(status, int) else 500
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
