"""Webhook delivery: retried with backoff until the receiver takes it, rendered in each format."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from slo.alerts import Alert, Notification
from slo.notify import Delivery, Notifier, Receiver, parse_receivers, render
from tests.conftest import wait_for

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Flaky:
    """A real HTTP receiver that answers 503 to the first `failures` posts, then 200."""

    def __init__(self, failures: int) -> None:
        self.statuses: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 503 if len(outer.statuses) < failures else 200
                outer.statuses.append(status)
                if status == 200:
                    outer.bodies.append(body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def notification() -> Notification:
    alert = Alert(
        id="abc-1",
        fingerprint="abc",
        labels={"alertname": "SLOBurnRate", "slo": "order-acceptance", "severity": "page", "channel": "edi"},
        annotations={"summary": "Order acceptance is burning its error budget (channel=edi)", "description": "…"},
        state="firing",
        starts_at=T0,
        fired_at=T0,
    )
    return Notification('{alertname="SLOBurnRate"}', {"alertname": "SLOBurnRate"}, "firing", [alert], T0)


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers() -> None:
    hook = Flaky(failures=2)
    results: list[tuple[int, bool, str]] = []
    notifier = Notifier(
        attempts=5, backoff=0.05, on_result=lambda d, attempt, ok, err: results.append((attempt, ok, err))
    )
    notifier.start()
    receiver = Receiver("json", "json", hook.url)
    notifier.submit(Delivery(receiver, "acme", "g", "firing", 1, render(receiver, notification(), "acme")))
    wait_for(lambda: hook.bodies, timeout=10)
    notifier.close()
    hook.server.shutdown()
    assert hook.statuses == [503, 503, 200]
    assert results == [(1, False, "HTTP 503"), (2, False, "HTTP 503"), (3, True, "")]
    body = hook.bodies[0]
    assert body["tenant"] == "acme" and body["status"] == "firing"
    assert body["alerts"][0]["labels"]["channel"] == "edi" and body["alerts"][0]["fired_at"] == "2026-03-02T08:00:00Z"
    assert notifier.sent == 1 and notifier.failed == 0


def test_a_receiver_that_never_answers_is_given_up_after_its_attempts() -> None:
    hook = Flaky(failures=100)
    notifier = Notifier(attempts=3, backoff=0.01)
    notifier.start()
    receiver = Receiver("am", "alertmanager", hook.url)
    notifier.submit(Delivery(receiver, "acme", "g", "firing", 1, render(receiver, notification(), "acme")))
    wait_for(lambda: notifier.failed == 1, timeout=10)
    notifier.close()
    hook.server.shutdown()
    assert hook.statuses == [503, 503, 503]


def test_alertmanager_and_slack_payloads() -> None:
    am = render(Receiver("am", "alertmanager", "http://x"), notification(), "acme", "http://tower:8000")
    assert am["version"] == "4" and am["status"] == "firing" and am["receiver"] == "am"
    assert am["commonLabels"]["slo"] == "order-acceptance"
    assert am["alerts"][0]["startsAt"] == "2026-03-02T08:00:00Z"
    assert am["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"  # still firing
    assert am["alerts"][0]["generatorURL"] == "http://tower:8000/v1/alerts/abc-1"
    slack = render(Receiver("s", "slack", "http://x"), notification(), "acme")
    assert slack["text"].startswith("[FIRING] SLOBurnRate order-acceptance (1 alert")
    assert slack["attachments"][0]["color"] == "danger"


def test_receivers_setting_is_checked_entry_by_entry() -> None:
    assert [r.format for r in parse_receivers("slack=https://hooks.example/x, alertmanager=http://am:9093/hook")] == [
        "slack",
        "alertmanager",
    ]
    with pytest.raises(
        ValueError, match=r"^TOWER_ALERT_WEBHOOKS entry 2 of 2: expected format=http\(s\)://…, the format"
    ):
        parse_receivers("slack=https://hooks.example/x,teams=https://x")
    with pytest.raises(ValueError, match=r"^TOWER_ALERT_WEBHOOKS entry 1 of 1 \(slack\): the URL must start with http"):
        parse_receivers("slack=hooks.example/x")
