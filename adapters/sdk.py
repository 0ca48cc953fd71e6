"""A small Python SDK for systems that emit canonical events themselves.

    from adapters.sdk import Emitter, configure_tracing, sync_step

    configure_tracing("wms-sync")             # once: spans exported per the OTEL_* variables
    tower = Emitter("http://127.0.0.1:8000", source="wms/dc-east")

    @sync_step("wms.confirm_pick", emitter=tower)
    def confirm(pick):
        ...                                   # the sync step's own work
        tower.emit(event(...))                # carries this step's traceparent

`sync_step` runs the function inside an OpenTelemetry span (the global tracer provider, so the
host application's exporters apply); every event emitted while the span is current is stamped
with the span's W3C `traceparent`, which is how Control Tower links milestones to the technical
spans beneath them; the request that carries them sends the same context as its `traceparent`
header, so Control Tower's own ingest span (when it traces itself) continues the step's trace.
`configure_tracing` (from `tower.telemetry`) installs a provider exporting over OTLP per the
standard OTEL_* variables, batched and off the host's path. Emitting is batched; `flush` (or
leaving `with Emitter(...)`) sends what is buffered and raises `EmitError` naming each rejected
event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import httpx
import orjson
from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode

from tower.telemetry import configure_tracing

__all__ = ["EmitError", "Emitter", "configure_tracing", "current_traceparent", "sync_step"]

P = ParamSpec("P")
R = TypeVar("R")


class EmitError(Exception):
    """The server refused events: `details` are its per-event reasons (index, id, field, reason)."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.details = details


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, if one is recording."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


class Emitter:
    """Buffers canonical events and posts them as NDJSON to `POST /v1/events`."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        tenant: str | None = None,
        source: str | None = None,
        batch_size: int = 500,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Content-Type": "application/x-ndjson"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if tenant:
            headers["X-Tower-Tenant"] = tenant
        self.source = source
        self.batch_size = batch_size
        self._client = httpx.Client(base_url=url, headers=headers, timeout=timeout)
        self._buffer: list[bytes] = []
        self.accepted = 0
        self.duplicates = 0

    def emit(self, *events: dict[str, Any]) -> None:
        """Queue events; each gets the current span's traceparent and the default source if it has none.

        An event that is not a dict or cannot be written as JSON (an integer beyond 64 bits, a value
        of no JSON type) raises `EmitError` naming it; the events before it in the call are queued."""
        traceparent = current_traceparent()
        for index, event in enumerate(events):
            if not isinstance(event, dict):
                reason = f"an event must be a dict (a JSON object), got {type(event).__name__}"
                raise EmitError(
                    f"event {index} of the call: {reason}",
                    [{"index": index, "id": None, "field": "", "reason": reason}],
                )
            stamped = dict(event)
            if traceparent and not stamped.get("traceparent"):
                stamped["traceparent"] = traceparent
            if self.source and not stamped.get("source"):
                stamped["source"] = self.source
            try:
                self._buffer.append(orjson.dumps(stamped))
            except TypeError as exc:
                event_id = stamped.get("id") if isinstance(stamped.get("id"), str) else None
                reason = f"cannot be sent as JSON: {exc}"
                raise EmitError(
                    f"event {index} of the call {reason}",
                    [{"index": index, "id": event_id, "field": "", "reason": reason}],
                ) from None
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Send what is buffered; raise `EmitError` if the server rejected any event.

        Events the server did not take (it could not be reached, it answered 429 or 5xx) stay
        buffered for the next `flush`; events it refused as invalid are not kept (they are in its
        dead letters, and `EmitError.details` names each one)."""
        if not self._buffer:
            return
        body = b"\n".join(self._buffer)
        headers: dict[str, str] = {}
        propagate.inject(headers)
        try:
            response = self._client.post("/v1/events", content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise EmitError(f"could not reach {self._client.base_url}: {exc}; the events stay buffered", []) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code == 429 or response.status_code >= 500 or not isinstance(payload, dict):
            raise EmitError(
                f"{response.status_code} {_message(payload, response.text)}; the events stay buffered",
                _details(payload),
            )
        self._buffer = []
        if response.status_code == 202:
            self.accepted += payload["accepted"]
            self.duplicates += payload["duplicates"]
            if payload["rejected"]:
                raise EmitError(f"{len(payload['rejected'])} event(s) rejected", payload["rejected"])
            return
        raise EmitError(f"{response.status_code} {_message(payload, response.text)}", _details(payload))

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._client.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _message(payload: Any, text: str) -> str:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return text[:200]


def _details(payload: Any) -> list[dict[str, Any]]:
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return details if isinstance(details, list) else []


def sync_step(
    name: str, *, emitter: Emitter | None = None, attributes: dict[str, Any] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function as one sync step: inside a span named `name`; the events it emits
    carry the span's traceparent. With `emitter`, what it buffered is flushed when the step ends."""
    tracer = trace.get_tracer("control-tower.sdk")

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with tracer.start_as_current_span(name, attributes=attributes) as span:
                try:
                    result = function(*args, **kwargs)
                except Exception as exc:
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    raise
                if emitter is not None:
                    emitter.flush()
                return result

        return run

    return decorate
