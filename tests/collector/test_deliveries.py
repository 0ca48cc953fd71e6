"""`POST /v1/deliveries`: many native deliveries in one request, each exactly as its own request would be."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from simulator.engine import Message
from simulator.run import Plan, secrets_env
from simulator.send import ADAPTER_ROUTE, delivery
from tests.conftest import ServerProcess, correlated, wait_for


@pytest.fixture(scope="module")
def signed_server(start_module_server: Any) -> ServerProcess:
    """A tower that checks the simulated business's webhook signatures, on the simulation's clock
    (EasyPost signs the time of sending: a delivery far from the tower's now is refused)."""
    server: ServerProcess = start_module_server(env={**secrets_env(), "TOWER_CLOCK": "2026-09-01T06:00:00Z"})
    return server


def client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": f"t-{uuid.uuid4().hex[:12]}"}, timeout=60)


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    """Half a simulated day of a small distributor's adapter traffic (webhooks, EDI, CSV, tracking)."""
    plan = Plan(datetime(2026, 9, 1, 6, tzinfo=UTC), 0.5, 400, 11, [])
    return [m for step in plan.simulation().steps() for m in step.messages if m.route.startswith(ADAPTER_ROUTE)]


def post_batch(api: httpx.Client, lines: list[dict[str, Any]]) -> httpx.Response:
    body = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    return api.post("/v1/deliveries", content=body, headers={"Content-Type": "application/x-ndjson"})


def test_a_batch_stores_what_the_same_deliveries_sent_one_by_one_store(
    signed_server: ServerProcess, messages: list[Message]
) -> None:
    kinds = Counter(m.kind.split()[0] for m in messages)
    assert {"shopify", "x12", "easypost", "csv", "mirakl"} <= set(kinds), kinds
    with client(signed_server) as one_by_one, client(signed_server) as batched:
        singles: list[dict[str, Any]] = []
        for m in messages:
            response = one_by_one.post(m.route, content=m.body, headers=m.headers)
            assert response.status_code == 202, (m.kind, response.text)
            singles.append(response.json())
        results: list[dict[str, Any]] = []
        for start in range(0, len(messages), 200):
            response = post_batch(batched, [delivery(m) for m in messages[start : start + 200]])
            assert response.status_code == 202, response.text
            answer = response.json()
            assert answer["refused"] == 0 and answer["retry"] == []
            results.extend(answer["results"])

        assert [r["index"] for r in results[:200]] == list(range(min(200, len(messages))))
        for m, single, result in zip(messages, singles, results, strict=True):
            assert result["status"] == 202, (m.kind, result)
            assert (result["events"], result["accepted"], result["duplicates"]) == (
                single["events"],
                single["accepted"],
                single["duplicates"],
            ), m.kind
            assert acknowledgement(result) == acknowledgement(single)  # the 997s
        assert any("reply" in r for r in results)

        wait_for(lambda: correlated(one_by_one) and correlated(batched))
        summary = [api.get("/v1/journeys/summary", params={"by": "stage"}).json() for api in (one_by_one, batched)]
        assert summary[0] == summary[1]
        assert summary[0]["total"] > 50


def acknowledgement(answer: dict[str, Any]) -> list[str]:
    """A 997 reply's segments but its envelope (whose ISA/GS carry the time it was made)."""
    body = answer.get("reply", {}).get("body", "")
    return [s for s in body.split("~") if s and not s.startswith(("ISA", "GS", "GE", "IEA"))]


def test_each_delivery_is_refused_or_taken_on_its_own(signed_server: ServerProcess, messages: list[Message]) -> None:
    shopify = next(m for m in messages if m.kind == "shopify orders/create")
    tampered = delivery(shopify) | {"headers": {**shopify.headers, "X-Shopify-Hmac-Sha256": "AAAA"}}
    lines = [
        tampered,
        {"adapter": "sap-idoc", "headers": {"Content-Type": "application/xml"}, "body": "<IDOC/>"},
        {"adapter": "x12", "headers": {"Content-Type": "application/edi-x12"}, "body": "ISA*00*garbage~"},
        delivery(shopify),
    ]
    with client(signed_server) as api:
        answer = post_batch(api, lines).json()
        assert [r["status"] for r in answer["results"]] == [401, 404, 400, 202]
        assert answer["refused"] == 3 and answer["accepted"] == 1
        assert answer["results"][1]["error"]["code"] == "unknown_adapter"
        assert answer["results"][2]["error"]["details"][0]["field"]  # names where the X12 broke
        letters = api.get("/v1/dead-letters").json()["items"]
        endpoints = Counter(letter["endpoint"] for letter in letters)
        # refused payloads are dead-lettered as their own route would have done (and replay through it)
        assert endpoints == {"/v1/adapters/shopify": 1, "/v1/adapters/x12": 1}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b'{"adapter": "x12", "body": "x"}\n', "application/json", 415, "application/x-ndjson"),
        (b"", "application/x-ndjson", 400, "no deliveries"),
        (b'{"adapter": "x12", "body": "x"}\n{not json\n', "application/x-ndjson", 400, "line 2"),
        (b"[1, 2]\n", "application/x-ndjson", 400, "not a JSON object"),
        (b'{"body": "x"}\n', "application/x-ndjson", 400, "names its adapter"),
        (b'{"adapter": "x12"}\n', "application/x-ndjson", 400, "has a body"),
        (b'{"adapter": "x12", "body_base64": "%%%"}\n', "application/x-ndjson", 400, "not base64"),
        (b'{"adapter": "x12", "headers": {"a": 1}, "body": "x"}\n', "application/x-ndjson", 400, "headers"),
    ],
)
def test_a_batch_that_cannot_be_read_is_refused_whole_with_the_reason(
    api: httpx.Client, body: bytes, content_type: str, status: int, says: str
) -> None:
    response = api.post("/v1/deliveries", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert says in response.text
