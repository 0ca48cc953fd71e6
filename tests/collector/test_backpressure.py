"""When the writer falls behind, new requests get 429 with Retry-After, never an unbounded queue."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson

from tests.conftest import ServerProcess


def test_writer_behind_answers_429_with_retry_after(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(env={"TOWER_PENDING_MAX_EVENTS": "50", "TOWER_COMMIT_MAX_DELAY_MS": "400"})

    def post(k: int) -> httpx.Response:
        body = b"\n".join(
            orjson.dumps(
                {
                    "specversion": "1.0",
                    "id": f"bp-{k}-{i}",
                    "source": "s",
                    "type": "order.received",
                    "time": "2026-11-20T10:00:00Z",
                    "data": {"objects": [{"type": "order", "ids": {"s": f"{k}-{i}"}}]},
                }
            )
            for i in range(40)
        )
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
