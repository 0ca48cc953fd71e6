"""Fuzzing the SDK's `Emitter`: whatever a system hands it, and whatever answers on the other side,
`emit` and `flush` succeed or raise `EmitError` (the SDK's documented error), and events the
server did not take stay buffered."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sdk import EmitError, Emitter
from tests.conftest import ServerProcess, free_port
from tests.hardening.conftest import OUTCOMES
from tests.hardening.mutations import examples, json_values, mutate_json
from tests.hardening.test_event_parser_fuzz import SEEDS


@settings(
    max_examples=examples(40),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_emitter_on_arbitrary_and_mutated_events(server: ServerProcess, tenant: str, data: st.DataObject) -> None:
    events: list[Any] = []
    for _ in range(data.draw(st.integers(1, 5), label="count")):
        kind = data.draw(st.sampled_from(["intact", "mutated", "arbitrary"]), label="kind")
        if kind == "intact":
            events.append(data.draw(st.sampled_from(SEEDS)))
        elif kind == "mutated":
            events.append(mutate_json(data.draw, data.draw(st.sampled_from(SEEDS))))
        else:
            value = data.draw(json_values, label="value")
            events.append(value if isinstance(value, dict) else {"data": value})
    with Emitter(server.url, tenant=tenant, source="fuzz/sdk", batch_size=3, timeout=60) as tower:
        try:
            tower.emit(*events)
            tower.flush()
        except EmitError as exc:
            assert str(exc).strip()
            for detail in exc.details:
                assert detail["reason"].strip()
            OUTCOMES["sdk Emitter", "EmitError"] += 1
            tower._buffer.clear()  # what was refused is reported; do not resend it on close
            return
        assert tower._buffer == []
        OUTCOMES["sdk Emitter", "sent"] += 1


# -- what the fuzzing found, pinned ------------------------------------------------------------


def test_an_integer_beyond_64_bits_is_an_emit_error_not_a_type_error(server: ServerProcess) -> None:
    """Was: orjson's TypeError escaping `emit`."""
    tower = Emitter(server.url, source="fuzz/sdk")
    with pytest.raises(EmitError) as refused:
        tower.emit({"id": "big", "data": {"facts": {"quantity": 2**64}}})
    assert refused.value.details == [
        {"index": 0, "id": "big", "field": "", "reason": "cannot be sent as JSON: Integer exceeds 64-bit range"}
    ]


class _Proxy502(BaseHTTPRequestHandler):
    """A reverse proxy in front of a tower that is down: HTML, not JSON."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy_502() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Proxy502)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_non_json_502_is_an_emit_error_and_the_events_stay_buffered(proxy_502: str) -> None:
    """Was: JSONDecodeError from `response.json()`, and the batch dropped from the buffer."""
    tower = Emitter(proxy_502, source="fuzz/sdk")
    tower.emit({"id": "e-1", "type": "order.received"})
    with pytest.raises(EmitError, match="502 <html>"):
        tower.flush()
    assert len(tower._buffer) == 1


def test_an_unreachable_server_is_an_emit_error_and_the_events_stay_buffered(
    server: ServerProcess, tenant: str
) -> None:
    """Was: httpx.ConnectError escaping, the batch already gone from the buffer; now a later flush
    to a server that answers delivers it."""
    tower = Emitter(f"http://127.0.0.1:{free_port()}", tenant=tenant, source="fuzz/sdk")
    sent = {
        "specversion": "1.0",
        "id": "kept-1",
        "type": "order.received",
        "time": "2026-11-20T10:00:00Z",
        "data": {"objects": [{"type": "order", "ids": {"erp": "SO-1"}}]},
    }
    tower.emit(sent)
    with pytest.raises(EmitError, match="could not reach"):
        tower.flush()
    assert len(tower._buffer) == 1
    tower._client.base_url = server.url  # the server is back (the same Emitter, a reachable address)
    tower.flush()
    assert tower.accepted == 1 and tower._buffer == []


def test_an_event_that_is_not_a_dict_is_an_emit_error(server: ServerProcess) -> None:
    """Was: ValueError from dict(event) on a list read from a file (found with a mutated event
    replaced whole by `[]`)."""
    tower = Emitter(server.url, source="fuzz/sdk")
    with pytest.raises(EmitError) as refused:
        tower.emit({"id": "ok"}, [])
    assert refused.value.details[0]["index"] == 1 and "must be a dict" in refused.value.details[0]["reason"]
    assert len(tower._buffer) == 1
