"""Delivering a simulation to a tower over HTTP, step by step, while driving the tower's clock.

Each step's messages go out concurrently (as the real systems would send them), each retried on
`429`/`503` after the `Retry-After` the tower asks for; then the tower's manual clock is moved to
the step's end, so everything it evaluates sees simulated time. What the tower answered is
counted: accepted, duplicates, rejected — the numbers the ground truth is checked against.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson

from simulator.engine import ROUTES, Message, Step

DELIVERIES = "/v1/deliveries"
ADAPTER_ROUTE = "/v1/adapters/"
BATCH_DELIVERIES = 500  # adapter deliveries in one request when batching
# How far ahead of the tower's clock the sender may run, in simulated time (and in steps, `window`):
# a signed timestamp (EasyPost's) must stay within the tower's tolerance of its clock.
MAX_AHEAD = timedelta(hours=2)
SPAN_STEPS = 48  # steps whose spans go out in one request (four simulated hours: each costs the tower an insert)


def delivery(message: Message) -> dict[str, Any]:
    """A message as one line of `POST /v1/deliveries`: its adapter, headers, query parameters and body."""
    path, _, query = message.route.removeprefix(ADAPTER_ROUTE).partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&") if "=" in pair)
    line: dict[str, Any] = {"adapter": path, "headers": message.headers, "params": params}
    try:
        line["body"] = message.body.decode()
    except UnicodeDecodeError:
        line["body_base64"] = base64.b64encode(message.body).decode()
    return line


class DeliveryError(RuntimeError):
    pass


@dataclass(slots=True)
class Report:
    steps: int = 0
    messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected_events: int = 0
    refused_messages: int = 0  # whole payloads an adapter refused (4xx): the malformed ones, we expect
    unexpected: list[dict[str, Any]] = field(default_factory=list)  # refusals of messages that were not broken
    retries: int = 0
    spans: int = 0
    seconds: float = 0.0
    by_kind: Counter[str] = field(default_factory=Counter)
    duplicates_by_kind: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "messages": self.messages,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected_events": self.rejected_events,
            "refused_messages": self.refused_messages,
            "unexpected": self.unexpected[:20],
            "retries": self.retries,
            "spans": self.spans,
            "seconds": round(self.seconds, 2),
            "events_per_second": round(self.accepted / self.seconds) if self.seconds else None,
            "by_kind": dict(sorted(self.by_kind.items())),
            "duplicates_by_kind": dict(sorted(self.duplicates_by_kind.items())),
        }


class Sender:
    """Posts a simulation's steps to one tower from a pool of threads, each with its own keep-alive
    connection (the synchronous client costs a fraction of the asynchronous one per request)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        concurrency: int = 32,
        drive_clock: bool = True,
        send_spans: bool = True,
        batch: bool = False,
        timeout: float = 60.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
        self.client = httpx.Client(base_url=url, headers=headers, timeout=timeout, limits=limits)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="simulator-send")
        self.drive_clock = drive_clock
        self.send_spans = send_spans
        self.batch = batch  # a step's adapter deliveries in one request (`POST /v1/deliveries`)
        self.report = Report()
        self._lock = threading.Lock()
        self._span_bodies: list[bytes] = []
        self._span_count = 0

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()

    def prepare(self, start: datetime) -> None:
        """Check the tower is there; move its clock to the simulation's start; learn whether it takes spans."""
        try:
            ready = self.client.get("/readyz")
        except httpx.HTTPError as exc:
            raise DeliveryError(f"no tower answers at {self.client.base_url}: {exc}") from None
        if ready.status_code != 200:
            raise DeliveryError(f"the tower at {self.client.base_url} is not ready: {ready.text[:300]}")
        if self.drive_clock:
            clock = self.client.get("/v1/admin/clock").json()
            if clock.get("mode") != "manual":
                raise DeliveryError(
                    "the tower's clock follows the system, so it cannot replay simulated time: start it with "
                    "TOWER_CLOCK=<the simulation's start>, or simulate with --no-clock"
                )
            self._clock(start)
        if self.send_spans:
            probe = self.client.post("/v1/traces", content=b"{}", headers={"Content-Type": "application/json"})
            self.send_spans = probe.status_code < 400

    def _clock(self, at: datetime) -> None:
        response = self.client.post("/v1/admin/clock", json={"now": at.strftime("%Y-%m-%dT%H:%M:%SZ")})
        if response.status_code != 200:
            raise DeliveryError(f"moving the tower's clock to {at.isoformat()} failed: {response.text[:300]}")

    def _send(self, route: str, body: bytes, headers: dict[str, str], what: str) -> httpx.Response:
        """POST until the tower takes it: again after a transport error (a kept-alive connection
        the server closed, say) and after `429`/`503`, waiting as long as it asks."""
        for attempt in range(30):
            try:
                response = self.client.post(route, content=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == 29:
                    raise DeliveryError(f"{what} to {route}: {exc}") from None
                time.sleep(min(0.2 * 2**attempt, 5))
            else:
                if response.status_code not in (429, 503):
                    return response
                time.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))
            with self._lock:
                self.report.retries += 1
        raise DeliveryError(f"{what}: the tower kept refusing it")

    def post(self, message: Message) -> None:
        response = self._send(message.route, message.body, message.headers, message.kind)
        with self._lock:
            self._count(message, response)

    def _count(self, message: Message, response: httpx.Response) -> None:
        status = response.status_code
        self._tally(message, status, response.json() if status == 202 else None, response.text)

    def _tally(self, message: Message, status: int, payload: dict[str, Any] | None, text: str) -> None:
        report = self.report
        report.messages += 1
        report.by_kind[message.kind] += 1
        if status == 202 and payload is not None:
            report.accepted += payload.get("accepted", 0)
            report.duplicates += payload.get("duplicates", 0)
            if payload.get("duplicates"):
                report.duplicates_by_kind[message.kind + (" (resent)" if message.duplicate else "")] += payload[
                    "duplicates"
                ]
            rejected = payload.get("rejected") or []
            report.rejected_events += len(rejected)
            if rejected and not message.malformed:
                report.unexpected.append({"kind": message.kind, "status": 202, "rejected": rejected[:3]})
        elif 400 <= status < 500:
            report.refused_messages += 1
            if not message.malformed:
                report.unexpected.append({"kind": message.kind, "status": status, "body": text[:500]})
        else:
            raise DeliveryError(f"{message.kind} to {message.route}: {status} {text[:300]}")

    def post_batch(self, messages: list[Message]) -> None:
        """Deliveries to adapters in one `POST /v1/deliveries`; the ones the tower had no room for
        (status 429 in their result) go again after the time it asks for."""
        pending = messages
        for _ in range(30):
            body = b"".join(orjson.dumps(delivery(m)) + b"\n" for m in pending)
            ndjson = {"Content-Type": "application/x-ndjson"}
            response = self._send(DELIVERIES, body, ndjson, f"{len(pending)} deliveries")
            if response.status_code != 202:
                raise DeliveryError(f"{DELIVERIES}: {response.status_code} {response.text[:300]}")
            again: list[Message] = []
            wait = 0.0
            with self._lock:
                for message, result in zip(pending, response.json()["results"], strict=True):
                    if "retry_after" in result:
                        again.append(message)
                        wait = max(wait, float(result["retry_after"]))
                        self.report.retries += 1
                    else:
                        text = orjson.dumps(result.get("error", "")).decode()
                        self._tally(message, result["status"], result, text)
            if not again:
                return
            pending = again
            time.sleep(min(wait, 5.0))
        raise DeliveryError(f"{len(pending)} deliveries: the tower kept refusing them")

    def spans(self, body: bytes, count: int) -> None:
        if not (self.send_spans and body):
            return
        headers = {"Content-Type": "application/x-protobuf"}
        response = self.client.post(ROUTES["traces"], content=body, headers=headers)
        if response.status_code >= 400:
            self.send_spans = False  # telemetry never stops the traffic it describes
        else:
            with self._lock:
                self.report.spans += count

    def _gather_spans(self, step: Step | None) -> Future[None] | None:
        """Spans go out every few steps in one request: serialized OTLP requests concatenate into
        one (protobuf merges repeated fields), and each request costs the tower an insert."""
        if step is not None and step.spans:
            self._span_bodies.append(step.spans)
            self._span_count += step.span_count
        if self._span_bodies and (step is None or len(self._span_bodies) >= SPAN_STEPS):
            body, count = b"".join(self._span_bodies), self._span_count
            self._span_bodies, self._span_count = [], 0
            return self.pool.submit(self.spans, body, count)
        return None

    def submit(self, step: Step) -> list[Future[None]]:
        if self.batch:
            through_adapters = [m for m in step.messages if m.route.startswith(ADAPTER_ROUTE)]
            others = [m for m in step.messages if not m.route.startswith(ADAPTER_ROUTE)]
            futures = [
                self.pool.submit(self.post_batch, through_adapters[i : i + BATCH_DELIVERIES])
                for i in range(0, len(through_adapters), BATCH_DELIVERIES)
            ]
            futures += [self.pool.submit(self.post, m) for m in others]
        else:
            futures = [self.pool.submit(self.post, m) for m in step.messages]
        spans = self._gather_spans(step)
        if spans is not None:
            futures.append(spans)
        return futures

    def flush_spans(self) -> None:
        future = self._gather_spans(None)
        if future is not None:
            future.result()

    def deliver(
        self, steps: Iterable[Step], progress: Callable[[Step, Report], None] | None = None, window: int = 24
    ) -> Report:
        """Send steps with up to `window` of them, and MAX_AHEAD of simulated time, in flight; the
        clock moves to a step's end once that step and every earlier one is acknowledged, so the
        tower never evaluates a time whose traffic it has not been given."""
        began = time.perf_counter()
        in_flight: deque[tuple[Step, list[Future[None]]]] = deque()

        def settle_oldest() -> None:
            step, futures = in_flight.popleft()
            for future in futures:
                future.result()  # a delivery error stops the run here
            if self.drive_clock:
                self._clock(step.end)
            self.report.steps += 1
            self.report.seconds = time.perf_counter() - began
            if progress is not None:
                progress(step, self.report)

        for step in steps:
            in_flight.append((step, self.submit(step)))
            while (
                len(in_flight) >= window
                or (in_flight and step.end - in_flight[0][0].end > MAX_AHEAD)
                or (in_flight and all(f.done() for f in in_flight[0][1]))
            ):
                settle_oldest()
        while in_flight:
            settle_oldest()
        self.flush_spans()
        self.report.seconds = time.perf_counter() - began
        return self.report

    def wait_correlated(self, timeout: float = 600.0) -> None:
        """Until the correlator has applied every event the tower acknowledged."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            checks = self.client.get("/readyz").json().get("checks", {})
            if checks.get("correlator", {}).get("lag_events", 1) == 0:
                return
            time.sleep(0.25)
        raise DeliveryError(f"the correlator has not caught up after {timeout:.0f}s")
