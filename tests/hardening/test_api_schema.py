"""schemathesis against the server's own `/openapi.json`, on a real `tower serve` subprocess.

Every operation is called with generated parameters and bodies (valid and invalid), as an admin,
on a tenant seeded with real traffic (journeys, a dead letter, spans and logs); responses
must not be 5xx and must match what the schema declares (status code, content type, body schema,
headers). The stateful test chains operations along the schema's links (a journey looked up, then
read; a dead letter listed, then replayed; a silence created, then expired). A second pass calls every
protected operation without a key, with a key that is not valid and with a key of the wrong
scope: 401 or 403, never a 5xx, never data.

Bounded and deterministic: `derandomize=True` and `max_examples` per operation, scaled up with
`TOWER_FUZZ_EXAMPLES` for a long run.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis import checks as sc
from schemathesis.specs.openapi import checks as oc

from collector.app import create_app
from tests.conftest import ServerProcess, post_events, wait_for
from tests.hardening.conftest import OUTCOMES
from tests.hardening.mutations import examples
from tests.support.ocel import FIXTURES
from tower.settings import Settings

KEYS = {"admin": "fuzz-admin-key", "read": "fuzz-read-key", "ingest": "fuzz-ingest-key"}
TENANT = f"fuzz-{uuid.uuid4().hex[:8]}"
ADMIN = {"Authorization": f"Bearer {KEYS['admin']}", "X-Tower-Tenant": TENANT}
OPEN = {"/healthz", "/readyz", "/metrics"}  # answered without a key: probes and Prometheus


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: Any, value: Any) -> bytes:
    """NDJSON bodies (`/v1/events`, `/v1/deliveries`): a list is one JSON value a line, text goes as it is."""
    # the standard library's encoder: the generated values hold integers beyond 64 bits, which orjson refuses
    if isinstance(value, list):
        return b"".join(json.dumps(item).encode() + b"\n" for item in value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode() + b"\n"


CHECKS = [
    sc.not_a_server_error,
    oc.status_code_conformance,
    oc.content_type_conformance,
    oc.response_schema_conformance,
    oc.response_headers_conformance,
]


def seed_events() -> list[dict[str, Any]]:
    """An order through channel, ERP and carrier (the README's example), so reads find journeys."""
    data = [
        (
            "wh-1",
            "shopify/acme-eu",
            "order.received",
            "10:00",
            [{"type": "order", "ids": {"shopify/acme-eu": "#1001"}}],
        ),
        (
            "so-77",
            "erp/netsuite",
            "order.accepted",
            "10:04",
            [{"type": "order", "ids": {"erp": "SO-1001", "shopify/acme-eu": "#1001"}}],
        ),
        (
            "lbl-9",
            "shipping/shipstation",
            "shipment.manifested",
            "16:00",
            [
                {"type": "order", "ids": {"erp": "SO-1001"}},
                {"type": "shipment", "ids": {"tracking:ups": "1Z999AA10123456784"}},
            ],
        ),
    ]
    return [
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": etype,
            "time": f"2026-11-20T{at}:00Z",
            "data": {"objects": objects, "dims": {"channel": "web", "carrier": "ups"}},
        }
        for event_id, source, etype, at, objects in data
    ]


@pytest.fixture(scope="module")
def keyed_server(start_module_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    """A server with API keys of each scope, its tenant seeded with journeys, a dead letter, spans and logs."""
    server = start_module_server(env={"TOWER_API_KEYS": ",".join(f"{key}={scope}" for scope, key in KEYS.items())})
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
        post_events(client, seed_events())
        bad = client.post("/v1/events", content=b'{"specversion":"1.0"}', headers={"Content-Type": "application/json"})
        assert bad.status_code == 400
        spans = (FIXTURES / "otlp/opentelemetry-proto/trace.json").read_bytes()
        assert client.post("/v1/traces", content=spans, headers={"Content-Type": "application/json"}).status_code == 200
        logs = (FIXTURES / "otlp/opentelemetry-proto/logs.json").read_bytes()
        assert client.post("/v1/logs", content=logs, headers={"Content-Type": "application/json"}).status_code == 200
        wait_for(lambda: client.get("/readyz").json()["checks"]["correlator"]["lag_events"] == 0, timeout=60)
    yield server


def operation_labels() -> list[str]:
    """`METHOD /path` of every operation, from the app's schema built in-process (no server needed
    to collect); the tests run against the schema the server serves, which must be the same."""
    spec = create_app(Settings(data_dir=Path(tempfile.gettempdir()) / "tower-openapi")).openapi()
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item]


LABELS = operation_labels()


@pytest.fixture(scope="module")
def served_schema(keyed_server: ServerProcess) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{keyed_server.url}/openapi.json")
    served = [op.ok().label for op in loaded.get_all_operations()]
    assert sorted(served) == sorted(LABELS), "the served /openapi.json differs from the app's own schema"
    return loaded


@pytest.fixture(scope="module")
def admin_schema(keyed_server: ServerProcess) -> schemathesis.BaseSchema:
    """The served schema, every call made with the admin key on the seeded tenant."""
    loaded = schemathesis.openapi.from_url(f"{keyed_server.url}/openapi.json")
    loaded.config.update(headers=ADMIN)
    return loaded


FUZZ = settings(
    max_examples=examples(15),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
MODES = st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.mark.parametrize("label", LABELS)
@FUZZ
@given(data=st.data())
def test_every_operation_as_admin_never_5xx_and_matches_its_schema(
    label: str, served_schema: schemathesis.BaseSchema, data: st.DataObject
) -> None:
    operation = served_schema.find_operation_by_label(label)
    assert operation is not None
    case = data.draw(operation.as_strategy(data.draw(MODES, label="mode")), label="case")
    response = case.call_and_validate(headers=ADMIN, checks=CHECKS, timeout=60)
    OUTCOMES["api admin", f"{response.status_code // 100}xx"] += 1


@pytest.mark.parametrize("label", LABELS)
# Refusals do not depend on the request much: a few cases each, even in a long run.
@settings(max_examples=min(examples(3), 10), deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_protected_operation_refuses_missing_wrong_and_underscoped_keys(
    label: str, served_schema: schemathesis.BaseSchema, data: st.DataObject
) -> None:
    operation = served_schema.find_operation_by_label(label)
    assert operation is not None
    case = data.draw(operation.as_strategy(GenerationMode.POSITIVE), label="case")
    needs = operation.definition.raw.get("x-tower-scope")
    if needs is None:
        assert operation.path in OPEN, f"{label} needs no key: is that meant?"
        assert case.call(timeout=60).status_code < 500
        return
    credentials = {
        "no key": ({}, 401),
        "unknown key": ({"Authorization": "Bearer not-a-key"}, 401),
        "not bearer": ({"Authorization": f"Basic {KEYS['admin']}"}, 401),
        **{f"{scope} key": ({"Authorization": f"Bearer {key}"}, 403) for scope, key in KEYS.items() if scope != needs},
    }
    credentials.pop("admin key", None)
    for name, (headers, expected) in credentials.items():
        response = case.call(headers={**headers, "X-Tower-Tenant": TENANT}, timeout=60)
        OUTCOMES["api refused keys", str(response.status_code)] += 1
        assert response.status_code == expected, (name, label, response.status_code, response.text[:300])


def test_stateful_links_never_5xx_and_match_the_schema(admin_schema: schemathesis.BaseSchema) -> None:
    """Sequences along the schema's links (`tower.openapi.LINKS`: an id one operation returns, another
    takes — a journey looked up then read, a silence created then expired, …) and those schemathesis
    infers; each step checked as in the per-operation test."""
    base = admin_schema.as_state_machine()

    class Workflow(base):  # type: ignore[misc, valid-type]
        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            OUTCOMES["api stateful steps", f"{response.status_code // 100}xx"] += 1
            if response.status_code < 300:
                OUTCOMES["api stateful 2xx by operation", case.operation.label] += 1

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            # The same checks as the per-operation test: a 400 for what a schema cannot say (a silence
            # ending in the past) is a right answer, so "positive data acceptance" is not asked for.
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    Workflow.run(
        settings=settings(
            max_examples=examples(30),
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
