"""When the writer falls behind, new requests get 429 with Retry-After, never an unbounded queue."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson

from tests.conftest import ServerProcess, correlated, wait_for


def orders(prefix: str, n: int) -> bytes:
    """`n` new orders as an NDJSON body, their ids and numbers starting with `prefix`."""
    return b"\n".join(
        orjson.dumps(
            {
                "specversion": "1.0",
                "id": f"{prefix}-{i}",
                "source": "s",
                "type": "order.received",
                "time": "2026-11-20T10:00:00Z",
                "data": {"objects": [{"type": "order", "ids": {"s": f"{prefix}-{i}"}}]},
            }
        )
        for i in range(n)
    )


def test_writer_behind_answers_429_with_retry_after(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(env={"TOWER_PENDING_MAX_EVENTS": "50", "TOWER_COMMIT_MAX_DELAY_MS": "400"})

    def post(k: int) -> httpx.Response:
        body = orders(f"bp-{k}", 40)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert 202 in statuses and 429 in statuses, statuses
    for r in responses:
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"]["code"] == "backpressure"
    server.stop()


def test_correlator_behind_answers_429_naming_it(start_server: Callable[..., ServerProcess]) -> None:
    """Past TOWER_CORRELATOR_MAX_LAG_EVENTS committed but not yet correlated, new requests are
    refused with the reason; once the correlator catches up, they are taken again."""
    server = start_server(env={"TOWER_CORRELATOR_MAX_LAG_EVENTS": "500", "TOWER_SLO_ENGINE": "false"})

    def body(k: int) -> bytes:
        return orders(f"lag-{k}", 2_000)

    ndjson = {"Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        refused = None
        for k in range(20):  # 2,000 committed at once put the correlator at least 2,000 behind
            r = client.post("/v1/events", content=body(k), headers=ndjson)
            if r.status_code == 429:
                refused = r
                break
            assert r.status_code == 202, r.text
        assert refused is not None, "the correlator never fell 500 events behind"
        assert int(refused.headers["Retry-After"]) >= 1
        error = refused.json()["error"]
        assert error["code"] == "backpressure" and "the correlator is" in error["message"], error
        wait_for(lambda: correlated(client), timeout=120)
        again = client.post("/v1/events", content=body(99), headers=ndjson)
        assert again.status_code == 202, again.text
