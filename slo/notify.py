"""Webhook notifications: generic JSON, Slack-compatible and Alertmanager-webhook-compatible.

Evaluation never waits for a receiver: `Notifier.submit` puts a rendered message on a bounded
queue and returns; one worker thread posts it, retrying failures (connection errors, 429 and 5xx)
with exponential backoff. Every attempt's outcome goes to `on_result` (the engine records it in
the notification log).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from slo.alerts import Alert, Notification
from tower.api import rfc3339
from tower.settings import parse_alert_webhooks

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    format: str  # json | slack | alertmanager
    url: str


def parse_receivers(spec: str | None) -> list[Receiver]:
    """`format=url,…` (TOWER_ALERT_WEBHOOKS); ValueError names the bad entry by its place."""
    return [Receiver(f"{fmt}-{n}", fmt, url) for n, (fmt, url) in enumerate(parse_alert_webhooks(spec))]


def alert_dict(alert: Alert, external_url: str = "") -> dict[str, Any]:
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "status": alert.state,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at) or "0001-01-01T00:00:00Z",
        "generatorURL": f"{external_url}/v1/alerts/{alert.id}" if external_url else "",
    }


def render(receiver: Receiver, n: Notification, tenant: str, external_url: str = "") -> dict[str, Any]:
    common_labels = _common([a.labels for a in n.alerts])
    if receiver.format == "alertmanager":
        # https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
        return {
            "version": "4",
            "groupKey": n.group_key,
            "truncatedAlerts": 0,
            "status": n.status,
            "receiver": receiver.name,
            "groupLabels": n.group_labels,
            "commonLabels": common_labels,
            "commonAnnotations": _common([a.annotations for a in n.alerts]),
            "externalURL": external_url,
            "alerts": [alert_dict(a, external_url) for a in n.alerts],
        }
    if receiver.format == "slack":
        # Slack incoming-webhook message: text plus one attachment per alert
        title = f"[{n.status.upper()}] {common_labels.get('alertname', 'alert')} {common_labels.get('slo', '')}".strip()
        return {
            "text": f"{title} ({len(n.alerts)} alert{'s' if len(n.alerts) != 1 else ''}, tenant {tenant or '-'})",
            "attachments": [
                {
                    "color": "good" if a.state == "resolved" else ("danger" if a.severity == "page" else "warning"),
                    "title": a.annotations.get("summary", a.labels.get("alertname", "")),
                    "text": a.annotations.get("description", ""),
                    "fields": [{"title": k, "value": v, "short": True} for k, v in sorted(a.labels.items())],
                }
                for a in n.alerts
            ],
        }
    return {
        "tenant": tenant,
        "group": n.group_key,
        "group_labels": n.group_labels,
        "status": n.status,
        "at": rfc3339(n.at),
        "alerts": [
            {
                **alert_dict(a, external_url),
                "state": a.state,
                "severity": a.severity,
                "fired_at": rfc3339(a.fired_at),
                "ends_at": rfc3339(a.ends_at),
            }
            for a in n.alerts
        ],
    }


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


@dataclass
class Delivery:
    receiver: Receiver
    tenant: str
    group_key: str
    status: str
    alerts: int
    body: dict[str, Any]


Result = Callable[[Delivery, int, bool, str], None]  # delivery, attempt, ok, error


class Notifier:
    """Posts deliveries from a queue on one worker thread, with retries and backoff."""

    def __init__(
        self,
        attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 5.0,
        max_queue: int = 10_000,
        on_result: Result | None = None,
    ) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.queue: queue.Queue[Delivery | None] = queue.Queue(max_queue)
        self.on_result = on_result
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="slo-notify", daemon=True)
            self._thread.start()

    def submit(self, delivery: Delivery) -> None:
        try:
            self.queue.put_nowait(delivery)
        except queue.Full:
            self.dropped += 1
            log.error("notification queue full: dropped %s for %s", delivery.status, delivery.receiver.url)

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self.queue.put(None, timeout=timeout)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                delivery = self.queue.get()
                if delivery is None:
                    return
                self._deliver(client, delivery)

    def _deliver(self, client: httpx.Client, d: Delivery) -> None:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            error = ""
            try:
                response = client.post(d.receiver.url, json=d.body)
                if response.status_code < 300:
                    self.sent += 1
                    self._report(d, attempt, True, "")
                    return
                error = f"HTTP {response.status_code}"
                retryable = response.status_code == 429 or response.status_code >= 500
            except httpx.HTTPError as exc:
                error, retryable = f"{type(exc).__name__}: {exc}", True
            self._report(d, attempt, False, error)
            if not retryable or attempt == self.attempts:
                break
            time.sleep(delay)
            delay *= 2
        self.failed += 1
        log.warning("notification to %s failed for good: %s", d.receiver.url, error)

    def _report(self, d: Delivery, attempt: int, ok: bool, error: str) -> None:
        if self.on_result is not None:
            try:
                self.on_result(d, attempt, ok, error)
            except Exception:  # the log must never stop delivery
                log.exception("recording a notification result failed")
