"""API keys and scopes, tenant isolation, and the loopback-only development server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import REPO, ServerProcess, correlated, post_events, wait_for

KEYS = "ing-key=ingest,read-key=read,admin-key=admin,acme-key=ingest+read@acme"


@pytest.fixture(scope="module")
def secured(start_module_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_module_server(env={"TOWER_API_KEYS": KEYS})


def order(eid: str, ident: str, tenant: str | None = None) -> dict[str, object]:
    e: dict[str, object] = {
        "specversion": "1.0",
        "id": eid,
        "source": "shop",
        "type": "order.received",
        "time": "2026-11-20T10:00:00Z",
        "data": {"objects": [{"type": "order", "ids": {"shop": ident}}]},
    }
    if tenant:
        e["tenant"] = tenant
    return e


def client(server: ServerProcess, key: str | None = None, tenant: str | None = None) -> httpx.Client:
    headers = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if tenant:
        headers["X-Tower-Tenant"] = tenant
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("key", "method", "path", "status", "code"),
    [
        (None, "GET", "/v1/lookup?q=x", 401, "unauthenticated"),
        ("wrong", "GET", "/v1/lookup?q=x", 401, "unauthenticated"),
        ("ing-key", "GET", "/v1/lookup?q=x", 403, "forbidden"),
        ("read-key", "POST", "/v1/events", 403, "forbidden"),
        ("read-key", "GET", "/v1/lookup?q=x", 200, None),
        ("admin-key", "GET", "/v1/dead-letters", 200, None),
        ("acme-key", "GET", "/v1/lookup?q=x&tenant=other", 403, "forbidden"),
    ],
)
def test_scopes(secured: ServerProcess, key: str | None, method: str, path: str, status: int, code: str | None) -> None:
    with client(secured, key) as c:
        response = c.request(method, path, content=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_health_needs_no_key(secured: ServerProcess) -> None:
    with client(secured) as c:
        assert c.get("/healthz").status_code == 200


def test_tenant_bound_key_sees_only_its_tenant(secured: ServerProcess) -> None:
    with (
        client(secured, "acme-key") as acme,
        client(secured, "ing-key", "globex") as globex_in,
        client(secured, "read-key", "globex") as globex,
    ):
        post_events(acme, [order("a1", "#shared")])
        post_events(globex_in, [order("g1", "#shared")])
        rejected = acme.post("/v1/events", json=order("a2", "#other", tenant="globex"))
        assert rejected.status_code == 400
        assert rejected.json()["error"]["details"][0]["field"] == "tenant"
        wait_for(lambda: correlated(acme))
        mine = wait_for(lambda: acme.get("/v1/lookup", params={"q": "#shared"}).json()["matches"])
        theirs = wait_for(lambda: globex.get("/v1/lookup", params={"q": "#shared"}).json()["matches"])
        # The same identifier in two tenants is two objects, never matched across tenants.
        assert len(mine) == len(theirs) == 1
        assert mine[0]["object"]["id"] != theirs[0]["object"]["id"]
        assert acme.get(f"/v1/journeys/{theirs[0]['journeys'][0]}").status_code == 404


def test_server_without_keys_refuses_to_bind_beyond_loopback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tower.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0 without API keys" in result.stderr


def test_openapi_documents_every_endpoint_and_the_event_body(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert {
        "/v1/events",
        "/v1/lookup",
        "/v1/journeys",
        "/v1/journeys/{journey_id}",
        "/v1/dead-letters",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(spec["paths"])
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/cloudevents+json", "application/cloudevents-batch+json", "application/x-ndjson"}
    assert body["application/cloudevents+json"]["schema"]["required"] == [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "data",
    ]
